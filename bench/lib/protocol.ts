// Messages between the benchmark orchestrators (bench/relay.ts, bench/hostile.ts) and their
// forked helpers, the load generator (bench/load-generator.ts) and the attacker
// (bench/attacker.ts), each in its own process, over the fork IPC channel.

export type TargetKind = 'relay' | 'baseline';
export type Format = 'binary' | 'json';

export interface Target {
  kind: TargetKind;
  /** http://127.0.0.1:PORT or https://127.0.0.1:PORT */
  url: string;
  tls: boolean;
}

export interface SetupArgs {
  target: Target;
  /** Sessions to open; consecutive sessions 2i (sender) and 2i+1 (recipient) form pair i. */
  sessions: number;
  /** Sessions being opened at once. */
  concurrency: number;
  /** Local addresses to spread client sockets over (empty: the OS default). */
  localAddresses: string[];
  /** Spread by pair: both sessions of pair i use localAddresses[i % length] (one client IP). */
  addressPerPair?: boolean;
  /** Sessions started per second at most (keeps the relay's PoW load scaling low). */
  perSecond?: number;
  /** Give up on the whole setup after this long. */
  timeoutMs: number;
  /** Keep the sessions already open and add `sessions` more after them. */
  append?: boolean;
  /** Relay: each identity uploads a key bundle before it authenticates. */
  bundles?: boolean;
}

export interface SetupResult {
  /** Sessions this setup connected. */
  connected: number;
  /** Sessions open in the load generator now (more than `connected` with `append`). */
  total?: number;
  /** Sessions that were tried (twice) and did not connect. */
  failed: number;
  /** Sessions not tried because the setup deadline passed. */
  notAttempted: number;
  firstError: string | undefined;
  ms: number;
}

export interface TrafficArgs {
  format: Format;
  /** Bytes of payload per message (binary: after the 64-hex recipient; JSON: envelope length). */
  payloadBytes: number;
  /** closed: a fixed window of messages in flight per pair; open: a fixed total send rate. */
  mode: 'closed' | 'open';
  window?: number;
  rate?: number;
  /** Pairs used (default: all). */
  pairs?: number;
}

/** Counters of the load generator at one instant. */
export interface Snapshot {
  /** performance.now() of the load generator, ms. */
  at: number;
  sent: number;
  /** Messages received by their recipient. */
  delivered: number;
  /** delivery_status frames received by senders (relay only). */
  statuses: number;
  rejected: number;
  errors: number;
  dummies: number;
  /** Text frames of any other kind. */
  other: number;
  /** Sends that could not be written (socket closed or over its buffer cap). */
  skipped: number;
  outOfOrder: number;
  unexpectedCloses: number;
  /** process.cpuUsage() of the load generator, µs. */
  cpuUserUs: number;
  cpuSystemUs: number;
}

export interface LatencyStats {
  count: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

/**
 * Messages sent between mark({record: true}) and mark({record: false}), and what became of them
 * by the time the `window` command returned.
 */
export interface WindowStats {
  sent: number;
  delivered: number;
  /** Latency of the delivered ones, ms. */
  latency: LatencyStats | null;
  /** Quantiles over every message sent, a message not delivered counting as Infinity, ms. */
  ofSent: { p50: number; p99: number };
  /** Sends not written (socket closed or over its buffer cap) during the window: lost. */
  skipped: number;
  /** Open loop: actual send time − scheduled time of the window's messages, ms. */
  sendLag?: { p50: number; p99: number; max: number };
  rejected: number;
  errors: number;
  unexpectedCloses: number;
  errorSamples: string[];
}

export interface StopResult {
  /** End-to-end latency (send → receipt, both in the load generator) of recorded messages, ms. */
  latency: LatencyStats | null;
  /** Messages sent but not received when the drain wait ended. */
  undelivered: number;
  final: Snapshot;
  errorSamples: string[];
}

export interface PokeResult {
  /** Sessions whose message to themselves came back. */
  delivered: number;
  ms: number;
}

export type Command =
  | { cmd: 'setup'; args: SetupArgs }
  | { cmd: 'start'; args: TrafficArgs }
  | { cmd: 'mark'; args: { record: boolean } }
  | { cmd: 'window'; args: { waitMs: number } }
  | { cmd: 'rate'; args: { rate: number } }
  | { cmd: 'stop'; args: { drainMs: number } }
  | { cmd: 'poke'; args: { timeoutMs: number } }
  | { cmd: 'close'; args: Record<string, never> };

export type Request = Command & { id: number };

// --- The attacker (bench/hostile.ts) -------------------------------------------------------------

export type AttackName = 'slow-reader' | 'idle-connections' | 'token-flood' | 'relay-to-nobody';

export interface AttackArgs {
  attack: AttackName;
  /** https://127.0.0.1:PORT */
  url: string;
  /** The attacker's one address (every socket it opens is bound to it). */
  localAddress: string;
  /** Bytes of each relayed envelope (slow-reader, relay-to-nobody). */
  envelopeBytes: number;
  /** The relay's per-identity send limit (senders keep its pace). */
  sendLimit: { perWindow: number; windowMs: number };
  /** Connections kept open (idle-connections). */
  connections: number;
  /** Re-authentication loops run at once (token-flood). */
  concurrency: number;
  /** Recipients that stop reading (slow-reader). */
  readers: number;
  /** The relay closes a socket over its byte cap after this long (slow-reader re-connects). */
  slowReaderGraceMs: number;
}

/** What the attacker did and saw, counted from its side. */
export interface AttackReport {
  attack: AttackName;
  /** Time from `start` until the attack was running (its own authentications), ms. */
  setupMs: number;
  runS: number;
  /** TCP connections opened, and closed by the relay (not by the attacker). */
  connectionsOpened: number;
  connectionsClosedByRelay: number;
  /** Most connections open at once. */
  maxOpen: number;
  /** auth_success frames received (each one a new session token). */
  authOk: number;
  /** Authentications refused, by error code (auth_failed, rate_limited, …). */
  authRefused: Record<string, number>;
  /** Relays written, and their payload bytes. */
  relaysSent: number;
  bytesSent: number;
  /** delivery_status received, by status or `rejected:<reason>`. */
  statuses: Record<string, number>;
  /** error frames received after authentication, by code. */
  errors: Record<string, number>;
  /** Seconds spent waiting because the relay said retry_after. */
  backoffS: number;
  /** Close codes of authenticated sockets closed by the relay. */
  closeCodes: Record<string, number>;
  firstError?: string;
}

export type AttackCommand =
  | { cmd: 'start'; args: AttackArgs }
  | { cmd: 'stop'; args: Record<string, never> }
  | { cmd: 'close'; args: Record<string, never> };

export type Response =
  { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string };
