// PROXY protocol on the relay's listener (ENTROPY_PROXY_PROTOCOL): a trusted balancer's header
// names the client, and the per-IP connection cap and the rate-limit buckets apply to that client.
// Everything else is refused before a byte reaches TLS or HTTP: a header from an untrusted peer, a
// connection without one, a malformed one, one not complete within the deadline.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { connect as netConnect, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { connect as tlsConnect } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import type { Relay } from '../src/server.js';
import { ask, HEALTH, track, type Conn } from './helpers/keep-alive.js';
import { parseResponse } from './helpers/raw-http.js';
import { startTestRelay, type TestRelay } from './helpers/relay.js';
import { waitFor, within } from './helpers/wait.js';

const BALANCER = '127.0.0.1';
const CAP = 2;
const HEADER_TIMEOUT_MS = 1000;
const DEADLINE_MS = 10_000;

// Clients named in headers: documentation ranges (RFC 5737, RFC 3849), never connected to.
const ALICE = '192.0.2.10';
const BOB = '192.0.2.20';
const ALICE6 = '2001:db8:a::1';
const ALICE6_SAME_64 = '2001:db8:a::2';
const BOB6 = '2001:db8:b::1';

const V2_SIGNATURE = Buffer.from('\r\n\r\n\0\r\nQUIT\n', 'latin1');

function v1(client: string, port = 40000): Buffer {
  const family = client.includes(':') ? 'TCP6' : 'TCP4';
  const server = family === 'TCP6' ? '2001:db8::443' : '192.0.2.1';
  return Buffer.from(`PROXY ${family} ${client} ${server} ${port} 443\r\n`, 'latin1');
}

/** Version 2, PROXY command over TCP, with `tlv` (type-length-value extensions) after the
 *  addresses, built byte by byte from proxy-protocol.txt §2.2. */
function v2(client: string, port = 40000, tlv = Buffer.alloc(0)): Buffer {
  const six = client.includes(':');
  const source = six ? ipv6Bytes(client) : Buffer.from(client.split('.').map(Number));
  const destination = Buffer.alloc(source.length, 1);
  const ports = Buffer.alloc(4);
  ports.writeUInt16BE(port, 0);
  ports.writeUInt16BE(443, 2);
  const body = Buffer.concat([source, destination, ports, tlv]);
  const head = Buffer.from([0x21, six ? 0x21 : 0x11, 0, 0]);
  head.writeUInt16BE(body.length, 2);
  return Buffer.concat([V2_SIGNATURE, head, body]);
}

/** Version 2, LOCAL command (the balancer's own connection, e.g. a health check). */
function v2Local(): Buffer {
  return Buffer.concat([V2_SIGNATURE, Buffer.from([0x20, 0x00, 0, 0])]);
}

function ipv6Bytes(address: string): Buffer {
  const [head, tail] = address.split('::') as [string, string | undefined];
  const parts = (s: string | undefined) => (s ? s.split(':').map((p) => parseInt(p, 16)) : []);
  const h = parts(head);
  const t = parts(tail);
  const groups = [...h, ...Array(8 - h.length - t.length).fill(0), ...t];
  const bytes = Buffer.alloc(16);
  groups.forEach((g, i) => bytes.writeUInt16BE(g, i * 2));
  return bytes;
}

/** A TCP connection to the relay from `localAddress` that sends `first` at once. */
function dial(relay: Relay, first: Buffer | undefined, localAddress = BALANCER): Promise<Conn> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ port: relay.port, host: '127.0.0.1', localAddress }, () => {
      if (first) socket.write(first);
      resolve(track(socket));
    });
    socket.once('error', reject);
  });
}

/** Writes `data` and lets the relay (in this process) read it before anything else is written:
 *  the write completes, then a whole turn of the event loop (and its I/O poll) passes. */
async function writeApart(socket: Socket, data: Buffer): Promise<void> {
  await new Promise((resolve) => socket.write(data, resolve));
  for (let turn = 0; turn < 2; turn++) await new Promise((resolve) => setImmediate(resolve));
}

