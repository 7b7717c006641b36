// The gauges the Grafana dashboard and the alert rules read (deploy/): PoW difficulty, store up,
// offline storage use. Each is read from a real relay's metrics listener.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { solvePowSync } from '../src/client/pow-solver.js';
import { startRedisServer, type TestRedisServer } from './helpers/redis-server.js';
import { startTestRelay, type TestRelay } from './helpers/relay.js';
import { waitFor } from './helpers/wait.js';

/** The value of an unlabelled sample in Prometheus text. */
export function sample(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  assert.ok(line !== undefined, `${name} is not in the metrics`);
  return Number(line.slice(name.length + 1));
}

const scrape = async (t: TestRelay, name: string): Promise<number> =>
  sample((await t.metrics()).body.toString(), name);

describe('gauges on the memory store', () => {
  let t: TestRelay;
  before(async () => {
    t = await startTestRelay({
      tls: false,
      powBase: 3,
      powLoadThresholds: [0, 1000, 2000],
      queueTotalBytes: 1000,
    });
  });
  after(() => t.close());

  it('entropy_pow_difficulty follows the load: base, then +1 once solutions arrive', async () => {
    assert.equal(await scrape(t, 'entropy_pow_difficulty'), 3);
    // One verified solution in the last 10 s is above the first threshold (0/s). Each attempt
    // adds a fresh solution, so a slow machine cannot let the window pass before the scrape.
    const solveOne = async (): Promise<void> => {
      const challenge = (await t.request('/pow/challenge?type=random')).json as {
        seed: string;
        difficulty: number;
      };
      const nonce = solvePowSync(challenge.seed, '', challenge.difficulty);
      const res = await t.request('/keys/random', {
        headers: { 'x-pow-seed': challenge.seed, 'x-pow-nonce': nonce },
      });
      assert.equal(res.status, 200, res.body.toString());
    };
    let seen = 3;
    await waitFor(
      async () => {
        await solveOne();
        seen = await scrape(t, 'entropy_pow_difficulty');
        return seen !== 3;
      },
      { what: 'the difficulty rises', timeoutMs: 60_000 },
    );
    assert.equal(seen, 4);
  });

  it('entropy_store_up is 1 while the store answers', async () => {
    assert.equal(await scrape(t, 'entropy_store_up'), 1);
  });

  it('entropy_offline_storage_ratio is queued bytes over ENTROPY_QUEUE_TOTAL_BYTES', async () => {
    assert.equal(await scrape(t, 'entropy_offline_storage_ratio'), 0);
    const limits = { maxCount: 10, maxBytes: 10_000, ttlMs: 60_000, requireBundle: false };
    const result = await t.relay.store.enqueue(
      'a'.repeat(64),
      { id: 'm1', payload: 'x'.repeat(250) },
      limits,
    );
    assert.equal(result, 'queued');
    assert.equal(await scrape(t, 'entropy_offline_storage_ratio'), 0.25);
  });
});

describe('gauges on Redis', () => {
  let redis: TestRedisServer;
  let t: TestRelay;
  before(async () => {
    redis = await startRedisServer(['--maxmemory', '64mb', '--maxmemory-policy', 'noeviction']);
    t = await startTestRelay({ tls: false, redisUrl: redis.url });
  });
  after(async () => {
    await t.close();
    await redis.stop();
  });

  it('entropy_offline_storage_ratio is used_memory over maxmemory', async () => {
    await waitFor(async () => (await scrape(t, 'entropy_offline_storage_ratio')) > 0, {
      what: 'the first INFO memory poll',
      timeoutMs: 30_000,
    });
    const ratio = await scrape(t, 'entropy_offline_storage_ratio');
    assert.ok(ratio > 0 && ratio < 0.5, String(ratio));
  });

  it('entropy_store_up drops to 0 while Redis is down and comes back', async () => {
    assert.equal(await scrape(t, 'entropy_store_up'), 1);
    await redis.stop();
    await waitFor(async () => (await scrape(t, 'entropy_store_up')) === 0, {
      what: 'store_up falls to 0',
      timeoutMs: 30_000,
    });
    await redis.start();
    await waitFor(async () => (await scrape(t, 'entropy_store_up')) === 1, {
      what: 'store_up returns to 1',
      timeoutMs: 30_000,
    });
  });
});

describe('gauges on an unbounded store', () => {
  it('entropy_offline_storage_ratio is NaN when no budget bounds the queues', async () => {
    const t = await startTestRelay({ tls: false, queueTotalBytes: Number.POSITIVE_INFINITY });
    try {
      assert.ok(Number.isNaN(await scrape(t, 'entropy_offline_storage_ratio')));
    } finally {
      await t.close();
    }
  });
});
