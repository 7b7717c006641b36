// No connection lingers (docs/protocol.md §9 "Per connection"): a client that stays silent,
// dribbles a request head, sends a malformed one or half-closes is closed by the server within the
// handshake / request-head deadline; its slot in the per-IP cap and the open-sockets gauge are
// released, and no server-side socket is left in CLOSE-WAIT.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  closeWaitCount,
  openHttp,
  openTcp,
  parseResponse,
  assertPaddedError,
  type RawClient,
} from './helpers/raw-http.js';
import { startTestRelay, type TestRelay } from './helpers/relay.js';
import { within } from './helpers/wait.js';

const CAP = 6;
const DEADLINE_MS = 10_000;

for (const tls of [true, false]) {
  describe(`connection deadlines (${tls ? 'TLS' : 'plain'})`, () => {
    let t: TestRelay;
    /** Server-side 'close' of every accepted socket not yet awaited. */
    let serverCloses: Array<Promise<void>> = [];
    let onAccepted = (): void => undefined;

    before(async () => {
      t = await startTestRelay({ tls, handshakeTimeoutMs: 300, maxConnsPerIp: CAP });
      t.relay.server.on('connection', (socket) => {
        serverCloses.push(new Promise((resolve) => socket.once('close', () => resolve())));
        onAccepted();
      });
    });
    after(() => t.close());

    const openSockets = async () =>
      (await t.relay.ctx.metrics.openSockets.get()).values[0]?.value ?? 0;

    const closedByServer = (clients: RawClient[]) =>
      within(Promise.all(clients.map((c) => c.closed)), DEADLINE_MS, 'closed by the server');

    /** Every server-side socket is gone, none in CLOSE-WAIT, and the IP has its whole cap again. */
    async function assertReleased(): Promise<void> {
      await within(Promise.all(serverCloses), DEADLINE_MS, 'server-side close');
      serverCloses = [];
      assert.equal(await openSockets(), 0, 'open sockets');
      assert.equal(closeWaitCount(t.relay.port), 0, 'sockets in CLOSE-WAIT');
      const clients = await Promise.all(Array.from({ length: CAP }, () => openHttp(t.relay)));
      for (const c of clients)
        c.socket.write('GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      const answers = await closedByServer(clients);
      assert.deepEqual(
        answers.map((raw) => parseResponse(raw).status),
        Array(CAP).fill(200),
      );
      await within(Promise.all(serverCloses), DEADLINE_MS, 'server-side close');
      serverCloses = [];
    }

    const open = (count: number, how: typeof openTcp) =>
      Promise.all(Array.from({ length: count }, () => how(t.relay)));

    it('closes connections that never send a byte', async () => {
      const received = await closedByServer(await open(CAP, openTcp));
      for (const raw of received) {
        if (tls) assert.equal(raw.length, 0, 'nothing is written before TLS');
        else assert.equal(assertPaddedError(parseResponse(raw), 408, tls), 'request_timeout');
      }
      await assertReleased();
    });

    it('closes connections that are ready for HTTP but send no request', async () => {
      const received = await closedByServer(await open(CAP, openHttp));
      for (const raw of received)
        assert.equal(assertPaddedError(parseResponse(raw), 408, tls), 'request_timeout');
      await assertReleased();
    });

    it('closes connections whose request head keeps coming but never ends', async () => {
      const clients = await open(CAP, openHttp);
      for (const c of clients) {
        c.socket.write('GET /health HTTP/1.1\r\nHost: x\r\n');
        const dribble = setInterval(() => c.socket.write('X-Slow: y\r\n'), 50);
        void c.closed.then(() => clearInterval(dribble));
      }
      for (const raw of await closedByServer(clients))
        assert.equal(assertPaddedError(parseResponse(raw), 408, tls), 'request_timeout');
      await assertReleased();
    });

    it('answers and closes connections that send a malformed request', async () => {
      const clients = await open(CAP, openHttp);
      for (const c of clients) c.socket.write('GARBAGE / HTTP/1.1\r\nHost: x\r\n\r\n');
      for (const raw of await closedByServer(clients))
        assert.equal(assertPaddedError(parseResponse(raw), 400, tls), 'bad_request');
      await assertReleased();
    });

    it('answers and closes a client that half-closes in the middle of a request head', async () => {
      const clients = await open(CAP, openHttp);
      for (const c of clients) c.socket.end('GET /health HTTP/1.1\r\nHost: x\r\n');
      for (const raw of await closedByServer(clients))
        assert.equal(assertPaddedError(parseResponse(raw), 400, tls), 'bad_request');
      await assertReleased();
    });

    it('leaves nothing behind when clients leave first', async () => {
      const accepted = new Promise<void>((resolve) => {
        onAccepted = () => serverCloses.length === CAP && resolve();
      });
      const silent = await open(CAP / 2, openTcp);
      const partial = await open(CAP / 2, openHttp);
      await within(accepted, DEADLINE_MS, 'accepted by the server');
      for (const c of partial) c.socket.write('GET /health HTTP/1.1\r\nHost: x\r\n');
      for (const c of silent) c.socket.end();
      for (const c of partial) c.socket.destroy();
      await closedByServer([...silent, ...partial]);
      await assertReleased();
    });
  });
}

describe('shutdown', () => {
  it('closes connections still in their handshake or request head', async () => {
    for (const tls of [true, false]) {
      // Deadlines far away: only the shutdown can close these.
      const t = await startTestRelay({ tls, handshakeTimeoutMs: 600_000 });
      const silent = await openTcp(t.relay);
      const ready = await openHttp(t.relay);
      const partial = await openHttp(t.relay);
      partial.socket.write('GET /health HTTP/1.1\r\nHost: x\r\n');
      await within(t.close(), DEADLINE_MS, 'relay.close()');
      await within(
        Promise.all([silent.closed, ready.closed, partial.closed]),
        DEADLINE_MS,
        'closed by the server',
      );
      assert.equal(closeWaitCount(t.relay.port), 0);
    }
  });
});