async function refusals(relay: Relay, reason: string): Promise<number> {
  const metric = await relay.ctx.metrics.proxyHeadersRefused.get();
  return metric.values.find((v) => v.labels.reason === reason)?.value ?? 0;
}

async function capRefusals(relay: Relay): Promise<number> {
  return (await relay.ctx.metrics.connectionsRefused.get()).values[0]?.value ?? 0;
}

/** `conn` is closed by the relay without a byte, and `reason` was counted once more. */
async function assertRefused(relay: Relay, conn: Conn, reason: string, before: number) {
  const received = await within(conn.closed, DEADLINE_MS, 'closed by the relay');
  assert.equal(received.length, 0, 'nothing is answered');
  await waitFor(async () => (await refusals(relay, reason)) === before + 1, {
    what: `refusal '${reason}' counted`,
  });
}

describe('PROXY protocol (plain HTTP behind the balancer)', () => {
  let t: TestRelay;
  const open: Conn[] = [];

  before(async () => {
    t = await startTestRelay({
      tls: false,
      proxyProtocol: true,
      trustProxy: [BALANCER],
      maxConnsPerIp: CAP,
      handshakeTimeoutMs: HEADER_TIMEOUT_MS,
    });
  });
  after(async () => {
    for (const c of open.splice(0)) c.socket.destroy();
    await t.close();
  });

  /** Opens CAP connections, one for each of `clients` (the same client, or the same /64), each
   *  answered, then one more for `clients[0]`, which the cap refuses, while `other` is still
   *  served: the cap counts the header's client, not the balancer. */
  async function assertCapFor(header: (c: string) => Buffer, clients: string[], other: string) {
    const refusedBefore = await capRefusals(t.relay);
    for (const client of clients) {
      const conn = await dial(t.relay, header(client));
      open.push(conn);
      assert.equal(await ask(conn), 200);
    }
    const third = await dial(t.relay, header(clients[0]!));
    const received = await within(third.closed, DEADLINE_MS, 'the connection over the cap closed');
    assert.equal(received.length, 0);
    assert.equal(await capRefusals(t.relay), refusedBefore + 1);
    const another = await dial(t.relay, header(other));
    open.push(another);
    assert.equal(await ask(another), 200, 'another client is served');
    for (const c of open.splice(0)) c.socket.destroy();
    // Their slots come back once the relay has seen them close.
    await waitFor(async () => (await t.relay.ctx.metrics.openSockets.get()).values[0]?.value === 0);
  }

  it('v1 TCP4: the cap applies to the client the header names', () =>
    assertCapFor(v1, [ALICE, ALICE], BOB));

  it('v1 TCP6: the cap applies to the client /64', () =>
    assertCapFor(v1, [ALICE6, ALICE6_SAME_64], BOB6));

  it('v2 IPv4: the cap applies to the client the header names', () =>
    assertCapFor(v2, [ALICE, ALICE], BOB));

  it('v2 IPv6 with TLVs after the addresses: the cap applies to the client /64', () =>
    assertCapFor(
      (c) => v2(c, 40000, Buffer.from([0x04, 0, 3, 1, 2, 3])),
      [ALICE6, ALICE6_SAME_64],
      BOB6,
    ));

  it('v2 LOCAL and v1 UNKNOWN: the connection is the balancer own (trusted, not capped)', async () => {
    const headers = [
      ...Array<Buffer>(CAP + 1).fill(v2Local()),
      ...Array<Buffer>(CAP + 1).fill(Buffer.from('PROXY UNKNOWN\r\n')),
      Buffer.from('PROXY UNKNOWN ffff::1 ::1 1 2\r\n'),
    ];
    const conns = await Promise.all(headers.map((h) => dial(t.relay, h)));
    for (const c of conns) assert.equal(await ask(c), 200);
    for (const c of conns) c.socket.destroy();
  });

  it('a header split across packets', async () => {
    const header = v1(BOB);
    const conn = await dial(t.relay, undefined);
    conn.socket.setNoDelay(true);
    for (const byte of header) await writeApart(conn.socket, Buffer.from([byte]));
    assert.equal(await ask(conn), 200);
    conn.socket.destroy();
  });

  it('a header and the request in one packet: the bytes after the header are the request', async () => {
    const conn = await dial(t.relay, Buffer.concat([v2(BOB), Buffer.from(HEALTH)]));
    await waitFor(() => conn.received().includes('\r\n\r\n'), { what: 'an answer' });
    assert.equal(parseResponse(conn.received()).status, 200);
    conn.socket.destroy();
  });

  it('refuses a header from a peer outside ENTROPY_TRUST_PROXY', async () => {
    const before = await refusals(t.relay, 'untrusted_peer');
    const conn = await dial(t.relay, Buffer.concat([v1(ALICE), Buffer.from(HEALTH)]), '127.0.0.2');
    await assertRefused(t.relay, conn, 'untrusted_peer', before);
  });

  it('refuses a trusted peer that sends no header', async () => {
    const before = await refusals(t.relay, 'missing');
    const conn = await dial(t.relay, Buffer.from(HEALTH));
    await assertRefused(t.relay, conn, 'missing', before);
  });

  for (const [name, garbage] of [
    ['an unknown v1 family', 'PROXY TCP5 192.0.2.10 192.0.2.1 1 2\r\n'],
    ['a v1 address of the wrong family', 'PROXY TCP4 2001:db8::1 192.0.2.1 1 2\r\n'],
    ['a v1 port out of range', 'PROXY TCP4 192.0.2.10 192.0.2.1 65536 2\r\n'],
    ['a v1 line longer than 107 bytes', `PROXY TCP4 ${'1'.repeat(120)}\r\n`],
    ['a v2 header of version 3', Buffer.concat([V2_SIGNATURE, Buffer.from([0x31, 0x11, 0, 0])])],
    [
      'a v2 length shorter than its addresses',
      Buffer.concat([V2_SIGNATURE, Buffer.from([0x21, 0x11, 0, 4, 1, 2, 3, 4])]),
    ],
  ] as const) {
    it(`refuses ${name}`, async () => {
      const before = await refusals(t.relay, 'malformed');
      const conn = await dial(t.relay, Buffer.from(garbage));
      await assertRefused(t.relay, conn, 'malformed', before);
    });
  }

  it('counts a peer that closes in the middle of its header', async () => {
    const before = await refusals(t.relay, 'incomplete');
    const conn = await dial(t.relay, undefined);
    conn.socket.end('PROXY TCP4 192.0.2.10');
    await assertRefused(t.relay, conn, 'incomplete', before);
  });

  it('destroys a connection whose header is not complete within the deadline', async () => {
    const before = await refusals(t.relay, 'timeout');
    const partial = await dial(t.relay, Buffer.from('PROXY TCP4 192.0.2.10 '));
    const silent = await dial(t.relay, undefined);
    const received = await within(
      Promise.all([partial.closed, silent.closed]),
      DEADLINE_MS,
      'closed by the relay',
    );
    assert.deepEqual(
      received.map((r) => r.length),
      [0, 0],
    );
    assert.equal(await refusals(t.relay, 'timeout'), before + 2);
  });
});

