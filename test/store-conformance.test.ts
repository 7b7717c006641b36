// One conformance suite for every Store backend: the in-process memory store, Redis, and a
// 3-node Redis Cluster (each on redis-servers this file starts and stops).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Cluster, Redis } from 'ioredis';
import { StoreUnavailableError } from '../src/errors.js';
import { MemoryStore } from '../src/store/memory/memory-store.js';
import {
  IDENTITY_BUCKETS,
  identityBucketKey,
  type BucketSpec,
  type Store,
} from '../src/store/store.js';
import { MINUTE_MS as MINUTE } from '../src/time.js';
import { testRedisStore } from './helpers/backends.js';
import { startRedisCluster, startRedisServer } from './helpers/redis-server.js';
import { waitFor } from './helpers/wait.js';

interface Backend {
  /** Another connected store on the same data (memory: a new, empty store). */
  open(): Promise<Store>;
  /** Whether stores from open() share their data (Redis) or not (memory). */
  shared: boolean;
  /** Empties the data of the backend (memory: nothing to do, open() is empty). */
  reset(): Promise<void>;
  /** Redis only: every key with its remaining TTL in ms (-1: none). */
  keys?(): Promise<Map<string, number>>;
  /** Redis only: a plain client on the backend's data. */
  client?: Redis | Cluster;
  /** Memory only: moves the stores' clock forward (Redis: time has to pass). */
  advanceClock?(ms: number): void;
  stop(): Promise<void>;
}

const hash = (): string => randomBytes(32).toString('hex');
const name = (): string => `nick_${randomBytes(4).toString('hex')}`;
/** Outlives the short TTLs (300 ms at most) given below: Redis expires keys in real time, so
 *  time has to pass (a deliberate wait, not synchronisation). */
const outliveShortTtl = (): Promise<void> => sleep(700);

function memoryBackend(): Backend {
  const opened: Store[] = [];
  let offset = 0;
  return {
    shared: false,
    advanceClock: (ms) => (offset += ms),
    async open() {
      const store = new MemoryStore(() => Date.now() + offset);
      await store.connect();
      opened.push(store);
      return store;
    },
    async reset() {},
    async stop() {
      await Promise.all(opened.map((s) => s.close()));
    },
  };
}

function redisBackend(
  connection: { url: string } | { cluster: string[] },
  nodes: string[],
  stopServers: () => Promise<void>,
): Backend {
  const opened: Store[] = [];
  // Plain connections to each node, to look at what the store wrote.
  const inspectors = nodes.map((node) => {
    const [host, port] = node.split(':');
    return new Redis({ host, port: Number(port), lazyConnect: true });
  });
  const client =
    'cluster' in connection
      ? new Cluster(inspectors.map((r) => ({ host: r.options.host, port: r.options.port })))
      : new Redis(connection.url);
  return {
    shared: true,
    client,
    async open() {
      const store = testRedisStore({ ...connection, requireVolatile: true });
      await store.connect();
      await store.ready();
      opened.push(store);
      return store;
    },
    async reset() {
      await Promise.all(inspectors.map((r) => r.flushall()));
    },
    async keys() {
      const keys = new Map<string, number>();
      for (const redis of inspectors) {
        let cursor = '0';
        do {
          const [next, batch] = await redis.scan(cursor, 'COUNT', 1000);
          for (const key of batch) keys.set(key, await redis.pttl(key));
          cursor = next;
        } while (cursor !== '0');
      }
      return keys;
    },
    async stop() {
      await Promise.all(opened.map((s) => s.close()));
      inspectors.forEach((r) => r.disconnect());
      client.disconnect();
      await stopServers();
    },
  };
}

