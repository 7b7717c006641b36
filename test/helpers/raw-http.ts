// Raw client sockets to a relay (plain TCP, or TLS with the relay's certificate as CA), for tests
// that send what no HTTP client would and watch what the server does with the connection.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { Relay } from '../../src/server.js';
import { assertPadded } from './padding.js';

export interface RawClient {
  socket: Socket;
  /** Everything received so far. */
  received(): Buffer;
  /** Resolves once the socket is closed (by either side), with everything received. */
  closed: Promise<Buffer>;
}

function track(socket: Socket): RawClient {
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.on('error', () => undefined); // a reset is one way for the server to close
  const closed = new Promise<Buffer>((resolve) =>
    socket.once('close', () => resolve(Buffer.concat(chunks))),
  );
  return { socket, received: () => Buffer.concat(chunks), closed };
}

/** A TCP connection to the relay's port that has sent nothing (not even a TLS ClientHello). */
export function openTcp(relay: Relay, localAddress?: string): Promise<RawClient> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ port: relay.port, host: '127.0.0.1', localAddress }, () =>
      resolve(track(socket)),
    );
    socket.once('error', reject);
  });
}

/** A connection that is ready for HTTP: TLS completed when the relay serves TLS. */
export function openHttp(relay: Relay, localAddress?: string): Promise<RawClient> {
  if (!relay.tls) return openTcp(relay, localAddress);
  return new Promise((resolve, reject) => {
    const socket = tlsConnect(
      {
        socket: netConnect({ port: relay.port, host: '127.0.0.1', localAddress }),
        ca: relay.tls!.cert,
        servername: 'localhost',
      },
      () => resolve(track(socket)),
    );
    socket.once('error', reject);
  });
}

/** Sends `data` on a fresh HTTP connection and returns what the server sent before closing. */
export async function exchange(
  relay: Relay,
  data: string | Buffer,
  localAddress?: string,
): Promise<Buffer> {
  const client = await openHttp(relay, localAddress);
  client.socket.write(data);
  return client.closed;
}

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** The final response in `raw` (interim 1xx answers, such as 100 Continue, are skipped). */
export function parseResponse(raw: Buffer): RawResponse {
  while (/^HTTP\/1\.[01] 1(?!01)\d\d /.test(raw.subarray(0, 16).toString('latin1')))
    raw = raw.subarray(raw.indexOf('\r\n\r\n') + 4);
  const split = raw.indexOf('\r\n\r\n');
  assert.ok(split > 0, `not an HTTP response: ${JSON.stringify(raw.toString('latin1'))}`);
  const [statusLine, ...lines] = raw.subarray(0, split).toString('latin1').split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status: Number(statusLine!.split(' ')[1]), headers, body: raw.subarray(split + 4) };
}

/** A padded JSON error with every security header (HSTS only over TLS); returns its code. */
export function assertPaddedError(res: RawResponse, status: number, tls: boolean): string {
  assert.equal(res.status, status);
  assertPadded(res.body);
  assert.equal(Number(res.headers['content-length']), res.body.length);
  assert.match(res.headers['content-type'] ?? '', /^application\/json/);
  assertSecurityHeaders(res, tls);
  const json = JSON.parse(res.body.toString('utf8'));
  assert.equal(typeof json.error, 'string');
  return json.code;
}

/** The headers every response carries (docs/protocol.md §2), and none that names the server. */
export function assertSecurityHeaders(res: RawResponse, tls: boolean): void {
  assert.equal(res.headers['x-content-type-options'], 'nosniff');
  assert.equal(
    res.headers['content-security-policy'],
    "default-src 'none'; frame-ancestors 'none'",
  );
  assert.equal(res.headers['referrer-policy'], 'no-referrer');
  assert.equal(res.headers['cache-control'], 'no-store');
  if (tls) assert.match(res.headers['strict-transport-security'] ?? '', /max-age=\d+/);
  else assert.equal(res.headers['strict-transport-security'], undefined);
  assert.equal(res.headers['server'], undefined);
  assert.equal(res.headers['x-powered-by'], undefined);
}

/** The rows of /proc/net/tcp and /proc/net/tcp6 (Linux): local port, state, inode. */
function tcpTable(): Array<{ port: number; state: string; inode: string }> {
  const rows: Array<{ port: number; state: string; inode: string }> = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length < 10) continue;
      const port = parseInt(fields[1]!.split(':').pop()!, 16);
      rows.push({ port, state: fields[3]!, inode: fields[9]! });
    }
  }
  return rows;
}

/** Server-side sockets of `port` in CLOSE_WAIT (state 08). */
export function closeWaitCount(port: number): number {
  return tcpTable().filter((row) => row.port === port && row.state === '08').length;
}

/** Ports this process listens on (state 0A, sockets among its own file descriptors). */
export function ownListeningPorts(): Set<number> {
  const inodes = new Set<string>();
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      // closed meanwhile
    }
  }
  const rows = tcpTable().filter((row) => row.state === '0A' && inodes.has(row.inode));
  return new Set(rows.map((row) => row.port));
}
