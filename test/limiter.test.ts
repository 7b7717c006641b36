// The rate limiter (docs/protocol.md §3) without a socket, on an injected clock: local buckets
// (refill, jail, the jail metric, forgetting an identity, the sweep that bounds them), store
// buckets (the jail cache, per-IP keys as a keyed hash under a random salt of the day, the
// recipient bucket), and failing open or closed when the store cannot be asked.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Config } from '../src/config.js';
import type { RelayError } from '../src/errors.js';
import { Metrics } from '../src/metrics.js';
import { IpSalt } from '../src/ratelimit/ip-salt.js';
import { RateLimiter } from '../src/ratelimit/limiter.js';
import { MemoryStore } from '../src/store/memory/memory-store.js';
import type { BucketSpec, TakeResult } from '../src/store/store.js';
import { DAY_MS, HOUR_MS, MINUTE_MS, SECOND_MS } from '../src/time.js';
import { T0, counterValue, domainConfig, newHash } from './helpers/domain.js';
import { silentLogger } from './helpers/logs.js';

/** The memory store, noting the bucket keys it is asked for. */
class KeyNotingStore extends MemoryStore {
  readonly keys: string[] = [];

  override takeTokens(key: string, spec: BucketSpec, cost?: number): Promise<TakeResult> {
    this.keys.push(key);
    return super.takeTokens(key, spec, cost);
  }

  override takeRecipientTokens(h: string, key: string, spec: BucketSpec, cost?: number) {
    this.keys.push(`recipient ${key}`);
    return super.takeRecipientTokens(h, key, spec, cost);
  }
}

/** A limiter on an injected clock; instances given one `shared` store share their IP salts. */
function setup(
  overrides: Partial<Config> = {},
  shared?: { clock: { now: number }; store: KeyNotingStore },
) {
  const clock = shared?.clock ?? { now: T0 };
  const now = () => clock.now;
  const store = shared?.store ?? new KeyNotingStore(now);
  const metrics = new Metrics();
  const config = domainConfig({ jailSeconds: 300, ...overrides });
  const salt = new IpSalt(store, now);
  const limiter = new RateLimiter(config, store, metrics, silentLogger(), salt, now);
  return { clock, store, metrics, limiter, salt };
}

/** The seconds a refusal asks to wait, or 0 when the take was allowed. */
function retryAfter(take: () => void): number {
  try {
    take();
    return 0;
  } catch (err) {
    const e = err as { code?: string; status?: number; retryAfterS?: number };
    assert.equal(e.code, 'rate_limited');
    assert.equal(e.status, 429);
    return e.retryAfterS ?? Number.NaN;
  }
}

async function retryAfterAsync(take: () => Promise<unknown>): Promise<number> {
  try {
    await take();
    return 0;
  } catch (err) {
    const e = err as { code?: string; retryAfterS?: number };
    assert.equal(e.code, 'rate_limited', String(err));
    return e.retryAfterS ?? Number.NaN;
  }
}

const IP = '203.0.113.9';
/** An IPv6 limit key (the /64). */
const IP6 = '2001:db8:1:2::';
const IPS = [IP, IP6];
const OPEN = { failClosed: false };
const CLOSED = { failClosed: true };