describe('PROXY protocol (TLS passed through the balancer)', () => {
  let t: TestRelay;

  before(async () => {
    t = await startTestRelay({
      tls: true,
      proxyProtocol: true,
      trustProxy: [BALANCER],
      maxConnsPerIp: CAP,
      handshakeTimeoutMs: HEADER_TIMEOUT_MS,
    });
  });
  after(() => t.close());

  /** A TLS connection whose first TCP write is `header` and the ClientHello together. */
  function tlsBehind(header: Buffer): Promise<Conn & { tcp: Socket }> {
    const tcp = netConnect({ port: t.relay.port, host: '127.0.0.1', localAddress: BALANCER });
    tcp.setNoDelay(true);
    let first = true;
    const wire = new Duplex({
      write(chunk: Buffer, _encoding, callback) {
        tcp.write(first ? Buffer.concat([header, chunk]) : chunk, callback);
        first = false;
      },
      read() {
        tcp.resume();
      },
      final(callback) {
        tcp.end();
        callback();
      },
      destroy(err, callback) {
        tcp.destroy();
        callback(err);
      },
    });
    tcp.on('data', (chunk: Buffer) => {
      if (!wire.push(chunk)) tcp.pause();
    });
    tcp.on('end', () => wire.push(null));
    tcp.on('close', () => wire.destroy());
    tcp.on('error', () => undefined);
    return new Promise((resolve, reject) => {
      const socket = tlsConnect(
        { socket: wire, ca: t.relay.tls!.cert, servername: 'localhost' },
        () => resolve({ ...track(socket), tcp }),
      );
      socket.once('error', reject);
    });
  }

  it('a header and the ClientHello in one packet: the handshake and the request succeed', async () => {
    const conn = await tlsBehind(v1(ALICE));
    assert.equal(await ask(conn), 200);
    conn.socket.destroy();
  });

  it('the cap counts the client of a v2 header, over TLS', async () => {
    const refusedBefore = await capRefusals(t.relay);
    const alice = [await tlsBehind(v2(ALICE)), await tlsBehind(v2(ALICE))];
    for (const c of alice) assert.equal(await ask(c), 200);
    const third = await dial(t.relay, v2(ALICE));
    await within(third.closed, DEADLINE_MS, 'the connection over the cap closed');
    assert.equal(await capRefusals(t.relay), refusedBefore + 1);
    const bob = await tlsBehind(v2(BOB));
    assert.equal(await ask(bob), 200);
    for (const c of [...alice, bob]) c.socket.destroy();
  });
});

