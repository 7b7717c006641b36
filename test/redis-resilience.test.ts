// The Redis backend through outages: fails fast with StoreUnavailableError, reconnects and
// resubscribes by itself, never crashes; and the start-up checks (persistence, eviction).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { StoreUnavailableError } from '../src/errors.js';
import type { RedisStore } from '../src/store/redis/redis-store.js';
import { testRedisStore } from './helpers/backends.js';
import { captureLogs } from './helpers/logs.js';
import { redisCli, startRedisServer } from './helpers/redis-server.js';
import { waitFor } from './helpers/wait.js';

const WARN = 'warn';
const hash = (): string => randomBytes(32).toString('hex');

const answers = (store: RedisStore) => () =>
  store.ping().then(
    () => true,
    () => false,
  );

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => {
  unhandled.push(reason);
};
process.on('unhandledRejection', onUnhandled);
after(() => {
  process.off('unhandledRejection', onUnhandled);
  assert.deepEqual(unhandled, []);
});

describe('RedisStore resilience', () => {
  it(
    'fails fast while Redis is down, then reconnects and resubscribes by itself',
    { timeout: 30_000 },
    async () => {
      const server = await startRedisServer();
      const { logger, lines } = captureLogs();
      const store = testRedisStore({
        url: `tcp://127.0.0.1:${server.port}`,
        requireVolatile: true,
        logger,
      });
      const publisher = testRedisStore({ url: server.url, requireVolatile: true });
      try {
        await store.connect();
        await publisher.connect();
        await Promise.all([store.ready(), publisher.ready()]);
        const secret = await store.sharedSecret('the-secret');
        const h = hash();
        const received: string[] = [];
        await store.subscribe(h, (message) => received.push(message));
        const dropped = hash();
        await store.subscribe(dropped, () => undefined);
        assert.equal(await publisher.publish(h, 'before'), 1);
        await waitFor(() => received.length === 1, { what: 'the first message arrives' });

        await server.stop();
        const limits = { maxCount: 10, maxBytes: 1000, ttlMs: 60_000, requireBundle: false };
        await assert.rejects(store.ping(), StoreUnavailableError);
        await assert.rejects(store.fetchBundle(h), StoreUnavailableError);
        await assert.rejects(
          store.takeTokens('rl:ip:x:y', { capacity: 1, windowMs: 1000 }),
          StoreUnavailableError,
        );
        await assert.rejects(
          store.enqueue(h, { id: 'm', payload: 'p' }, limits),
          StoreUnavailableError,
        );
        await assert.rejects(store.publish(h, 'lost'), StoreUnavailableError);
        await assert.rejects(
          store.subscribe(hash(), () => undefined),
          StoreUnavailableError,
        );
        await assert.rejects(store.sharedSecret('other'), StoreUnavailableError);
        await store.unsubscribe(dropped); // never throws; takes effect once Redis is back
        await waitFor(() => lines.some((l) => /connection error/.test(l.msg)), {
          what: 'a reconnection fails',
        });

        await server.start();
        await waitFor(answers(store), { what: 'the store reconnects' });
        assert.equal(lines.filter((l) => l.msg === 'Redis connected').length, 2);
        assert.ok(lines.some((l) => l.level === WARN && /connection lost/.test(l.msg)));
        assert.ok(!lines.some((l) => /persistence/i.test(l.msg)));

        // The restarted Redis is empty: the store puts its secret back.
        await waitFor(
          async () => (await redisCli(server.port, 'get', 'secret')).trim() === secret,
          { what: 'secret restored' },
        );

        // The subscription made before the outage works again once ioredis has resubscribed.
        await waitFor(answers(publisher), { what: 'the publisher reconnects' });
        await waitFor(async () => (await publisher.publish(h, 'after')) === 1, {
          what: 'the channel is resubscribed',
        });
        await waitFor(() => received.length === 2, { what: 'the second message arrives' });
        assert.deepEqual(received, ['before', 'after']);
        await waitFor(async () => (await publisher.publish(dropped, 'x')) === 0, {
          what: 'the stale channel is dropped',
        });
      } finally {
        await store.close();
        await publisher.close();
        await server.stop();
      }
    },
  );

  it(
    'connect() returns at once, ready() waits for Redis to come up',
    { timeout: 30_000 },
    async () => {
      const server = await startRedisServer();
      await server.stop();
      const { logger, lines } = captureLogs();
      const store = testRedisStore({ url: server.url, requireVolatile: true, logger });
      try {
        let connected = false;
        await store.connect();
        const connecting = store.ready().then(() => (connected = true));
        await waitFor(() => lines.some((l) => l.level === WARN), {
          what: 'a failed attempt is logged',
        });
        assert.equal(connected, false);
        await assert.rejects(store.ping(), StoreUnavailableError);
        await server.start();
        await connecting;
        await store.ping();
        assert.equal(lines.filter((l) => l.msg === 'Redis connected').length, 1);
      } finally {
        await store.close();
        await server.stop();
      }
    },
  );

  it('close() ends a pending ready()', { timeout: 10_000 }, async () => {
    const server = await startRedisServer();
    await server.stop();
    const store = testRedisStore({ url: server.url, requireVolatile: true });
    await store.connect();
    const connecting = store.ready();
    await store.close();
    await assert.rejects(connecting);
    await assert.rejects(store.ping(), StoreUnavailableError);
  });
});

