// Client side of authentication for the bench helpers (load generator, attacker): a PoW challenge
// fetched from a chosen local address, the signed auth payload (docs/protocol.md §4.2), and a
// WebSocket that resolves once the server accepted its hello. Benchmark only: the relay's
// ephemeral self-signed certificate is not checked.
import http from 'node:http';
import https from 'node:https';
import WebSocket from 'ws';
import { buildBundle, signMessage, type Identity } from '../../src/client/identity.js';
import { solvePowSync } from '../../src/client/pow-solver.js';

/** A keep-alive agent for challenge requests (it keeps one pool per local address). */
export function challengeAgent(tls: boolean): http.Agent {
  return tls
    ? new https.Agent({ keepAlive: true, maxSockets: 16, rejectUnauthorized: false })
    : new http.Agent({ keepAlive: true, maxSockets: 16 });
}

/** The server refused a request or a hello; `answer` is its reply (JSON with a `code`). */
export class Refused extends Error {
  constructor(
    what: string,
    readonly answer: string,
  ) {
    super(`${what}: ${answer.trim().slice(0, 200)}`);
  }
}

function getJson(
  url: string,
  agent: http.Agent,
  localAddress: string | undefined,
): Promise<Record<string, unknown>> {
  const get = url.startsWith('https:') ? https.get : http.get;
  return new Promise((resolve, reject) => {
    const req = get(url, { agent, localAddress }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode !== 200) {
          const what = `GET ${new URL(url).pathname}: HTTP ${res.statusCode}`;
          reject(new Refused(what, body));
          return;
        }
        try {
          resolve(JSON.parse(body) as Record<string, unknown>);
        } catch (err) {
          reject(err as Error);
        }
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(20_000, () => req.destroy(new Error('challenge request timed out')));
  });
}

function postJson(
  url: string,
  body: string,
  headers: Record<string, string>,
  agent: http.Agent,
  localAddress: string | undefined,
): Promise<void> {
  const request = url.startsWith('https:') ? https.request : http.request;
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        agent,
        localAddress,
        headers: { 'content-type': 'application/json', ...headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          if (res.statusCode === 200) return resolve();
          const what = `POST ${new URL(url).pathname}: HTTP ${res.statusCode}`;
          reject(new Refused(what, Buffer.concat(chunks).toString('utf8')));
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.setTimeout(20_000, () => req.destroy(new Error('upload timed out')));
    req.end(body);
  });
}

/**
 * Uploads a key bundle for `identity` (docs/protocol.md §2.3, one one-time prekey), as a real
 * client does before it can be reached through another instance or worker.
 */
export async function uploadBundle(
  url: string,
  identity: Identity,
  agent: http.Agent,
  localAddress: string | undefined,
): Promise<void> {
  const id = identity.identityHash;
  const challenge = await getJson(
    `${url}/pow/challenge?type=upload&identity_hash=${id}`,
    agent,
    localAddress,
  );
  const seed = String(challenge.seed);
  const nonce = solvePowSync(seed, id, Number(challenge.difficulty));
  const body = JSON.stringify(buildBundle(identity, { preKeys: 1 }));
  await postJson(
    `${url}/keys/upload`,
    body,
    { 'x-pow-seed': seed, 'x-pow-nonce': nonce },
    agent,
    localAddress,
  );
}

/** The payload of an `auth` frame proving `identity` by PoW and signature. */
export async function proofOfIdentity(
  url: string,
  identity: Identity,
  agent: http.Agent,
  localAddress: string | undefined,
): Promise<Record<string, unknown>> {
  const id = identity.identityHash;
  const challenge = await getJson(
    `${url}/pow/challenge?type=auth&identity_hash=${id}`,
    agent,
    localAddress,
  );
  const seed = String(challenge.seed);
  return {
    identity_hash: id,
    seed,
    nonce: solvePowSync(seed, id, Number(challenge.difficulty)),
    public_key: identity.publicKey.toString('base64'),
    signature: signMessage(identity, `AUTH:${id}:${seed}`),
  };
}

export interface OpenOptions {
  /** http(s)://host:port of the server; the socket goes to ws(s)://host:port/ws. */
  url: string;
  localAddress?: string;
  /** First frame, sent once the socket is open. */
  hello: string;
  /** Whether the server's first text frame accepts the hello. */
  accepted(text: string): boolean;
  /** Every frame after the answer (attached from the start: none is missed). */
  onFrame(data: Buffer, isBinary: boolean): void;
  /** The socket closed after it was accepted. */
  onClose?(code: number, reason: string): void;
  timeoutMs?: number;
}

/** Opens a WebSocket, sends the hello and resolves with the socket and the server's answer. */
export function openSession(opts: OpenOptions): Promise<{ ws: WebSocket; answer: string }> {
  const timeoutMs = opts.timeoutMs ?? 20_000;
  const ws = new WebSocket(`${opts.url.replace(/^http/, 'ws')}/ws`, {
    perMessageDeflate: false,
    rejectUnauthorized: false,
    localAddress: opts.localAddress,
    handshakeTimeout: timeoutMs,
  });
  return new Promise((resolve, reject) => {
    let answered = false;
    const timer = setTimeout(() => {
      reject(new Error(`no answer to the hello in ${timeoutMs} ms`));
      ws.terminate();
    }, timeoutMs);
    const fail = (err: Error) => {
      clearTimeout(timer);
      reject(err);
    };
    ws.on('error', (err) => {
      if (!answered) fail(err);
    });
    ws.on('close', (code, reason) => {
      if (!answered) fail(new Error(`closed ${code} ${reason.toString()}`));
      else opts.onClose?.(code, reason.toString());
    });
    ws.on('open', () => ws.send(opts.hello));
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (answered) return opts.onFrame(data, isBinary);
      const text = data.toString('utf8');
      if (!opts.accepted(text)) {
        fail(new Refused('hello refused', text));
        ws.terminate();
        return;
      }
      answered = true;
      clearTimeout(timer);
      resolve({ ws, answer: text });
    });
  });
}