describe('local buckets', () => {
  it('hold capacity tokens and refill steadily over the window', () => {
    const { clock, limiter } = setup({ limitMsgSend: 3 });
    const h = newHash();
    const take = () => retryAfter(() => limiter.takeLocal('msg_send', h));
    assert.deepEqual([take(), take(), take()], [0, 0, 0]);
    assert.equal(take(), 4, 'one token comes back every 3.33 s');
    clock.now += 3333;
    assert.equal(take(), 1, 'not quite one token yet');
    clock.now += 1;
    assert.equal(take(), 0);
    clock.now += 60 * SECOND_MS; // idle: full again, and never more than full
    assert.deepEqual([take(), take(), take()], [0, 0, 0]);
    assert.ok(take() > 0);
  });

  it('are kept per bucket and per key', () => {
    const { limiter } = setup({ limitMsgSend: 1, limitWsFrames: 1 });
    const [a, b] = [newHash(), newHash()];
    assert.equal(
      retryAfter(() => limiter.takeLocal('msg_send', a)),
      0,
    );
    assert.ok(retryAfter(() => limiter.takeLocal('msg_send', a)) > 0);
    assert.equal(
      retryAfter(() => limiter.takeLocal('msg_send', b)),
      0,
    );
    assert.equal(
      retryAfter(() => limiter.takeLocal('ws_frames', a)),
      0,
    );
  });

  it('a cost larger than the whole bucket is refused for good: no retry_after, bucket untouched', async () => {
    const { clock, limiter, metrics } = setup({ limitQueueBytes: 1024, limitMsgSend: 3 });
    const never = (take: () => void) =>
      assert.throws(take, (err: RelayError) => {
        assert.equal(err.code, 'message_too_large');
        assert.equal(err.status, 400);
        assert.equal(err.retryAfterS, undefined, 'waiting never helps: no retry time');
        return true;
      });
    never(() => limiter.takeLocal('queue_bytes', '192.0.2.1', 1025));
    clock.now += DAY_MS;
    never(() => limiter.takeLocal('queue_bytes', '192.0.2.1', 1025));
    const h = newHash();
    for (let i = 0; i < 10; i++) never(() => limiter.takeLocal('msg_send', h, 4));
    // Nothing was taken, counted as a rate limit, or jailed: the whole bucket is still there.
    assert.equal(
      retryAfter(() => limiter.takeLocal('queue_bytes', '192.0.2.1', 1024)),
      0,
    );
    assert.equal(
      retryAfter(() => limiter.takeLocal('msg_send', h, 3)),
      0,
    );
    assert.equal(await counterValue(metrics.rateLimited), 0);
    assert.equal(await counterValue(metrics.jailed), 0);
  });

  it('the 6th refusal within two windows jails the bucket for the jail time', async () => {
    const { clock, limiter, metrics } = setup({ limitMsgSend: 1 });
    const h = newHash();
    const take = () => retryAfter(() => limiter.takeLocal('msg_send', h));
    assert.equal(take(), 0);
    assert.deepEqual([take(), take(), take(), take(), take()], [10, 10, 10, 10, 10]);
    assert.equal(await counterValue(metrics.jailed), 0);
    assert.equal(take(), 300, 'the jailing refusal reports the whole jail');
    assert.equal(take(), 300, 'in the same millisecond, still the whole jail');
    clock.now += 100 * SECOND_MS;
    assert.equal(take(), 200, 'then the time left');
    assert.equal(await counterValue(metrics.jailed, { bucket: 'identity_msg_send' }), 1);
    assert.equal(await counterValue(metrics.jailed), 1, 'one jail, counted once');
    assert.equal(await counterValue(metrics.rateLimited, { bucket: 'identity_msg_send' }), 8);
    clock.now += 200 * SECOND_MS;
    assert.equal(take(), 0, 'free (and full) when the jail ends');
  });

  it('refusals further apart than two windows do not add up to a jail', () => {
    const { clock, limiter } = setup({ limitMsgSend: 1 });
    const h = newHash();
    const take = () => retryAfter(() => limiter.takeLocal('msg_send', h));
    assert.equal(take(), 0);
    for (let i = 0; i < 5; i++) assert.equal(take(), 10);
    clock.now += 21 * SECOND_MS;
    assert.equal(take(), 0);
    for (let i = 0; i < 5; i++) assert.equal(take(), 10, `refusal ${i + 1} of a new count`);
    assert.equal(take(), 300);
  });

  it('queue_bytes is never jailed', async () => {
    const { limiter, metrics } = setup({ limitQueueBytes: 1024 });
    const take = () => retryAfter(() => limiter.takeLocal('queue_bytes', '192.0.2.1', 1024));
    assert.equal(take(), 0);
    for (let i = 0; i < 50; i++) assert.equal(take(), 60);
    assert.equal(await counterValue(metrics.jailed), 0);
    assert.equal(await counterValue(metrics.rateLimited, { bucket: 'queue_bytes' }), 50);
  });

  it('forgetIdentity frees its buckets and only its own', () => {
    const { limiter } = setup({ limitMsgSend: 1 });
    const [h, other] = [newHash(), newHash()];
    for (const id of [h, other])
      for (let i = 0; i < 7; i++) retryAfter(() => limiter.takeLocal('msg_send', id));
    assert.equal(
      retryAfter(() => limiter.takeLocal('msg_send', h)),
      300,
    );
    limiter.forgetIdentity(h);
    assert.equal(
      retryAfter(() => limiter.takeLocal('msg_send', h)),
      0,
    );
    assert.equal(
      retryAfter(() => limiter.takeLocal('msg_send', other)),
      300,
    );
  });

  it('the sweep keeps the map to the live buckets: expired ones are reclaimed as others are taken', () => {
    const { clock, limiter } = setup();
    for (let i = 0; i < 2000; i++) limiter.takeLocal('ws_frames', `old-${i}`);
    assert.equal(limiter.localBucketCount, 2000);
    clock.now += 302 * SECOND_MS; // past every bucket's keep time (the jail, plus a second)
    for (let i = 0; i < 2000; i++) limiter.takeLocal('ws_frames', `new-${i}`);
    assert.ok(
      limiter.localBucketCount <= 2000 + 256,
      `at most the live buckets and one sweep period: ${limiter.localBucketCount}`,
    );
    for (let round = 0; round < 5; round++) {
      clock.now += 302 * SECOND_MS;
      for (let i = 0; i < 2000; i++) limiter.takeLocal('ws_frames', `r${round}-${i}`);
      assert.ok(
        limiter.localBucketCount <= 2000 + 256,
        `round ${round}: ${limiter.localBucketCount}`,
      );
    }
  });

  it('the same key taken again and again is one bucket', () => {
    const { clock, limiter } = setup();
    for (let i = 0; i < 1000; i++) {
      clock.now += 50;
      limiter.takeLocal('ws_frames', '192.0.2.1');
    }
    assert.equal(limiter.localBucketCount, 1);
  });

  it('never touch the store', async () => {
    const { store, limiter } = setup();
    await store.close();
    limiter.takeLocal('msg_send', newHash());
    limiter.takeLocal('ws_frames', '192.0.2.1');
    limiter.takeLocal('queue_bytes', '192.0.2.1', 100);
    assert.deepEqual(store.keys, []);
  });
});

