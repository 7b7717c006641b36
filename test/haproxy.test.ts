// Behind a real HAProxy in TCP mode (Debian's haproxy, started on free loopback ports): it sends
// the PROXY protocol (v1 `send-proxy`, v2 `send-proxy-v2`) to the relay, either passing TLS
// through to the relay or terminating TLS itself (relay without TLS). Clients connect to HAProxy
// from distinct loopback addresses; the relay must see each of them, not HAProxy: its per-IP cap
// refuses the connection over the cap of one client while another client is served, and a
// WebSocket message is relayed between two clients through HAProxy.
import assert from 'node:assert/strict';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { generateIdentity } from '../src/client/identity.js';
import { RelaySession } from '../src/client/ws-client.js';
import { generateSelfSigned } from '../src/tls.js';
import { startHaproxy, type TestHaproxy } from './helpers/haproxy.js';
import { ask, track, type Conn } from './helpers/keep-alive.js';
import { startTestRelay, type TestRelay } from './helpers/relay.js';
import { waitFor, within } from './helpers/wait.js';

const HAPROXY_SOURCE = '127.0.0.1';
const CAP = 3;
const DEADLINE_MS = 20_000;
const LIMITS = { powLimit: 10_000, limitGlobal: 10_000, limitMsgSend: 10_000 };

interface Case {
  frontend: string;
  label: string;
  /** Where TLS ends. */
  tlsAt: 'relay' | 'haproxy';
  proxyProtocol: 'v1' | 'v2';
  /** Four client addresses of its own: two for the message, two for the cap. */
  clients: [string, string, string, string];
}

const CASES: Case[] = [
  {
    frontend: 'pass_v1',
    label: 'TLS passed through, PROXY v1',
    tlsAt: 'relay',
    proxyProtocol: 'v1',
  },
  {
    frontend: 'pass_v2',
    label: 'TLS passed through, PROXY v2',
    tlsAt: 'relay',
    proxyProtocol: 'v2',
  },
  {
    frontend: 'term_v1',
    label: 'TLS ended at HAProxy, PROXY v1',
    tlsAt: 'haproxy',
    proxyProtocol: 'v1',
  },
  {
    frontend: 'term_v2',
    label: 'TLS ended at HAProxy, PROXY v2',
    tlsAt: 'haproxy',
    proxyProtocol: 'v2',
  },
].map((c, i) => ({
  ...c,
  tlsAt: c.tlsAt as Case['tlsAt'],
  proxyProtocol: c.proxyProtocol as Case['proxyProtocol'],
  clients: [1, 2, 3, 4].map((k) => `127.0.0.${10 * (i + 1) + k}`) as Case['clients'],
}));

describe('behind HAProxy (TCP mode, PROXY protocol)', () => {
  /** The relay HAProxy passes TLS through to. */
  let tlsRelay: TestRelay;
  /** The relay behind HAProxy's TLS (--no-tls). */
  let plainRelay: TestRelay;
  let haproxyCert: string;
  let haproxy: TestHaproxy;
  const sessions: RelaySession[] = [];

  before(async () => {
    const common = {
      proxyProtocol: true,
      trustProxy: [HAPROXY_SOURCE],
      maxConnsPerIp: CAP,
      ...LIMITS,
    };
    tlsRelay = await startTestRelay({ ...common, tls: true });
    plainRelay = await startTestRelay({ ...common, tls: false });
    const material = await generateSelfSigned();
    haproxyCert = material.cert;
    haproxy = await startHaproxy(
      CASES.map((c) => ({
        name: c.frontend,
        backendPort: (c.tlsAt === 'relay' ? tlsRelay : plainRelay).relay.port,
        proxyProtocol: c.proxyProtocol,
        tls: c.tlsAt === 'haproxy' ? { cert: material.cert, key: material.key } : undefined,
      })),
    );
  });
  after(async () => {
    await Promise.all(sessions.map((s) => s.close()));
    await haproxy?.stop();
    await tlsRelay?.close();
    await plainRelay?.close();
  });

  for (const c of CASES) {
    const relayOf = () => (c.tlsAt === 'relay' ? tlsRelay : plainRelay);
    const caOf = () => (c.tlsAt === 'relay' ? tlsRelay.relay.tls!.cert : haproxyCert);
    const url = () => `https://127.0.0.1:${haproxy.port(c.frontend)}`;

    /** A TLS connection to HAProxy from `localAddress`; `secure` says whether TLS was set up. */
    function dial(localAddress: string): { conn: Conn; secure: Promise<boolean> } {
      const socket = tlsConnect({
        socket: netConnect({ port: haproxy.port(c.frontend), host: '127.0.0.1', localAddress }),
        ca: caOf(),
        servername: 'localhost',
      });
      const conn = track(socket);
      const secure = new Promise<boolean>((resolve) => {
        socket.once('secureConnect', () => resolve(true));
        socket.once('close', () => resolve(false));
      });
      return { conn, secure };
    }

    describe(c.label, () => {
      it('relays a WebSocket message between two clients', async () => {
        const session = (localAddress: string) => {
          const s = new RelaySession({
            url: url(),
            ca: caOf(),
            identity: generateIdentity(),
            localAddress,
            reconnect: false,
          });
          sessions.push(s);
          return s;
        };
        const alice = session(c.clients[0]);
        const bob = session(c.clients[1]);
        const got: string[] = [];
        bob.on('message', (m) => got.push(m.envelope));
        await Promise.all([alice.connect(), bob.connect()]);
        const status = await alice.send(bob.identity.identityHash, `hello through ${c.frontend}`);
        assert.equal(status.status, 'delivered');
        await waitFor(() => got.length === 1, { what: 'bob gets the message' });
        assert.deepEqual(got, [`hello through ${c.frontend}`]);
        await Promise.all([alice.close(), bob.close()]);
      });

      it('sees each client: the cap refuses one client over it while another is served', async () => {
        const [, , carol, dave] = c.clients;
        const relay = relayOf().relay;
        const refused = async () =>
          (await relay.ctx.metrics.connectionsRefused.get()).values[0]?.value ?? 0;
        const held: Conn[] = [];
        try {
          await capHolds(held, carol, dave, refused);
        } finally {
          for (const conn of held) conn.socket.destroy();
        }
      });

      async function capHolds(
        held: Conn[],
        carol: string,
        dave: string,
        refused: () => Promise<number>,
      ): Promise<void> {
        const refusedBefore = await refused();
        for (let i = 0; i < CAP; i++) {
          const { conn, secure } = dial(carol);
          held.push(conn);
          assert.equal(await secure, true);
          assert.equal(await ask(conn), 200, `carol's connection ${i + 1}`);
        }
        // Over the cap: the relay drops it at once, and HAProxy closes the client's side.
        const over = dial(carol);
        held.push(over.conn);
        if (await over.secure) over.conn.socket.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n');
        const received = await within(over.conn.closed, DEADLINE_MS, 'closed over the cap');
        assert.equal(received.length, 0, 'no answer over the cap');
        assert.equal(await refused(), refusedBefore + 1);
        const other = dial(dave);
        held.push(other.conn);
        assert.equal(await other.secure, true);
        assert.equal(await ask(other.conn), 200, 'another client is served meanwhile');
      }
    });
  }
});
