// A raw WebSocket test peer: sends exactly what a test says and records every frame, so bad
// input can be sent that the client library would never produce.
import WebSocket from 'ws';
import { signMessage, type Identity } from '../../src/client/identity.js';
import { solvePow } from '../../src/client/pow-solver.js';
import { RelayClient } from '../../src/client/rest-client.js';
import type { Relay } from '../../src/server.js';
import { within } from './wait.js';

/** A parsed frame, untyped: tests read its fields freely. */
export type AnyJson = any; // eslint-disable-line @typescript-eslint/no-explicit-any

export interface Received {
  json?: AnyJson;
  binary?: Buffer;
  /** A text frame that is not JSON (never sent by the relay: tests check for it). */
  text?: string;
  /** Wire length of the frame's payload. */
  length: number;
}

function parseText(data: Buffer): Received {
  const text = data.toString('utf8');
  try {
    return { json: JSON.parse(text), length: data.length };
  } catch {
    return { text, length: data.length };
  }
}

export class RawPeer {
  readonly received: Received[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private waiters: Array<{
    match: (r: Received) => boolean;
    resolve: (r: Received) => void;
    reject: (err: Error) => void;
  }> = [];
  private cursor = 0;
  private closeCode: number | undefined;

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, isBinary) => {
      const r: Received = isBinary ? { binary: data, length: data.length } : parseText(data);
      this.received.push(r);
      this.waiters = this.waiters.filter((w) => {
        if (!w.match(r)) return true;
        w.resolve(r);
        return false;
      });
    });
    this.closed = new Promise((resolve) =>
      ws.on('close', (code, reason) => {
        this.closeCode = code;
        resolve({ code, reason: reason.toString() });
        // No frame comes after the close: whoever still waits for one fails now.
        for (const w of this.waiters.splice(0)) w.reject(new Error(`closed (${code}) first`));
      }),
    );
  }

  static async open(
    relay: Relay,
    options: { path?: string; headers?: Record<string, string>; localAddress?: string } = {},
  ): Promise<RawPeer> {
    const url = relay.url.replace(/^http/, 'ws') + (options.path ?? '/ws');
    const ws = new WebSocket(url, {
      ca: relay.tls?.cert,
      perMessageDeflate: false,
      headers: options.headers,
      localAddress: options.localAddress,
    });
    const peer = new RawPeer(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return peer;
  }

  send(frame: AnyJson): void {
    this.ws.send(
      typeof frame === 'string' || Buffer.isBuffer(frame) ? frame : JSON.stringify(frame),
    );
  }

  /** The next frame (after those already taken by next()) matching `match`. */
  next(match: (r: Received) => boolean = () => true, timeoutMs = 10_000): Promise<Received> {
    for (; this.cursor < this.received.length;) {
      const r = this.received[this.cursor++]!;
      if (match(r)) return Promise.resolve(r);
    }
    if (this.closeCode !== undefined)
      return Promise.reject(new Error(`closed (${this.closeCode}) first`));
    const frame = new Promise<Received>((resolve, reject) =>
      this.waiters.push({
        match,
        resolve: (r) => {
          this.cursor = this.received.length;
          resolve(r);
        },
        reject,
      }),
    );
    return within(frame, timeoutMs, 'a frame');
  }

  nextOfType(type: string, timeoutMs?: number): Promise<AnyJson> {
    return this.next((r) => r.json?.type === type, timeoutMs).then((r) => r.json);
  }

  close(): Promise<{ code: number; reason: string }> {
    this.ws.close();
    return this.closed;
  }
}

/** Uploads a key bundle for `identity`: in default mode only an identity with one can be
 *  queued for (docs/protocol.md §9). Returns its hash. */
export async function withBundle(relay: Relay, identity: Identity): Promise<string> {
  const client = new RelayClient({ url: relay.url, ca: relay.tls?.cert });
  await client.uploadBundle(identity, { preKeys: 1 });
  return identity.identityHash;
}

/** Auth payload by PoW + signature (docs/protocol.md §4.2). */
export async function powAuthPayload(
  relay: Relay,
  identity: Identity,
  extra: Record<string, unknown> = {},
): Promise<AnyJson> {
  const client = new RelayClient({ url: relay.url, ca: relay.tls?.cert });
  const h = identity.identityHash;
  const { seed, difficulty } = await client.challenge({ type: 'auth', identity_hash: h });
  const nonce = await solvePow(seed, h, difficulty);
  return {
    identity_hash: h,
    seed,
    nonce,
    public_key: identity.publicKey.toString('base64'),
    signature: signMessage(identity, `AUTH:${h}:${seed}`),
    acks: false,
    ...extra,
  };
}

/** Opens a socket and authenticates it; returns the peer and its auth_success frame. */
export async function authedPeer(
  relay: Relay,
  identity: Identity,
  extra: Record<string, unknown> = {},
): Promise<{ peer: RawPeer; success: AnyJson }> {
  const payload = await powAuthPayload(relay, identity, extra);
  const peer = await RawPeer.open(relay);
  peer.send({ type: 'auth', payload });
  const first = await peer.next();
  if (first.json?.type !== 'auth_success')
    throw new Error(`auth failed: ${JSON.stringify(first.json)}`);
  return { peer, success: first.json };
}