describe('RedisStore persistence check', () => {
  it(
    'warns when RDB or AOF is on, and refuses with requireVolatile',
    { timeout: 30_000 },
    async () => {
      const server = await startRedisServer(['--appendonly', 'yes', '--save', '3600 1']);
      try {
        const { logger, lines } = captureLogs();
        const lenient = testRedisStore({ url: server.url, requireVolatile: false, logger });
        await lenient.connect();
        await lenient.ready();
        await lenient.close();
        const warning = lines.find((l) => l.level === WARN && /persistence/i.test(l.msg));
        assert.ok(warning, 'a persistence warning');
        assert.match(warning.msg, /RDB/);
        assert.match(warning.msg, /AOF/);

        const strict = testRedisStore({ url: server.url, requireVolatile: true });
        await strict.connect();
        await assert.rejects(strict.ready(), /persistence is on.*Refusing to start/s);
        await assert.rejects(strict.ping(), StoreUnavailableError);
      } finally {
        await server.stop();
      }
    },
  );

  it(
    'says so when CONFIG is disabled and persistence cannot be checked',
    { timeout: 30_000 },
    async () => {
      const server = await startRedisServer(['--rename-command', 'CONFIG', '']);
      const { logger, lines } = captureLogs();
      const store = testRedisStore({ url: server.url, requireVolatile: true, logger });
      try {
        await store.connect();
        await store.ready();
        assert.ok(
          lines.some((l) => l.level === WARN && /Could not check Redis persistence/.test(l.msg)),
        );
      } finally {
        await store.close();
        await server.stop();
      }
    },
  );
});

describe('RedisStore eviction check', () => {
  it(
    'warns without maxmemory, and about an evicting policy (refused with requireVolatile)',
    { timeout: 30_000 },
    async () => {
      const unbounded = await startRedisServer();
      const evicting = await startRedisServer([
        '--maxmemory',
        '64mb',
        '--maxmemory-policy',
        'allkeys-lru',
      ]);
      const bounded = await startRedisServer([
        '--maxmemory',
        '64mb',
        '--maxmemory-policy',
        'noeviction',
      ]);
      const stores: RedisStore[] = [];
      const open = async (url: string, requireVolatile: boolean) => {
        const { logger, lines } = captureLogs();
        const store = testRedisStore({ url, requireVolatile, logger });
        stores.push(store);
        await store.connect();
        return { store, warnings: () => lines.filter((l) => l.level === WARN).map((l) => l.msg) };
      };
      try {
        const a = await open(unbounded.url, true);
        await a.store.ready();
        assert.ok(a.warnings().some((m) => /no maxmemory: offline storage is unbounded/.test(m)));
        assert.ok(!a.warnings().some((m) => /may evict/.test(m)));

        const b = await open(evicting.url, false);
        await b.store.ready();
        assert.ok(b.warnings().some((m) => /may evict queued messages.*noeviction/.test(m)));
        assert.ok(!b.warnings().some((m) => /unbounded/.test(m)));

        const c = await open(evicting.url, true);
        await assert.rejects(c.store.ready(), /may evict queued messages.*Refusing to start/s);
        await assert.rejects(c.store.ping(), StoreUnavailableError);

        const d = await open(bounded.url, true);
        await d.store.ready();
        assert.deepEqual(
          d.warnings().filter((m) => /maxmemory|evict/.test(m)),
          [],
        );
      } finally {
        await Promise.all(stores.map((s) => s.close()));
        await Promise.all([unbounded.stop(), evicting.stop(), bounded.stop()]);
      }
    },
  );
});
