// The session's public types: its options, what each platform provides it (REST client,
// WebSocket, PoW solver, signing), its events and its states.
import type { PublicIdentity } from './bundle.js';
import type { AuthSuccess, DeliveryStatus, Frame, RelayErrorFrame } from './frames.js';
import type { PowProgress, PowSolver } from './pow.js';
import type { RelayClientCore } from './rest.js';
import type { SocketFactory } from './socket.js';

export interface CoreSessionOptions<I extends PublicIdentity> {
  /** Base URL of the relay, https://host:port (or http://); the socket goes to wss://host:port/ws. */
  url: string;
  identity: I;
  /** Ask the relay to keep queued messages until acked (default true). */
  acks?: boolean;
  /** Ack every msg / queued_message as it arrives (default true). */
  autoAck?: boolean;
  /** Reconnect with backoff when the connection drops unexpectedly (default true). */
  reconnect?: boolean;
  backoff?: { minMs: number; maxMs: number };
  /** Compat v1: authenticate by PoW alone, without public key and signature. */
  legacyPowOnly?: boolean;
  /** How long send(), sendBinary(), subscribeAlias(), ping() and dummy() wait (default 30 s). */
  timeoutMs?: number;
  /** Default: the platform's solver (worker threads / Web Workers). */
  powSolver?: PowSolver;
  /** Progress of each PoW search (attempts, elapsed), for a person who waits. */
  onPowProgress?: (progress: PowProgress) => void;
}

export interface SessionPlatform<I extends PublicIdentity, B extends Uint8Array> {
  rest: RelayClientCore<I, object & { url: string }>;
  openSocket: SocketFactory<B>;
  solvePow: PowSolver;
  sign(identity: I, message: Uint8Array): Uint8Array;
}

/** The session's events; `B` is the platform's bytes (Buffer in Node, Uint8Array in browsers). */
export interface SessionEvents<B extends Uint8Array> {
  message: [{ id: string; envelope: string }];
  queued: [{ id: string; payload: Frame }];
  sealed: [Frame];
  /** A binary frame as received: the payload followed by its zero padding. */
  binary: [B];
  status: [DeliveryStatus];
  frame: [Frame];
  /** An `error` frame of an authenticated session (not named 'error': nobody must listen). */
  relayError: [RelayErrorFrame];
  dummy: [{ type: 'dummy_pacing' | 'dummy_ack' | 'pong' }];
  close: [{ code: number; reason: string }];
  reconnecting: [{ attempt: number; delayMs: number; error?: Error }];
  authenticated: [AuthSuccess];
}

export type SessionState = 'closed' | 'connecting' | 'open' | 'reconnecting';