describe('PROXY protocol: rate-limit buckets', () => {
  const LIMIT = 3;
  let t: TestRelay;

  before(async () => {
    t = await startTestRelay({
      tls: false,
      proxyProtocol: true,
      trustProxy: [BALANCER],
      limitGlobal: LIMIT,
    });
  });
  after(() => t.close());

  const GET_ROOT = 'GET /pow/challenge HTTP/1.1\r\nHost: x\r\n\r\n';

  it("spends the header client's bucket: another client behind the same balancer is served", async () => {
    const alice = await dial(t.relay, v1(ALICE));
    const statuses: number[] = [];
    for (let i = 0; i < LIMIT + 1; i++) statuses.push(await ask(alice, GET_ROOT));
    assert.equal(statuses.at(-1), 429, `Alice's bucket runs dry: ${statuses.join(',')}`);
    // A second connection of the same client draws from the same bucket.
    const alice2 = await dial(t.relay, v2(ALICE, 40001));
    assert.equal(await ask(alice2, GET_ROOT), 429);
    // Alice's own X-Forwarded-For is not believed: she is not a trusted proxy.
    const forged = GET_ROOT.replace('\r\n\r\n', `\r\nX-Forwarded-For: ${BOB}\r\n\r\n`);
    assert.equal(await ask(alice2, forged), 429);
    const bob = await dial(t.relay, v1(BOB));
    assert.notEqual(await ask(bob, GET_ROOT), 429, "Bob's bucket is his own");
    for (const c of [alice, alice2, bob]) c.socket.destroy();
  });
});

describe('PROXY protocol: configuration', () => {
  it('refuses to start (exit 2) when on without ENTROPY_TRUST_PROXY', async () => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', fileURLToPath(new URL('../src/cli.ts', import.meta.url)), 'serve'],
      {
        env: {
          PATH: process.env.PATH,
          ENTROPY_PROXY_PROTOCOL: 'true',
          ENTROPY_PORT: '0',
          ENTROPY_ADDR: '127.0.0.1',
          ENTROPY_METRICS_ADDR: 'off',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (out += c));
    const code = await within(
      new Promise<number | null>((resolve) => child.on('close', resolve)),
      60_000,
      'the CLI exits',
    ).finally(() => child.kill());
    assert.equal(code, 2, out);
    assert.match(out, /ENTROPY_PROXY_PROTOCOL needs ENTROPY_TRUST_PROXY/);
  });
});