describe('per-IP store buckets', () => {
  it('keys carry a daily keyed hash of the IP, never the IP', async () => {
    const { store, limiter } = setup();
    for (const ip of IPS) await limiter.takeIp(ip, 'global', OPEN);
    assert.equal(store.keys.length, 2);
    for (const [i, key] of store.keys.entries()) {
      assert.match(key, /^rl:ip:global:[0-9a-f]{32}$/);
      assert.ok(!key.includes(IPS[i]!), key);
      assert.ok(!key.includes(IPS[i]!.replace(/:/g, '')), key);
    }
    assert.notEqual(store.keys[0], store.keys[1]);
  });

  it('the key is the same all day and changes at UTC midnight', async () => {
    const { clock, store, limiter } = setup();
    const keyAt = async (t: number) => {
      clock.now = t;
      await limiter.takeIp(IP, 'fetch', OPEN);
      return store.keys.at(-1);
    };
    const midnight = T0 + 10 * DAY_MS;
    const morning = await keyAt(midnight);
    assert.equal(await keyAt(midnight + DAY_MS - 1), morning);
    const next = await keyAt(midnight + DAY_MS);
    assert.notEqual(next, morning);
    assert.notEqual(await keyAt(midnight - 1), morning);
    assert.equal(await keyAt(midnight + DAY_MS + 3600_000), next);
  });

  it('a new day is a new bucket', async () => {
    const { clock, limiter } = setup({ limitKeysUpload: 1 });
    clock.now = T0 + DAY_MS - 1;
    await limiter.takeIp(IP, 'upload', OPEN);
    assert.ok((await retryAfterAsync(() => limiter.takeIp(IP, 'upload', OPEN))) > 0);
    clock.now += 1;
    assert.equal(await retryAfterAsync(() => limiter.takeIp(IP, 'upload', OPEN)), 0);
  });

  it('every instance of one store derives the same key; another store, another salt and key', async () => {
    const a = setup();
    const b = setup({}, a);
    const c = setup();
    for (const { limiter } of [a, b, c]) await limiter.takeIp(IP, 'global', OPEN);
    const keys = a.store.keys;
    assert.equal(keys.length, 2);
    assert.equal(keys[0], keys[1]);
    assert.notEqual(keys[0], c.store.keys[0]);
    assert.ok(!keys[0]!.includes(IP), 'no trace of the address');
  });

  it("the IP salt rotates: a day's salt is forgotten here and expires from the store an hour after its day", async () => {
    const a = setup();
    const b = setup({}, a);
    a.clock.now = T0 + DAY_MS - 30 * MINUTE_MS;
    await a.salt.refresh(); // today's, and tomorrow's (its last hour)
    const today = Math.floor(a.clock.now / DAY_MS);
    const salts = (day: number) => a.store.dailySalt(day, 'a new candidate', DAY_MS);
    const todays = await salts(today);
    assert.notEqual(todays, 'a new candidate', 'set by the refresh');
    assert.notEqual(await salts(today + 1), 'a new candidate', 'tomorrow fetched ahead');
    await a.limiter.takeIp(IP, 'global', OPEN);
    a.clock.now += HOUR_MS; // tomorrow, 30 min in
    await a.salt.refresh();
    await b.limiter.takeIp(IP, 'global', OPEN);
    await a.limiter.takeIp(IP, 'global', OPEN);
    const [yesterday, tomorrowB, tomorrowA] = a.store.keys;
    assert.notEqual(yesterday, tomorrowB, 'a new day, a new key');
    assert.equal(tomorrowA, tomorrowB, 'every instance rotates to the same salt');
    a.clock.now += HOUR_MS; // yesterday's salt: past its day and the hour of grace
    assert.equal(await salts(today), 'a new candidate', 'gone from the store');
  });

  it('a jailed key is cached here: the flood never reaches the store', async () => {
    const { clock, store, limiter, metrics } = setup({ powLimit: 1 });
    const take = () => retryAfterAsync(() => limiter.takeIp(IP, 'challenge', CLOSED));
    assert.equal(await take(), 0);
    for (let i = 0; i < 5; i++) assert.ok((await take()) > 0);
    assert.equal(await take(), 300);
    const asked = store.keys.length;
    for (let i = 0; i < 100; i++) assert.equal(await take(), 300);
    assert.equal(store.keys.length, asked, 'answered from the cache');
    await store.close();
    clock.now += 299 * SECOND_MS;
    assert.equal(await take(), 1, 'still jailed: the closed store is not even asked');
    assert.equal(await counterValue(metrics.jailed, { bucket: 'challenge' }), 1);
    clock.now += SECOND_MS;
    await assert.rejects(limiter.takeIp(IP, 'challenge', CLOSED), {
      code: 'storage_unavailable',
    });
  });

  it('no salt while the store does not answer: closed for writes, open for reads', async () => {
    const { limiter, metrics, store } = setup();
    await store.close();
    await assert.rejects(limiter.takeIp(IP, 'upload', CLOSED), {
      code: 'storage_unavailable',
    });
    await limiter.takeIp(IP, 'fetch', OPEN);
    assert.deepEqual(store.keys, [], 'no bucket asked for without the salt');
    assert.equal(await counterValue(metrics.storeErrors), 2);
  });
});

