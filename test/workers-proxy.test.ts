// `entropy-relay serve --workers 2` behind a PROXY protocol balancer: the primary reads the
// header, and the worker gets the bytes that came with it and applies the cap to the header's
// client.
import assert from 'node:assert/strict';
import { connect as netConnect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Cluster, START_MS, sample } from './helpers/cluster.js';
import { startRedisServer, type TestRedisServer } from './helpers/redis-server.js';
import { waitFor } from './helpers/wait.js';

describe('two workers behind a PROXY protocol load balancer', () => {
  let redis: TestRedisServer;
  let cluster: Cluster;
  const CAP = 2;

  before(
    async () => {
      redis = await startRedisServer();
      cluster = await Cluster.start(
        {
          ENTROPY_REDIS_URL: redis.url,
          ENTROPY_PROXY_PROTOCOL: 'on',
          ENTROPY_TRUST_PROXY: '127.0.0.1',
          ENTROPY_MAX_CONNS_PER_IP: String(CAP),
        },
        ['--no-tls'],
      );
    },
    { timeout: START_MS + 30_000 },
  );
  after(async () => {
    await cluster?.stop();
    await redis?.stop();
  });

  /** A connection from the balancer (127.0.0.1) announcing `client`; `then` is sent in the same
   *  packet as the header. Resolves with what the relay answered before closing. */
  function viaBalancer(client: string, then: string): { answer: Promise<string>; end(): void } {
    const socket = netConnect({ host: '127.0.0.1', port: cluster.port, localAddress: '127.0.0.1' });
    socket.on('error', () => undefined);
    socket.on('connect', () => socket.write(`PROXY TCP4 ${client} 127.0.0.1 40000 80\r\n${then}`));
    let answer = '';
    socket.on('data', (c: Buffer) => (answer += c.toString()));
    return {
      answer: new Promise((resolve) => socket.once('close', () => resolve(answer))),
      end: () => socket.destroy(),
    };
  }

  it('hands a worker the bytes that came with the header', async () => {
    const { answer } = viaBalancer(
      '203.0.113.7',
      'GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    );
    assert.match(await answer, /^HTTP\/1\.1 200 /);
  });

  it('applies the per-IP cap to the header client, across workers', async () => {
    const held = [viaBalancer('198.51.100.9', ''), viaBalancer('198.51.100.9', '')];
    try {
      await waitFor(async () => sample(await cluster.metrics(), 'entropy_open_sockets') >= 2, {
        what: 'both connections are admitted',
      });
      const refusedBefore = sample(await cluster.metrics(), 'entropy_connections_refused_total');
      const third = viaBalancer(
        '198.51.100.9',
        'GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
      );
      assert.equal(await third.answer, '', 'the third connection of one client is refused');
      await waitFor(
        async () =>
          sample(await cluster.metrics(), 'entropy_connections_refused_total') ===
          refusedBefore + 1,
        { what: 'the refusal is counted' },
      );
      // Another client behind the same balancer still gets in.
      const other = viaBalancer(
        '198.51.100.10',
        'GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
      );
      assert.match(await other.answer, /^HTTP\/1\.1 200 /);
    } finally {
      for (const h of held) h.end();
    }
  });
});