function conformance(
  title: string,
  setup: () => Promise<Backend>,
  options = { inspectsKeys: false },
): void {
  describe(title, () => {
    let backend: Backend;
    let store: Store;

    before(async () => {
      backend = await setup();
      store = await backend.open();
    });
    after(() => backend?.stop());

    describe('connection', () => {
      it('ping resolves; a closed store throws StoreUnavailableError', async () => {
        await store.ping();
        const closed = await backend.open();
        await closed.close();
        await assert.rejects(closed.ping(), StoreUnavailableError);
        await assert.rejects(closed.fetchBundle(hash()), StoreUnavailableError);
        await assert.rejects(closed.spendSeed(hash(), MINUTE), StoreUnavailableError);
      });
    });

    describe('sharedSecret', () => {
      it('is set once, by the first candidate, and agreed on by every instance', async () => {
        await backend.reset();
        const other = backend.shared ? await backend.open() : store;
        const [a, b] = await Promise.all([
          store.sharedSecret('secret-a'),
          other.sharedSecret('secret-b'),
        ]);
        assert.equal(a, b);
        assert.ok(a === 'secret-a' || a === 'secret-b');
        assert.equal(await store.sharedSecret('secret-c'), a);
        assert.equal(await other.sharedSecret('secret-d'), a);
      });
    });

    describe('dailySalt', () => {
      it('is set once per day by the first candidate, agreed on by every instance, and expires after its TTL', async () => {
        const other = backend.shared ? await backend.open() : store;
        const day = 20_000 + Math.floor(Math.random() * 1000);
        const [a, b] = await Promise.all([
          store.dailySalt(day, 'salt-a', 200),
          other.dailySalt(day, 'salt-b', 200),
        ]);
        assert.equal(a, b);
        assert.ok(a === 'salt-a' || a === 'salt-b');
        assert.equal(await other.dailySalt(day, 'salt-c', MINUTE), a, 'a later call keeps it');
        assert.equal(await store.dailySalt(day + 1, 'salt-d', MINUTE), 'salt-d', 'another day');
        await outliveShortTtl();
        assert.equal(await store.dailySalt(day, 'salt-e', MINUTE), 'salt-e', 'expired');
      });
    });

    describe('spendSeed', () => {
      it('is true on first use and false on replay', async () => {
        const seed = hash();
        assert.equal(await store.spendSeed(seed, MINUTE), true);
        assert.equal(await store.spendSeed(seed, MINUTE), false);
        assert.equal(await store.spendSeed(hash(), MINUTE), true);
      });

      it('forgets a seed after its TTL', async () => {
        const seed = hash();
        assert.equal(await store.spendSeed(seed, 200), true);
        await outliveShortTtl();
        assert.equal(await store.spendSeed(seed, MINUTE), true);
      });
    });

    describe('takeTokens', () => {
      const bucket = (): string => `rl:ip:test:${hash().slice(0, 16)}`;

      it('allows up to capacity, then refuses with the time until the next token', async () => {
        const key = bucket();
        const spec = { capacity: 3, windowMs: MINUTE };
        for (let i = 0; i < 3; i++) assert.equal((await store.takeTokens(key, spec)).allowed, true);
        const refused = await store.takeTokens(key, spec);
        assert.equal(refused.allowed, false);
        assert.equal(refused.jailed, false);
        // One token takes 20 s to refill.
        assert.ok(
          refused.retryAfterMs > 15_000 && refused.retryAfterMs <= 20_000,
          `${refused.retryAfterMs}`,
        );
      });

      it('refills over the window', async () => {
        const key = bucket();
        const spec = { capacity: 2, windowMs: 200 };
        assert.equal((await store.takeTokens(key, spec)).allowed, true);
        assert.equal((await store.takeTokens(key, spec)).allowed, true);
        assert.equal((await store.takeTokens(key, spec)).allowed, false);
        await waitFor(async () => (await store.takeTokens(key, spec)).allowed, {
          what: 'a token is back',
        });
        await sleep(300); // more than a window: full again
        assert.equal((await store.takeTokens(key, spec)).allowed, true);
        assert.equal((await store.takeTokens(key, spec)).allowed, true);
      });

      it('takes `cost` tokens at once', async () => {
        const key = bucket();
        const spec = { capacity: 5, windowMs: MINUTE };
        assert.equal((await store.takeTokens(key, spec, 3)).allowed, true);
        const refused = await store.takeTokens(key, spec, 3);
        assert.equal(refused.allowed, false);
        assert.ok(refused.retryAfterMs > 0);
        assert.equal((await store.takeTokens(key, spec, 2)).allowed, true);
        assert.equal((await store.takeTokens(key, spec, 1)).allowed, false);
        // More than the capacity is never allowed (the reference gives retryAfterMs 0 when full).
        const tooMuch = await store.takeTokens(bucket(), spec, 10);
        assert.equal(tooMuch.allowed, false);
        assert.ok(tooMuch.retryAfterMs >= 0 && tooMuch.retryAfterMs <= MINUTE);
      });

      it('jails the bucket on the 6th refusal, for jailMs', async () => {
        const key = bucket();
        const spec: BucketSpec = {
          capacity: 1,
          windowMs: MINUTE,
          jail: { strikes: 6, jailMs: 5000 },
        };
        assert.equal((await store.takeTokens(key, spec)).allowed, true);
        for (let i = 1; i <= 5; i++) {
          const refused = await store.takeTokens(key, spec);
          assert.equal(refused.allowed, false);
          assert.equal(refused.jailed, false, `refusal ${i}`);
          assert.ok(refused.retryAfterMs > 5000);
        }
        const jailing = await store.takeTokens(key, spec);
        assert.deepEqual(
          { allowed: jailing.allowed, jailed: jailing.jailed, retryAfterMs: jailing.retryAfterMs },
          { allowed: false, jailed: true, retryAfterMs: 5000 },
        );
        assert.ok(Math.abs(jailing.jailedUntil - (Date.now() + 5000)) < 2000);
        const jailed = await store.takeTokens(key, spec);
        assert.equal(jailed.allowed, false);
        assert.equal(jailed.jailed, true);
        assert.equal(jailed.jailedUntil, jailing.jailedUntil);
        assert.ok(jailed.retryAfterMs > 0 && jailed.retryAfterMs <= 5000);
      });

      it('lets a jailed bucket go after jailMs', async () => {
        const key = bucket();
        const spec: BucketSpec = { capacity: 1, windowMs: 1000, jail: { strikes: 2, jailMs: 300 } };
        assert.equal((await store.takeTokens(key, spec)).allowed, true);
        await store.takeTokens(key, spec);
        const jailing = await store.takeTokens(key, spec);
        assert.equal(jailing.jailed, true);
        assert.equal(jailing.retryAfterMs, 300);
        await waitFor(async () => (await store.takeTokens(key, spec)).allowed, {
          what: 'the jail is over',
        });
      });

      it('takeRecipientTokens: no_recipient and nothing written without a bundle', async () => {
        const h = hash();
        const key = identityBucketKey(h, 'msg_receive');
        const spec = { capacity: 2, windowMs: MINUTE };
        for (let i = 0; i < 3; i++)
          assert.equal(await store.takeRecipientTokens(h, key, spec), 'no_recipient');
        if (backend.keys) {
          const keys = [...(await backend.keys()).keys()];
          assert.deepEqual(
            keys.filter((k) => k.includes(h)),
            [],
          );
        }
        await store.putBundle(h, 'b', [], MINUTE);
        // The refusals took nothing: the whole capacity is there, then the bucket refuses.
        const takes: Array<Awaited<ReturnType<Store['takeRecipientTokens']>>> = [];
        for (let i = 0; i < 3; i++) takes.push(await store.takeRecipientTokens(h, key, spec));
        assert.deepEqual(
          takes.map((t) => (t === 'no_recipient' ? t : t.allowed)),
          [true, true, false],
        );
        assert.equal((await store.takeTokens(key, spec)).allowed, false, 'the same bucket');
      });

      it('never jails a bucket without spec.jail', async () => {
        const key = bucket();
        const spec = { capacity: 1, windowMs: MINUTE };
        assert.equal((await store.takeTokens(key, spec)).allowed, true);
        for (let i = 0; i < 20; i++) {
          const refused = await store.takeTokens(key, spec);
          assert.equal(refused.allowed, false);
          assert.equal(refused.jailed, false);
          assert.ok(refused.retryAfterMs > 0 && refused.retryAfterMs <= MINUTE);
        }
      });
    });

    describe('bundles', () => {
      it('fetchBundle consumes one prekey per fetch, then returns prekey null', async () => {
        const h = hash();
        const prekeys = ['pk-1', 'pk-2 with\nnewline', 'pk-3 é✓'];
        assert.equal(await store.putBundle(h, '{"identityKey":"ik"}', prekeys, MINUTE), 3);
        assert.equal(await store.prekeyCount(h), 3);
        assert.equal(await store.bundleOf(h), '{"identityKey":"ik"}');
        assert.equal(await store.prekeyCount(h), 3, 'bundleOf consumes nothing');
        for (const prekey of prekeys) {
          assert.deepEqual(await store.fetchBundle(h), { bundle: '{"identityKey":"ik"}', prekey });
        }
        assert.deepEqual(await store.fetchBundle(h), {
          bundle: '{"identityKey":"ik"}',
          prekey: null,
        });
        assert.deepEqual(await store.fetchBundle(h), {
          bundle: '{"identityKey":"ik"}',
          prekey: null,
        });
        assert.equal(await store.prekeyCount(h), 0);
      });

      it('knows nothing of an unknown identity', async () => {
        const h = hash();
        assert.equal(await store.fetchBundle(h), null);
        assert.equal(await store.bundleOf(h), null);
        assert.equal(await store.prekeyCount(h), null);
        assert.equal(await store.firstSeen(h), null);
      });

      it('putBundle replaces the bundle and the whole prekey set', async () => {
        const h = hash();
        await store.putBundle(h, 'b1', ['a', 'b', 'c'], MINUTE);
        assert.equal((await store.fetchBundle(h))?.prekey, 'a');
        assert.equal(await store.putBundle(h, 'b2', ['x', 'y'], MINUTE), 2);
        assert.equal(await store.prekeyCount(h), 2);
        assert.deepEqual(await store.fetchBundle(h), { bundle: 'b2', prekey: 'x' });
        assert.equal(await store.putBundle(h, 'b3', [], MINUTE), 0);
        assert.equal(await store.prekeyCount(h), 0);
        assert.deepEqual(await store.fetchBundle(h), { bundle: 'b3', prekey: null });
      });

      it('keeps the first-seen time across uploads', async () => {
        const h = hash();
        await store.putBundle(h, 'b1', ['a'], MINUTE);
        const first = await store.firstSeen(h);
        assert.ok(first !== null && Math.abs(first - Date.now()) < 5000, `${first}`);
        await sleep(20); // a later upload, at a later time: first-seen must not move
        await store.putBundle(h, 'b2', ['b'], MINUTE);
        assert.equal(await store.firstSeen(h), first);
      });

      it('forgets a bundle, its prekeys and first-seen time after the TTL', async () => {
        const h = hash();
        await store.putBundle(h, 'b1', ['a', 'b'], 300);
        const first = await store.firstSeen(h);
        assert.notEqual(await store.fetchBundle(h), null);
        await outliveShortTtl();
        assert.equal(await store.fetchBundle(h), null);
        assert.equal(await store.prekeyCount(h), null);
        assert.equal(await store.firstSeen(h), null);
        await store.putBundle(h, 'b2', ['c'], MINUTE);
        assert.deepEqual(await store.fetchBundle(h), { bundle: 'b2', prekey: 'c' });
        assert.ok(first !== null && ((await store.firstSeen(h)) ?? 0) > first);
      });

      it('50 parallel fetches of a 20-prekey bundle hand out 20 distinct prekeys and 30 nulls', async () => {
        const h = hash();
        const prekeys = Array.from({ length: 20 }, (_, i) => `prekey-${i}`);
        await store.putBundle(h, 'bundle', prekeys, MINUTE);
        const fetched = await Promise.all(Array.from({ length: 50 }, () => store.fetchBundle(h)));
        assert.ok(fetched.every((f) => f?.bundle === 'bundle'));
        const handedOut = fetched.map((f) => f?.prekey).filter((p) => p !== null);
        assert.equal(handedOut.length, 20);
        assert.deepEqual(new Set(handedOut), new Set(prekeys));
        assert.equal(await store.prekeyCount(h), 0);
      });
    });

    describe('randomIdentities', () => {
      it('returns distinct live identities, never more than exist, uniformly', async () => {
        await backend.reset();
        const s = await backend.open();
        assert.deepEqual(await s.randomIdentities(5), []);
        const ids = [hash(), hash(), hash()].sort();
        for (const id of ids) await s.putBundle(id, 'b', ['p'], MINUTE);

        assert.deepEqual((await s.randomIdentities(10)).sort(), ids);
        const two = await s.randomIdentities(2);
        assert.equal(new Set(two).size, 2);
        assert.ok(two.every((id) => ids.includes(id)));
        assert.deepEqual(await s.randomIdentities(0), []);

        const counts = new Map<string, number>();
        for (let i = 0; i < 300; i++) {
          const [id] = await s.randomIdentities(1);
          counts.set(id ?? '', (counts.get(id ?? '') ?? 0) + 1);
        }
        assert.deepEqual([...counts.keys()].sort(), ids);
        for (const n of counts.values()) assert.ok(n > 50, `uneven draw: ${[...counts.values()]}`);

        const shortLived = hash();
        await s.putBundle(shortLived, 'b', [], 300);
        assert.ok((await s.randomIdentities(10)).includes(shortLived));
        await outliveShortTtl();
        assert.deepEqual((await s.randomIdentities(10)).sort(), ids);

        await s.burnIdentity(ids[0] ?? '');
        assert.deepEqual((await s.randomIdentities(10)).sort(), ids.slice(1));
      });
    });

    describe('nicknames', () => {
      it('registers, refuses a name taken by another identity, refreshes, releases the old name', async () => {
        const [a, b] = [hash(), hash()];
        const [first, second] = [name(), name()];
        assert.equal(await store.registerNickname(a, first, 'Alice_X', MINUTE), 'ok');
        assert.deepEqual(await store.lookupNickname(first), {
          identityHash: a,
          nickname: 'Alice_X',
        });

        assert.equal(await store.registerNickname(b, first, 'ALICE_X', MINUTE), 'taken');
        assert.deepEqual(await store.lookupNickname(first), {
          identityHash: a,
          nickname: 'Alice_X',
        });

        assert.equal(await store.registerNickname(a, first, 'alice_x', MINUTE), 'ok');
        assert.deepEqual(await store.lookupNickname(first), {
          identityHash: a,
          nickname: 'alice_x',
        });

        assert.equal(await store.registerNickname(a, second, 'Bob', MINUTE), 'ok');
        assert.equal(await store.lookupNickname(first), null);
        assert.deepEqual(await store.lookupNickname(second), { identityHash: a, nickname: 'Bob' });

        assert.equal(await store.registerNickname(b, first, 'Alice_X', MINUTE), 'ok');
        assert.deepEqual(await store.lookupNickname(first), {
          identityHash: b,
          nickname: 'Alice_X',
        });
        assert.equal(await store.lookupNickname(name()), null);
      });

      it('expires after its TTL unless refreshed by the owner', async () => {
        const [a, b] = [hash(), hash()];
        const [refreshed, expiring] = [name(), name()];
        await store.registerNickname(a, refreshed, 'Refreshed', 300);
        await store.registerNickname(a, refreshed, 'Refreshed', MINUTE);
        await store.registerNickname(b, expiring, 'Expiring', 300);
        await outliveShortTtl();
        assert.deepEqual(await store.lookupNickname(refreshed), {
          identityHash: a,
          nickname: 'Refreshed',
        });
        assert.equal(await store.lookupNickname(expiring), null);
        assert.equal(await store.registerNickname(a, expiring, 'Expiring', MINUTE), 'ok');
      });
    });

    describe('session tokens', () => {
      const live = async (h: string, tokens: string[]) => {
        const found = await Promise.all(tokens.map((t) => store.hasSessionToken(h, t)));
        return tokens.filter((_, i) => found[i]);
      };

      it('keeps the newest maxTokens tokens: each one more revokes the oldest', async () => {
        const h = hash();
        const tokens = Array.from({ length: 6 }, (_, i) => `token-${i}`);
        for (const token of tokens.slice(0, 3)) await store.addSessionToken(h, token, MINUTE, 3);
        assert.deepEqual(await live(h, tokens), tokens.slice(0, 3));
        await store.addSessionToken(h, tokens[3]!, MINUTE, 3);
        assert.deepEqual(await live(h, tokens), tokens.slice(1, 4));
        await store.addSessionToken(h, tokens[4]!, MINUTE, 3);
        await store.addSessionToken(h, tokens[5]!, MINUTE, 3);
        assert.deepEqual(await live(h, tokens), tokens.slice(3));
        assert.equal(await store.hasSessionToken(h, 'never-issued'), false);
      });

      it('never revokes the token just added, even when many share a millisecond', async () => {
        const h = hash();
        const tokens = Array.from({ length: 50 }, (_, i) => `t-${String(i).padStart(2, '0')}`);
        // Newest first in name order: a tie broken by name would keep the wrong ones.
        for (const token of [...tokens].reverse()) {
          await store.addSessionToken(h, token, MINUTE, 2);
          assert.equal(await store.hasSessionToken(h, token), true, token);
        }
        assert.deepEqual(await live(h, tokens), tokens.slice(0, 2));
        await store.addSessionToken(h, 'single', MINUTE, 1);
        assert.deepEqual(await live(h, [...tokens, 'single']), ['single']);
      });

      it('refuses expired tokens and drops them before revoking a live one', async () => {
        const h = hash();
        await store.addSessionToken(h, 'short', 300, 2);
        await store.addSessionToken(h, 'long', MINUTE, 2);
        await outliveShortTtl();
        assert.equal(await store.hasSessionToken(h, 'short'), false);
        await store.addSessionToken(h, 'new', MINUTE, 2);
        assert.deepEqual(await live(h, ['short', 'long', 'new']), ['long', 'new']);
      });

      it('lives as long as its longest-lived token, and is gone once all expired', async () => {
        const [h, gone] = [hash(), hash()];
        await store.addSessionToken(h, 'long', MINUTE, 5);
        await store.addSessionToken(h, 'short', 300, 5);
        await store.addSessionToken(gone, 'short', 300, 5);
        await outliveShortTtl();
        assert.deepEqual(await live(h, ['long', 'short']), ['long']);
        assert.equal(await store.hasSessionToken(gone, 'short'), false);
        if (backend.keys) {
          assert.deepEqual(
            [...(await backend.keys()).keys()].filter((k) => k.includes(gone)),
            [],
          );
        }
      });

      it('keeps the tokens of one identity apart from every other', async () => {
        const [a, b] = [hash(), hash()];
        await store.addSessionToken(a, 'same', MINUTE, 1);
        await store.addSessionToken(b, 'same', MINUTE, 1);
        await store.addSessionToken(b, 'b-only', MINUTE, 5);
        assert.equal(await store.hasSessionToken(a, 'b-only'), false);
        await store.addSessionToken(a, 'next', MINUTE, 1);
        assert.deepEqual(await live(a, ['same', 'next', 'b-only']), ['next']);
        assert.deepEqual(await live(b, ['same', 'next', 'b-only']), ['same', 'b-only']);
      });
    });

    describe('offline queue', () => {
      const limits = (maxCount: number, maxBytes: number, ttlMs = MINUTE) => ({
        maxCount,
        maxBytes,
        ttlMs,
        requireBundle: false,
      });

      it('keeps items in order, refuses past maxCount, removes exactly the given ids', async () => {
        const h = hash();
        const items = [
          { id: 'm1', payload: '{"type":"msg","n":1}' },
          { id: 'm2', payload: 'line 1\nline 2' },
          { id: 'm3', payload: 'héllo ✓' },
        ];
        for (const item of items)
          assert.equal(await store.enqueue(h, item, limits(3, 10_000)), 'queued');
        assert.equal(
          await store.enqueue(h, { id: 'm4', payload: 'x' }, limits(3, 10_000)),
          'mailbox_full',
        );
        assert.deepEqual(await store.queued(h), items);

        assert.equal(await store.removeQueued(h, ['m2', 'unknown']), 1);
        assert.deepEqual(await store.queued(h), [items[0], items[2]]);
        assert.equal(
          await store.enqueue(h, { id: 'm4', payload: 'x' }, limits(3, 10_000)),
          'queued',
        );
        assert.deepEqual(
          (await store.queued(h)).map((i) => i.id),
          ['m1', 'm3', 'm4'],
        );

        assert.equal(await store.removeQueued(h, ['m1', 'm3', 'm4']), 3);
        assert.deepEqual(await store.queued(h), []);
        assert.equal(await store.removeQueued(h, ['m1']), 0);
        assert.equal(await store.removeQueued(h, []), 0);
        assert.equal(await store.removeQueued(hash(), ['m1']), 0);
      });

      it('refuses past maxBytes (UTF-8 bytes) and keeps the queue unchanged', async () => {
        const h = hash();
        assert.equal(
          await store.enqueue(h, { id: 'a', payload: 'abcdef' }, limits(100, 10)),
          'queued',
        );
        assert.equal(
          await store.enqueue(h, { id: 'b', payload: 'ghijk' }, limits(100, 10)),
          'mailbox_full',
        );
        assert.deepEqual(await store.queued(h), [{ id: 'a', payload: 'abcdef' }]);
        assert.equal(
          await store.enqueue(h, { id: 'c', payload: 'wxyz' }, limits(100, 10)),
          'queued',
        );
        assert.equal(
          await store.enqueue(h, { id: 'd', payload: 'z' }, limits(100, 10)),
          'mailbox_full',
        );
        assert.equal(await store.removeQueued(h, ['a']), 1);
        assert.equal(
          await store.enqueue(h, { id: 'e', payload: 'ghijk' }, limits(100, 10)),
          'queued',
        );
        assert.deepEqual(
          (await store.queued(h)).map((i) => i.id),
          ['c', 'e'],
        );

        const u = hash();
        assert.equal(
          await store.enqueue(u, { id: 'x', payload: 'éé' }, limits(100, 3)),
          'mailbox_full',
        );
        assert.equal(await store.enqueue(u, { id: 'y', payload: 'é' }, limits(100, 3)), 'queued');
        assert.equal(await store.enqueue(u, { id: 'z', payload: 'a' }, limits(100, 3)), 'queued');
        assert.equal(
          await store.enqueue(u, { id: 'w', payload: 'a' }, limits(100, 3)),
          'mailbox_full',
        );
      });

      it('forgets the queue and its counters after the TTL', async () => {
        const h = hash();
        assert.equal(
          await store.enqueue(h, { id: 'a', payload: 'abc' }, limits(1, 3, 300)),
          'queued',
        );
        await outliveShortTtl();
        assert.deepEqual(await store.queued(h), []);
        assert.equal(
          await store.enqueue(h, { id: 'b', payload: 'def' }, limits(1, 3, 300)),
          'queued',
        );
      });

      /** Lets an item with a TTL of `ms` expire: moves the memory store's clock, or waits for
       *  Redis time to pass, until `expired()` says so. */
      const expire = async (ms: number, expired: () => Promise<boolean>): Promise<void> => {
        backend.advanceClock?.(ms + 1);
        await waitFor(expired, { what: 'the item expires' });
      };
      const ids = async (h: string) => (await store.queued(h)).map((i) => i.id);

      it('refuses no_recipient, storing nothing, when a bundle is required and none is stored', async () => {
        const h = hash();
        const needsBundle = { ...limits(10, 1000), requireBundle: true };
        const item = { id: 'a', payload: 'x' };
        assert.equal(await store.enqueue(h, item, needsBundle), 'no_recipient');
        assert.deepEqual(await store.queued(h), []);
        if (backend.keys) {
          assert.deepEqual(
            [...(await backend.keys()).keys()].filter((k) => k.includes(h)),
            [],
          );
        }
        await store.putBundle(h, 'bundle', [], MINUTE);
        assert.equal(await store.enqueue(h, item, needsBundle), 'queued');
        await store.burnIdentity(h);
        assert.equal(await store.enqueue(h, item, needsBundle), 'no_recipient');
        assert.deepEqual(await store.queued(h), []);
      });

      it('expires each item after its own TTL: an old item goes, a newer one stays', async () => {
        const h = hash();
        assert.equal(
          await store.enqueue(h, { id: 'old', payload: 'o' }, limits(10, 100, 300)),
          'queued',
        );
        assert.equal(
          await store.enqueue(h, { id: 'new', payload: 'n' }, limits(10, 100)),
          'queued',
        );
        await expire(300, async () => (await ids(h)).length < 2);
        assert.deepEqual(await store.queued(h), [{ id: 'new', payload: 'n' }]);
      });

      it('an expired item frees its count and bytes for new items', async () => {
        const h = hash();
        assert.equal(
          await store.enqueue(h, { id: 'a', payload: 'aaaa' }, limits(2, 8, 300)),
          'queued',
        );
        assert.equal(await store.enqueue(h, { id: 'b', payload: 'bbbb' }, limits(2, 8)), 'queued');
        assert.equal(
          await store.enqueue(h, { id: 'c', payload: 'c' }, limits(3, 8)),
          'mailbox_full',
        );
        assert.equal(
          await store.enqueue(h, { id: 'c', payload: 'c' }, limits(2, 100)),
          'mailbox_full',
        );
        await expire(300, async () => !(await ids(h)).includes('a'));
        assert.equal(await store.enqueue(h, { id: 'c', payload: 'cccc' }, limits(2, 8)), 'queued');
        assert.deepEqual(await ids(h), ['b', 'c']);
        assert.equal(
          await store.enqueue(h, { id: 'd', payload: 'd' }, limits(3, 8)),
          'mailbox_full',
        );
        assert.equal(await store.removeQueued(h, ['a']), 0);
      });

      it('never returns an expired item inside the queue; removeQueued drops it', async () => {
        const h = hash();
        assert.equal(await store.enqueue(h, { id: 'x', payload: 'xx' }, limits(3, 6)), 'queued');
        assert.equal(
          await store.enqueue(h, { id: 'y', payload: 'yy' }, limits(3, 6, 300)),
          'queued',
        );
        assert.equal(await store.enqueue(h, { id: 'z', payload: 'zz' }, limits(3, 6)), 'queued');
        await expire(300, async () => !(await ids(h)).includes('y'));
        assert.deepEqual(await ids(h), ['x', 'z']);
        assert.equal(await store.removeQueued(h, ['x', 'y']), 1);
        assert.deepEqual(await ids(h), ['z']);
        // y no longer counts: two more fit (count 3, bytes 6).
        assert.equal(await store.enqueue(h, { id: 'v', payload: 'vv' }, limits(3, 6)), 'queued');
        assert.equal(await store.enqueue(h, { id: 'w', payload: 'ww' }, limits(3, 6)), 'queued');
        assert.deepEqual(await ids(h), ['z', 'v', 'w']);
      });

      // Redis only: the memory store has no keys, and no older relays wrote to it.
      if (!options.inspectsKeys) return;

      it('the queue keys expire with the newest item', async () => {
        const client = backend.client!;
        const h = hash();
        await store.enqueue(h, { id: 'a', payload: 'a' }, limits(10, 100, 2 * MINUTE));
        await store.enqueue(h, { id: 'b', payload: 'b' }, limits(10, 100, 3 * MINUTE));
        for (const key of [`offline:{${h}}`, `offsize:{${h}}`]) {
          const ttl = await client.pttl(key);
          assert.ok(ttl > 2 * MINUTE && ttl <= 3 * MINUTE, `${key}: ${ttl}`);
        }
        await store.removeQueued(h, ['b']);
        for (const key of [`offline:{${h}}`, `offsize:{${h}}`]) {
          const ttl = await client.pttl(key);
          assert.ok(ttl > MINUTE && ttl <= 2 * MINUTE, `${key}: ${ttl}`);
        }
      });

      it('reads items written by older relays ("<id>\\n<payload>")', async () => {
        const client = backend.client!;
        const h = hash();
        const old = '{"type":"msg","n":1}';
        await client.rpush(`offline:{${h}}`, `old\n${old}`);
        await client.pexpire(`offline:{${h}}`, MINUTE);
        await client.set(`offsize:{${h}}`, Buffer.byteLength(old), 'PX', MINUTE);
        assert.deepEqual(await store.queued(h), [{ id: 'old', payload: old }]);
        assert.equal(
          await store.enqueue(h, { id: 'new', payload: '{"n":2}' }, limits(2, 100)),
          'queued',
        );
        assert.deepEqual(await store.queued(h), [
          { id: 'old', payload: old },
          { id: 'new', payload: '{"n":2}' },
        ]);
        assert.equal(
          await store.enqueue(h, { id: 'x', payload: '{}' }, limits(2, 100)),
          'mailbox_full',
        );
        assert.equal(
          await store.enqueue(h, { id: 'x', payload: '{}' }, limits(3, 27)),
          'mailbox_full',
        );
        assert.equal(await store.removeQueued(h, ['old']), 1);
        assert.deepEqual(await ids(h), ['new']);
        assert.equal(await store.enqueue(h, { id: 'x', payload: '{}' }, limits(2, 9)), 'queued');
      });
    });

    describe('burnIdentity', () => {
      it('deletes every trace of the identity and nothing else', async () => {
        await backend.reset();
        const s = await backend.open();
        const [h, other] = [hash(), hash()];
        const [nick, otherNick] = [name(), name()];
        const spec = { capacity: 1, windowMs: MINUTE };
        for (const id of [h, other]) await s.putBundle(id, 'bundle', ['p1', 'p2'], MINUTE);
        await s.registerNickname(h, nick, 'Burner', MINUTE);
        await s.registerNickname(other, otherNick, 'Other', MINUTE);
        await s.addSessionToken(h, 'token', MINUTE, 5);
        await s.addSessionToken(h, 'token-2', MINUTE, 5);
        await s.addSessionToken(other, 'token', MINUTE, 5);
        await s.enqueue(
          h,
          { id: 'm1', payload: 'hello' },
          { maxCount: 10, maxBytes: 1000, ttlMs: MINUTE, requireBundle: true },
        );
        for (const bucket of IDENTITY_BUCKETS) {
          await s.takeTokens(identityBucketKey(h, bucket), spec);
          assert.equal((await s.takeTokens(identityBucketKey(h, bucket), spec)).allowed, false);
        }
        if (backend.keys) {
          const tag = `{${h}}`;
          const expected = ['bundle', 'prekeys', 'seen', 'nickof', 'session', 'offline', 'offsize'];
          assert.deepEqual(
            [...(await backend.keys()).keys()].filter((k) => k.includes(h)).sort(),
            [
              ...expected.map((k) => `${k}:${tag}`),
              ...IDENTITY_BUCKETS.map((b) => identityBucketKey(h, b)),
            ].sort(),
          );
        }

        await s.burnIdentity(h);

        if (backend.keys) {
          assert.deepEqual(
            [...(await backend.keys()).keys()].filter((k) => k.includes(h)),
            [],
          );
        }
        assert.equal(await s.fetchBundle(h), null);
        assert.equal(await s.prekeyCount(h), null);
        assert.equal(await s.firstSeen(h), null);
        assert.equal(await s.lookupNickname(nick), null);
        assert.equal(await s.hasSessionToken(h, 'token'), false);
        assert.equal(await s.hasSessionToken(h, 'token-2'), false);
        assert.equal(await s.hasSessionToken(other, 'token'), true);
        assert.deepEqual(await s.queued(h), []);
        assert.deepEqual(await s.randomIdentities(10), [other]);
        for (const bucket of IDENTITY_BUCKETS) {
          assert.equal((await s.takeTokens(identityBucketKey(h, bucket), spec)).allowed, true);
        }
        assert.deepEqual(await s.fetchBundle(other), { bundle: 'bundle', prekey: 'p1' });
        assert.deepEqual(await s.lookupNickname(otherNick), {
          identityHash: other,
          nickname: 'Other',
        });
        assert.equal(await s.registerNickname(other, nick, 'Burner', MINUTE), 'ok');

        await s.burnIdentity(h);
        await s.burnIdentity(hash());
      });
    });

    describe('pub/sub', () => {
      it('publishes to the subscriber of an identity, counting receivers', async () => {
        const receiver = backend.shared ? await backend.open() : store;
        const h = hash();
        assert.equal(await store.publish(h, 'nobody listens'), 0);

        const first: string[] = [];
        await receiver.subscribe(h, (m) => first.push(m));
        assert.equal(await store.publish(h, 'hello ✓\n{"type":"msg"}'), 1);
        await waitFor(() => first.length === 1, { what: 'the message arrives' });
        assert.deepEqual(first, ['hello ✓\n{"type":"msg"}']);

        // One handler per identity: subscribing again replaces it.
        const second: string[] = [];
        await receiver.subscribe(h, (m) => second.push(m));
        assert.equal(await store.publish(h, 'again'), 1);
        await waitFor(() => second.length === 1, { what: 'the second handler gets it' });
        assert.deepEqual(first, ['hello ✓\n{"type":"msg"}']);

        assert.equal(await store.publish(hash(), 'other identity'), 0);
        await receiver.unsubscribe(h);
        assert.equal(await store.publish(h, 'gone'), 0);
        await receiver.unsubscribe(hash());
        await sleep(50); // a moment for anything wrongly delivered to show up
        assert.deepEqual(second, ['again']);
      });
    });

    // Redis only: the memory store has no keys to inspect (its TTLs are tested above).
    describe('TTLs', () => {
      if (!options.inspectsKeys) return;
      it('every key written has a TTL', async () => {
        const [h, other] = [hash(), hash()];
        await store.sharedSecret('secret');
        await store.spendSeed(hash(), MINUTE);
        await store.takeTokens(`rl:ip:ttl:${h}`, { capacity: 1, windowMs: 1000 });
        const jail = { capacity: 1, windowMs: 1000, jail: { strikes: 1, jailMs: 5000 } };
        for (const bucket of IDENTITY_BUCKETS) {
          await store.takeTokens(identityBucketKey(h, bucket), jail);
          await store.takeTokens(identityBucketKey(h, bucket), jail);
          await store.takeTokens(identityBucketKey(h, bucket), jail);
        }
        await store.putBundle(h, 'b', ['p1', 'p2'], MINUTE);
        await store.putBundle(h, 'b', ['p1', 'p2', 'p3'], MINUTE);
        await store.fetchBundle(h);
        await store.registerNickname(h, name(), 'N1', MINUTE);
        await store.registerNickname(h, name(), 'N2', MINUTE);
        await store.addSessionToken(h, 't1', MINUTE, 5);
        await store.addSessionToken(h, 't2', MINUTE, 5);
        await store.addSessionToken(h, 't3', 1000, 2);
        const limits = { maxCount: 10, maxBytes: 1000, ttlMs: MINUTE, requireBundle: false };
        for (const id of ['a', 'b', 'c']) await store.enqueue(h, { id, payload: id }, limits);
        await store.removeQueued(h, ['b']);
        await store.putBundle(other, 'b', [], MINUTE);
        await store.burnIdentity(other);

        const keys = await backend.keys!();
        assert.ok(keys.size >= 12, `only ${keys.size} keys`);
        const withoutTtl = [...keys].filter(([, ttl]) => ttl <= 0).map(([key]) => key);
        assert.deepEqual(withoutTtl, []);
      });
    });
  });
}

conformance('MemoryStore', async () => memoryBackend());

conformance(
  'RedisStore (single Redis)',
  async () => {
    const server = await startRedisServer();
    return redisBackend({ url: server.url }, [`127.0.0.1:${server.port}`], () => server.stop());
  },
  { inspectsKeys: true },
);

conformance(
  'RedisStore (Redis Cluster, 3 masters)',
  async () => {
    const cluster = await startRedisCluster(3);
    return redisBackend({ cluster: cluster.nodes }, cluster.nodes, () => cluster.stop());
  },
  { inspectsKeys: true },
);