describe('when the store cannot be asked', () => {
  it('PoW-gated writes fail closed, reads fail open, and both are counted', async () => {
    const { store, limiter, metrics } = setup();
    await store.close();
    const h = newHash();
    await assert.rejects(limiter.takeIp(IP, 'upload', CLOSED), {
      code: 'storage_unavailable',
    });
    await assert.rejects(limiter.takeIdentity(h, 'ws_auth', CLOSED), {
      code: 'storage_unavailable',
    });
    await limiter.takeIp(IP, 'fetch', OPEN);
    await limiter.takeIdentity(h, 'ws_auth', OPEN);
    assert.equal(await limiter.takeRecipient(h, true), true, 'the recipient bucket fails open');
    assert.equal(await limiter.takeRecipient(h, false), true);
    assert.equal(await counterValue(metrics.storeErrors), 6);
  });
});

describe('per-identity store buckets', () => {
  it('forgetIdentity drops its cached jails, so a burned identity starts afresh', async () => {
    const { store, limiter } = setup({ limitWsAuthIdentity: 1 });
    const [h, other] = [newHash(), newHash()];
    const take = (id: string) => retryAfterAsync(() => limiter.takeIdentity(id, 'ws_auth', CLOSED));
    for (const id of [h, other]) for (let i = 0; i < 7; i++) await take(id);
    assert.equal(await take(h), 300);
    assert.match(store.keys.at(-1)!, new RegExp(`^rl:\\{${other}\\}:ws_auth$`));
    await store.burnIdentity(h);
    assert.equal(await take(h), 300, 'the jail is cached here');
    limiter.forgetIdentity(h);
    assert.equal(await take(h), 0);
    assert.equal(await take(other), 300);
  });
});

describe('the recipient bucket', () => {
  it('default mode, recipient only the queue can reach: no bundle → false, no bucket asked for', async () => {
    const { store, limiter } = setup();
    const h = newHash();
    assert.equal(await limiter.takeRecipient(h, true), false);
    assert.deepEqual(store.keys, [`recipient rl:{${h}}:msg_receive`]);
    assert.equal(await limiter.takeRecipient(h, false), true, 'no bundle needed otherwise');
    assert.deepEqual(store.keys.at(-1), `rl:{${h}}:msg_receive`);
  });

  it('refuses past its capacity with the wait, and is never jailed', async () => {
    const { store, limiter, metrics } = setup({ limitMsgReceive: 2 });
    const h = newHash();
    await store.putBundle(h, '{}', [], DAY_MS);
    assert.equal(await limiter.takeRecipient(h, true), true);
    assert.equal(await limiter.takeRecipient(h, true), true);
    for (let i = 0; i < 20; i++)
      assert.equal(await retryAfterAsync(() => limiter.takeRecipient(h, true)), 5);
    assert.equal(await counterValue(metrics.jailed), 0);
    assert.equal(await counterValue(metrics.rateLimited, { bucket: 'identity_msg_receive' }), 20);
  });
});
