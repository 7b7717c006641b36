// Proof of work: the v1 hash rule, nonce validation, stateless seeds, the difficulty rules of
// docs/protocol.md §2.2 (load, age, nickname, minimums, cap, floor), purpose binding, single use,
// and the worker-thread client solver.
import { ServerSecret } from '../src/secret.js';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { solvePow, solvePowSync, solverThreads } from '../src/client/pow-solver.js';
import { RelayError } from '../src/errors.js';
import { Metrics } from '../src/metrics.js';
import { normaliseNonce, powDigestMeets } from '../src/pow/hash-rule.js';
import { PowService, type PowRequest } from '../src/pow/pow-service.js';
import { decodeSeed, encodeSeed, type SeedData } from '../src/pow/seed.js';
import { MemoryStore } from '../src/store/memory/memory-store.js';
import { DAY_MS } from '../src/time.js';
import { solveExactly } from './helpers/pow.js';

const SECRET = 'test-secret-with-at-least-32-characters!';
const T0 = Date.UTC(2025, 0, 1);
const ALICE = 'a'.repeat(64);
const BOB = 'b'.repeat(64);

/** The rule written out independently: hex digest, '0' characters. */
function hexRule(seed: string, context: string, nonce: string, difficulty: number): boolean {
  const digest = createHash('sha256')
    .update(Buffer.from(seed, 'ascii'))
    .update(Buffer.from(context, 'utf8'))
    .update(Buffer.from(nonce, 'ascii'))
    .digest('hex');
  return digest.startsWith('0'.repeat(difficulty));
}

/** A nonce meeting `difficulty` for `context` but not for `otherContext`. */
function solveOnlyFor(seed: string, context: string, difficulty: number, otherContext: string) {
  for (let n = 0; ; n++) {
    const nonce = String(n);
    if (
      hexRule(seed, context, nonce, difficulty) &&
      !hexRule(seed, otherContext, nonce, difficulty)
    )
      return nonce;
  }
}

function setup(opts: { powBase?: number; powMax?: number; powLoadThresholds?: number[] } = {}) {
  const clock = { now: T0 };
  const now = () => clock.now;
  const store = new MemoryStore(now);
  const metrics = new Metrics();
  const pow = new PowService({
    secret: new ServerSecret(SECRET),
    store,
    powBase: opts.powBase ?? 4,
    powMax: opts.powMax ?? 8,
    powLoadThresholds: opts.powLoadThresholds ?? [20, 50, 100],
    metrics,
    now,
  });
  /** A seed forged with the server secret: the MAC is valid, the fields are the test's. */
  const forge = (difficulty: number, purpose: SeedData['purpose'] = 'general') =>
    encodeSeed({ expiresAt: Math.floor(clock.now / 1000) + 60, difficulty, purpose }, SECRET);
  const count = async (result: string) =>
    (await metrics.powVerifications.get()).values.find((v) => v.labels.result === result)?.value ??
    0;
  return { clock, store, metrics, pow, forge, count };
}

const isPowInvalid = (err: unknown) => {
  assert.ok(err instanceof RelayError, `expected a RelayError, got ${String(err)}`);
  assert.equal(err.status, 401);
  assert.equal(err.code, 'pow_invalid');
  return true;
};

async function rejects(pow: PowService, seed: unknown, nonce: unknown, req: PowRequest) {
  await assert.rejects(pow.verify(seed, nonce, req), isPowInvalid);
}

describe('hash rule', () => {
  it('agrees with the hex-digest rule for every nonce, context and difficulty', () => {
    const seed = 'c0ffee'.repeat(10) + 'abcd';
    for (const context of ['', ALICE, 'Zoë_名前']) {
      let hits = 0;
      for (let n = 0; n < 20_000; n++) {
        const nonce = String(n);
        for (let d = 0; d <= 4; d++) {
          const expected = hexRule(seed, context, nonce, d);
          assert.equal(powDigestMeets(seed, context, nonce, d), expected, `${context} ${n} ${d}`);
          if (expected && d === 3) hits++;
        }
      }
      assert.ok(hits > 0, 'some nonce meets difficulty 3, so odd difficulties are exercised');
    }
  });

  it('matches vectors computed with Python hashlib', () => {
    const seed = '0'.repeat(64);
    // 000cad57…: 3 zero nibbles, the fourth is 'c'.
    assert.equal(powDigestMeets(seed, 'x', '3545', 3), true);
    assert.equal(powDigestMeets(seed, 'x', '3545', 4), false);
    // The context is UTF-8 (ë is two bytes): 000a3a60…
    assert.equal(powDigestMeets(seed, 'Zoë', '2135', 3), true);
    for (let n = 0; n < 3545; n++) assert.equal(powDigestMeets(seed, 'x', String(n), 3), false);
  });

  it('never passes a difficulty beyond the digest', () => {
    assert.equal(powDigestMeets('0'.repeat(64), 'x', '3545', 65), false);
  });
});

describe('nonce validation', () => {
  it('accepts decimal strings of 1–20 digits and non-negative safe integers', () => {
    assert.equal(normaliseNonce('0'), '0');
    assert.equal(normaliseNonce('007'), '007');
    assert.equal(normaliseNonce('12345678901234567890'), '12345678901234567890');
    assert.equal(normaliseNonce(0), '0');
    assert.equal(normaliseNonce(42), '42');
    assert.equal(normaliseNonce(Number.MAX_SAFE_INTEGER), '9007199254740991');
  });

  it('refuses everything else', () => {
    const bad: unknown[] = [
      '',
      '123456789012345678901',
      '-1',
      '+1',
      '1.5',
      '12a',
      ' 1',
      '1 ',
      '1e3',
      '０１',
      -1,
      1.5,
      2 ** 53,
      1e21,
      NaN,
      Infinity,
      null,
      undefined,
      true,
      {},
      [1],
      10n,
    ];
    for (const n of bad) assert.equal(normaliseNonce(n), null, String(n));
  });
});

describe('seeds', () => {
  const data: SeedData = { expiresAt: T0 / 1000 + 60, difficulty: 6, purpose: 'burn' };

  it('round-trips its issue data in 64 lowercase hex, unique per issue', () => {
    const seed = encodeSeed(data, SECRET);
    assert.match(seed, /^[0-9a-f]{64}$/);
    assert.deepEqual(decodeSeed(seed, SECRET, T0), data);
    assert.notEqual(encodeSeed(data, SECRET), seed);
  });

  it('is refused once expired', () => {
    const seed = encodeSeed(data, SECRET);
    assert.deepEqual(decodeSeed(seed, SECRET, data.expiresAt * 1000 - 1), data);
    assert.equal(decodeSeed(seed, SECRET, data.expiresAt * 1000), 'expired');
  });

  it('is refused when tampered with or signed under another secret', () => {
    const seed = encodeSeed(data, SECRET);
    for (let byte = 0; byte < 32; byte++) {
      const bytes = Buffer.from(seed, 'hex');
      bytes[byte]! ^= 0x01;
      assert.equal(decodeSeed(bytes.toString('hex'), SECRET, T0), 'bad_mac', `byte ${byte}`);
    }
    assert.equal(decodeSeed(seed, SECRET + '!', T0), 'bad_mac');
  });

  it('is refused when not 64 lowercase hex', () => {
    const seed = encodeSeed(data, SECRET);
    for (const bad of [seed.toUpperCase(), seed.slice(2), seed + '00', 'z' + seed.slice(1), ''])
      assert.equal(decodeSeed(bad, SECRET, T0), 'malformed');
  });

  it('refuses issue data that does not fit', () => {
    assert.throws(() => encodeSeed({ ...data, difficulty: 256 }, SECRET), RangeError);
    assert.throws(() => encodeSeed({ ...data, expiresAt: 2 ** 32 }, SECRET), RangeError);
  });
});

describe('PowService.issue', () => {
  it('answers a general challenge at the base difficulty, storing nothing', async () => {
    const { pow, store } = setup();
    const c = await pow.issue({});
    assert.equal(c.difficulty, 4);
    assert.equal(c.expires_in, 60);
    assert.deepEqual(decodeSeed(c.seed, SECRET, T0), {
      expiresAt: T0 / 1000 + 60,
      difficulty: 4,
      purpose: 'general',
    });
    assert.equal(await store.spendSeed(c.seed, 1000), true, 'no spent record was written');
  });

  it('maps challenge types to purposes (decoy = random, a nickname alone = nickname)', async () => {
    const { pow } = setup();
    const purposeOf = async (q: { type?: string; nickname?: string }) => {
      const decoded = decodeSeed((await pow.issue(q)).seed, SECRET, T0);
      assert.equal(typeof decoded, 'object');
      return (decoded as SeedData).purpose;
    };
    assert.equal(await purposeOf({ type: 'auth' }), 'auth');
    assert.equal(await purposeOf({ type: 'upload' }), 'upload');
    assert.equal(await purposeOf({ type: 'burn' }), 'burn');
    assert.equal(await purposeOf({ type: 'decoy' }), 'random');
    assert.equal(await purposeOf({ type: 'random' }), 'random');
    assert.equal(await purposeOf({ type: 'nickname', nickname: 'alice_long' }), 'nickname');
    assert.equal(await purposeOf({ nickname: 'alice_long' }), 'nickname');
    assert.equal(await purposeOf({ type: 'auth', nickname: 'alice_long' }), 'auth');
    assert.equal(await purposeOf({ nickname: '' }), 'general');
    assert.equal(await purposeOf({ type: '' }), 'general');
  });

  it('refuses unknown types and a nickname challenge without a nickname', async () => {
    const { pow } = setup();
    const isInvalidRequest = (err: unknown) =>
      err instanceof RelayError && err.status === 400 && err.code === 'invalid_request';
    for (const type of ['admin', 'general', 'constructor', '__proto__', 'AUTH'])
      await assert.rejects(pow.issue({ type }), isInvalidRequest, type);
    await assert.rejects(pow.issue({ type: 'nickname' }), isInvalidRequest);
    await assert.rejects(pow.issue({ type: 'nickname', nickname: '' }), isInvalidRequest);
  });

  it('applies the endpoint minimums: burn 5, random 2', async () => {
    const { pow } = setup({ powBase: 2 });
    assert.equal((await pow.issue({ type: 'burn' })).difficulty, 5);
    assert.equal((await pow.issue({ type: 'random' })).difficulty, 2);
    assert.equal((await pow.issue({ type: 'auth' })).difficulty, 2);
  });

  it('adds the nickname surcharge: +3 up to 5 chars, +2 up to 7, +1 up to 9', async () => {
    const { pow } = setup({ powBase: 4, powMax: 16 });
    const expected: [string, number][] = [
      ['abc', 7],
      ['abcde', 7],
      ['abcdef', 6],
      ['abcdefg', 6],
      ['abcdefgh', 5],
      ['abcdefghi', 5],
      ['abcdefghij', 4],
    ];
    for (const [nickname, d] of expected)
      assert.equal((await pow.issue({ nickname })).difficulty, d, nickname);
  });

  it('discounts identities older than 30 days by 1 and older than 180 days by 2', async () => {
    const { pow, store, clock } = setup();
    await store.putBundle(ALICE, 'bundle', [], 365 * DAY_MS);
    const general = async () => (await pow.issue({ identityHash: ALICE })).difficulty;
    assert.equal(await general(), 4);
    clock.now = T0 + 30 * DAY_MS;
    assert.equal(await general(), 4, 'exactly 30 days is not older than 30 days');
    clock.now = T0 + 31 * DAY_MS;
    assert.equal(await general(), 3);
    assert.equal((await pow.issue({ type: 'auth', identityHash: ALICE })).difficulty, 3);
    clock.now = T0 + 181 * DAY_MS;
    assert.equal(await general(), 2);
    assert.equal((await pow.issue({ identityHash: BOB })).difficulty, 4, 'unknown identity');
    assert.equal((await pow.issue({ type: 'random', identityHash: ALICE })).difficulty, 4);
    assert.equal((await pow.issue({ type: 'burn', identityHash: ALICE })).difficulty, 5);
    assert.equal((await pow.issue({ nickname: 'abc', identityHash: ALICE })).difficulty, 5);
  });

  it('never goes below 2', async () => {
    const { pow, store, clock } = setup({ powBase: 3 });
    await store.putBundle(ALICE, 'bundle', [], 365 * DAY_MS);
    clock.now = T0 + 181 * DAY_MS;
    assert.equal((await pow.issue({ identityHash: ALICE })).difficulty, 2);
  });

  it('caps at powMax, never taking a burn below 5', async () => {
    const { pow } = setup({ powBase: 7, powMax: 8 });
    assert.equal((await pow.issue({ nickname: 'abc' })).difficulty, 8);
    assert.equal((await pow.issue({ type: 'burn' })).difficulty, 7);
    const low = setup({ powBase: 5, powMax: 5 });
    assert.equal((await low.pow.issue({ nickname: 'abc' })).difficulty, 5);
    assert.equal((await low.pow.issue({ type: 'burn' })).difficulty, 5);
  });
});

describe('PowService.verify', () => {
  it('accepts a valid solution once, then refuses the replay', async () => {
    const { pow, count } = setup();
    const c = await pow.issue({ type: 'auth', identityHash: ALICE });
    const nonce = solvePowSync(c.seed, ALICE, c.difficulty);
    await pow.verify(c.seed, nonce, { purpose: 'auth', context: ALICE });
    await rejects(pow, c.seed, nonce, { purpose: 'auth', context: ALICE });
    assert.equal(await count('ok'), 1);
    assert.equal(await count('replay'), 1);
  });

  it('accepts the nonce as a JSON integer', async () => {
    const { pow } = setup();
    const c = await pow.issue({});
    const nonce = Number(solvePowSync(c.seed, ALICE, c.difficulty));
    await pow.verify(c.seed, nonce, { purpose: 'upload', context: ALICE });
  });

  it('refuses a missing or malformed seed or nonce', async () => {
    const { pow, count } = setup();
    const c = await pow.issue({});
    const nonce = solvePowSync(c.seed, ALICE, c.difficulty);
    const req: PowRequest = { purpose: 'auth', context: ALICE };
    await rejects(pow, undefined, nonce, req);
    await rejects(pow, null, nonce, req);
    await rejects(pow, 42, nonce, req);
    await rejects(pow, c.seed.toUpperCase(), nonce, req);
    await rejects(pow, c.seed, undefined, req);
    await rejects(pow, c.seed, '1.5', req);
    await rejects(pow, c.seed, '1'.repeat(21), req);
    await rejects(pow, c.seed, -1, req);
    assert.equal(await count('invalid'), 8);
    await pow.verify(c.seed, nonce, req); // none of the above spent the seed
  });

  it('refuses a nonce that does not meet the difficulty, without spending the seed', async () => {
    const { pow, count } = setup();
    const c = await pow.issue({});
    const nonce = solvePowSync(c.seed, ALICE, c.difficulty);
    const wrong = [...Array(50).keys()]
      .map(String)
      .find((n) => !hexRule(c.seed, ALICE, n, c.difficulty));
    await rejects(pow, c.seed, wrong, { purpose: 'auth', context: ALICE });
    assert.equal(await count('invalid'), 1);
    await pow.verify(c.seed, nonce, { purpose: 'auth', context: ALICE });
  });

  it('binds the solution to its context', async () => {
    const { pow } = setup();
    const c = await pow.issue({});
    const nonce = solveOnlyFor(c.seed, ALICE, c.difficulty, BOB);
    await rejects(pow, c.seed, nonce, { purpose: 'auth', context: BOB });
  });

  it('refuses a tampered seed even with a valid solution for it', async () => {
    const { pow, count } = setup();
    const c = await pow.issue({});
    const bytes = Buffer.from(c.seed, 'hex');
    bytes[4] = 2; // lower the difficulty byte
    const easier = bytes.toString('hex');
    await rejects(pow, easier, solvePowSync(easier, ALICE, 2), { purpose: 'auth', context: ALICE });
    const flipped = c.seed.slice(0, 20) + (c.seed[20] === '0' ? '1' : '0') + c.seed.slice(21);
    await rejects(pow, flipped, solvePowSync(flipped, ALICE, 4), {
      purpose: 'auth',
      context: ALICE,
    });
    assert.equal(await count('invalid'), 2);
  });

  it('refuses a seed from another server secret', async () => {
    const { pow } = setup();
    const other = setup();
    const foreign = new PowService({
      secret: new ServerSecret('another-secret-of-at-least-32-characters'),
      store: other.store,
      powBase: 4,
      powMax: 8,
      powLoadThresholds: [20, 50, 100],
      now: () => other.clock.now,
    });
    const c = await foreign.issue({});
    await rejects(pow, c.seed, solvePowSync(c.seed, ALICE, c.difficulty), {
      purpose: 'auth',
      context: ALICE,
    });
  });

  it('refuses an expired seed', async () => {
    const { pow, clock, count } = setup();
    const c = await pow.issue({});
    const nonce = solvePowSync(c.seed, ALICE, c.difficulty);
    clock.now = T0 + 60_000;
    await rejects(pow, c.seed, nonce, { purpose: 'auth', context: ALICE });
    assert.equal(await count('expired'), 1);
    clock.now = T0 + 59_000;
    await pow.verify(c.seed, nonce, { purpose: 'auth', context: ALICE });
  });

  it('keeps the spent record for the rest of the seed life', async () => {
    const { pow, clock } = setup();
    const c = await pow.issue({});
    const nonce = solvePowSync(c.seed, ALICE, c.difficulty);
    await pow.verify(c.seed, nonce, { purpose: 'auth', context: ALICE });
    clock.now = T0 + 59_999;
    await rejects(pow, c.seed, nonce, { purpose: 'auth', context: ALICE });
  });

  it('accepts a general seed for every purpose meeting its floor', async () => {
    const { pow } = setup({ powBase: 2 });
    const requests: PowRequest[] = [
      { purpose: 'auth', context: ALICE },
      { purpose: 'upload', context: ALICE },
      { purpose: 'random', context: '' },
      { purpose: 'nickname', context: 'alice_long', identityHash: ALICE },
    ];
    for (const req of requests) {
      const c = await pow.issue({});
      await pow.verify(c.seed, solvePowSync(c.seed, req.context, c.difficulty), req);
    }
  });

  it('accepts a typed seed only for its own purpose', async () => {
    const { pow } = setup({ powBase: 2 });
    const attempt = async (type: string, req: PowRequest) => {
      const c = await pow.issue(type === 'nickname' ? { type, nickname: req.context } : { type });
      return pow.verify(c.seed, solvePowSync(c.seed, req.context, c.difficulty), req);
    };
    await attempt('auth', { purpose: 'auth', context: ALICE });
    await attempt('upload', { purpose: 'upload', context: ALICE });
    await attempt('decoy', { purpose: 'random', context: '' });
    await attempt('random', { purpose: 'random', context: '' });
    await attempt('nickname', { purpose: 'nickname', context: 'alice_long' });
    await assert.rejects(attempt('upload', { purpose: 'auth', context: ALICE }), isPowInvalid);
    await assert.rejects(attempt('auth', { purpose: 'upload', context: ALICE }), isPowInvalid);
    await assert.rejects(attempt('random', { purpose: 'auth', context: ALICE }), isPowInvalid);
    await assert.rejects(attempt('decoy', { purpose: 'nickname', context: 'x' }), isPowInvalid);
    await assert.rejects(
      attempt('nickname', { purpose: 'random', context: 'alice_long' }),
      isPowInvalid,
    );
  });

  it('refuses a seed below the endpoint minimum (general seed for a burn)', async () => {
    const { pow, forge } = setup();
    const c = await pow.issue({ identityHash: ALICE });
    assert.equal(c.difficulty, 4);
    const nonce = solveExactly(c.seed, ALICE, c.difficulty);
    await rejects(pow, c.seed, nonce, { purpose: 'burn', context: ALICE });
    // A burn seed below 5 (impossible to obtain, so forged) is refused as well.
    const burn4 = forge(4, 'burn');
    await rejects(pow, burn4, solveExactly(burn4, ALICE, 4), { purpose: 'burn', context: ALICE });
    // The refusals spent nothing: the general seed still verifies for an upload.
    await pow.verify(c.seed, nonce, { purpose: 'upload', context: ALICE });
  });

  it('refuses a seed whose difficulty is below the base', async () => {
    const { pow, forge } = setup();
    const seed = forge(1, 'auth');
    await rejects(pow, seed, solveExactly(seed, ALICE, 1), { purpose: 'auth', context: ALICE });
  });

  it('honours an age-discounted seed only for the old identity', async () => {
    const { pow, store, clock } = setup();
    await store.putBundle(ALICE, 'bundle', [], 365 * DAY_MS);
    clock.now = T0 + 181 * DAY_MS;
    const c = await pow.issue({ identityHash: ALICE });
    assert.equal(c.difficulty, 2);
    const forBob = solveExactly(c.seed, BOB, 2);
    await rejects(pow, c.seed, forBob, { purpose: 'upload', context: BOB });
    const forRandom = solveExactly(c.seed, '', 2);
    await rejects(pow, c.seed, forRandom, { purpose: 'random', context: '' });
    // /keys/random acts for no identity: naming one does not earn a discount.
    await rejects(pow, c.seed, forRandom, { purpose: 'random', context: '', identityHash: ALICE });
    await pow.verify(c.seed, solvePowSync(c.seed, ALICE, 2), { purpose: 'upload', context: ALICE });
  });

  it('honours a discounted seed for a 31-day-old identity at 3, not at 2', async () => {
    const { pow, store, clock, forge } = setup();
    await store.putBundle(ALICE, 'bundle', [], 365 * DAY_MS);
    clock.now = T0 + 31 * DAY_MS;
    const two = forge(2);
    await rejects(pow, two, solveExactly(two, ALICE, 2), { purpose: 'auth', context: ALICE });
    const c = await pow.issue({ identityHash: ALICE });
    assert.equal(c.difficulty, 3);
    await pow.verify(c.seed, solvePowSync(c.seed, ALICE, 3), { purpose: 'auth', context: ALICE });
  });

  it('honours a nickname seed only for a nickname as long', async () => {
    const { pow } = setup({ powBase: 2 });
    const c = await pow.issue({ nickname: 'abcdefghij' });
    assert.equal(c.difficulty, 2);
    const shortNonce = solveExactly(c.seed, 'abc', 2);
    await rejects(pow, c.seed, shortNonce, { purpose: 'nickname', context: 'abc' });
    const general = await pow.issue({});
    await rejects(pow, general.seed, solveExactly(general.seed, 'abc', 2), {
      purpose: 'nickname',
      context: 'abc',
    });
    await pow.verify(c.seed, solvePowSync(c.seed, 'abcdefghij', 2), {
      purpose: 'nickname',
      context: 'abcdefghij',
    });
  });

  it('accepts a general seed solved to the burn minimum (what v1 clients do), not below', async () => {
    const { pow } = setup();
    const c = await pow.issue({ identityHash: ALICE });
    assert.equal(c.difficulty, 4);
    const burn: PowRequest = { purpose: 'burn', context: ALICE };
    await assert.rejects(pow.verify(c.seed, solveExactly(c.seed, ALICE, 4), burn), (err) => {
      isPowInvalid(err);
      assert.match((err as Error).message, /needs 5/);
      return true;
    });
    // The refusal spent nothing: the same seed, solved harder, burns (once).
    const five = solveExactly(c.seed, ALICE, 5);
    await pow.verify(c.seed, five, burn);
    await rejects(pow, c.seed, five, burn);
  });

  it('accepts a general seed solved to the nickname surcharge, not below', async () => {
    const { pow } = setup({ powBase: 2 });
    const c = await pow.issue({});
    assert.equal(c.difficulty, 2);
    const req: PowRequest = { purpose: 'nickname', context: 'abcdef', identityHash: ALICE };
    await rejects(pow, c.seed, solveExactly(c.seed, 'abcdef', 3), req);
    await pow.verify(c.seed, solveExactly(c.seed, 'abcdef', 4), req);
  });

  it("holds an old identity's work to its discounted floor, and a new one's to the full one", async () => {
    const { pow, store, clock, forge } = setup();
    await store.putBundle(ALICE, 'bundle', [], 365 * DAY_MS);
    clock.now = T0 + 31 * DAY_MS;
    const discounted = await pow.issue({ identityHash: ALICE });
    assert.equal(discounted.difficulty, 3);
    const auth = (context: string): PowRequest => ({ purpose: 'auth', context });
    // Work of 3 on a seed of 3: enough for the old identity, not for a new one.
    await rejects(pow, discounted.seed, solveExactly(discounted.seed, BOB, 3), auth(BOB));
    await pow.verify(discounted.seed, solveExactly(discounted.seed, ALICE, 3), auth(ALICE));
    // A seed carrying 2 (a 181-day discount) solved to 3 does for the 31-day-old identity…
    const two = forge(2);
    await pow.verify(two, solveExactly(two, ALICE, 3), auth(ALICE));
    // …and a discounted seed solved to the full difficulty does for a new identity.
    const again = await pow.issue({ identityHash: ALICE });
    await pow.verify(again.seed, solveExactly(again.seed, BOB, 4), auth(BOB));
  });

  it('raises the difficulty with the rate of verified solutions, and only those', async () => {
    const { pow, forge, clock } = setup({ powBase: 2, powLoadThresholds: [1, 2, 3] });
    const difficulty = async () => (await pow.issue({})).difficulty;
    const solveOne = async () => {
      const seed = forge(2);
      await pow.verify(seed, solvePowSync(seed, ALICE, 2), { purpose: 'auth', context: ALICE });
    };
    // Refused attempts and replays cost an attacker nothing: they must not count.
    const seed = forge(2);
    const nonce = solvePowSync(seed, ALICE, 2);
    await pow.verify(seed, nonce, { purpose: 'auth', context: ALICE });
    for (let i = 0; i < 50; i++) {
      await rejects(pow, seed, nonce, { purpose: 'auth', context: ALICE });
      const weak = forge(1);
      await rejects(pow, weak, solveExactly(weak, ALICE, 1), { purpose: 'auth', context: ALICE });
    }
    assert.equal(await difficulty(), 2);

    for (let i = 1; i < 10; i++) await solveOne();
    assert.equal(await difficulty(), 2, '10 in 10 s is 1/s, not above the threshold');
    await solveOne();
    assert.equal(await difficulty(), 3);
    for (let i = 0; i < 10; i++) await solveOne();
    assert.equal(await difficulty(), 4);
    for (let i = 0; i < 10; i++) await solveOne();
    assert.equal(await difficulty(), 5);
    for (let i = 0; i < 30; i++) await solveOne();
    assert.equal(await difficulty(), 5, 'at most +3');

    clock.now += 9_000;
    assert.equal(await difficulty(), 5, 'still inside the window');
    clock.now += 1_000;
    assert.equal(await difficulty(), 2, 'the window has passed');
  });

  it('enforces the load-raised difficulty a seed carries, capped at powMax', async () => {
    const { pow, forge } = setup({ powBase: 3, powMax: 5, powLoadThresholds: [0, 1, 2] });
    for (let i = 0; i < 31; i++) {
      const seed = forge(3);
      await pow.verify(seed, solvePowSync(seed, ALICE, 3), { purpose: 'auth', context: ALICE });
    }
    const c = await pow.issue({});
    assert.equal(c.difficulty, 5, '3 + 3 for load, capped at 5');
    let weak = 0;
    while (!hexRule(c.seed, ALICE, String(weak), 4) || hexRule(c.seed, ALICE, String(weak), 5))
      weak++;
    await rejects(pow, c.seed, String(weak), { purpose: 'auth', context: ALICE });
  });
});

/** Counts worker threads started, and resolves once every one of them has exited. */
describe('client solver', () => {
  it(
    'solves difficulty 4 in pooled workers without blocking the event loop',
    { timeout: 60_000 },
    async () => {
      const { pow } = setup();
      let loopRan = false;
      setImmediate(() => (loopRan = true));
      const first = await pow.issue({ type: 'auth' });
      assert.equal(first.difficulty, 4);
      const nonce = await solvePow(first.seed, ALICE, first.difficulty, { workers: 2 });
      assert.equal(loopRan, true, 'the event loop turned while solving');
      assert.ok(hexRule(first.seed, ALICE, nonce, 4));
      await pow.verify(first.seed, nonce, { purpose: 'auth', context: ALICE });
      // Concurrent solves share the same two threads.
      const more = await Promise.all([1, 2, 3].map(() => pow.issue({ type: 'auth' })));
      const nonces = await Promise.all(
        more.map((c) => solvePow(c.seed, ALICE, c.difficulty, { workers: 2 })),
      );
      for (const [i, c] of more.entries()) assert.ok(hexRule(c.seed, ALICE, nonces[i]!, 4));
      assert.equal(solverThreads(2), 2);
    },
  );

  it(
    'searches disjoint strides: any worker count finds valid nonces',
    { timeout: 60_000 },
    async () => {
      const seed = '0'.repeat(64);
      for (const workers of [1, 3]) {
        const nonce = await solvePow(seed, 'x', 3, { workers });
        assert.ok(hexRule(seed, 'x', nonce, 3), `workers=${workers}`);
      }
      assert.equal(
        await solvePow(seed, 'x', 3, { workers: 1 }),
        '3545',
        'stride 1 finds the first',
      );
    },
  );

  it('stops searching on abort: the pool takes the next job', { timeout: 20_000 }, async () => {
    const controller = new AbortController();
    // Difficulty 64 never finishes: only a working cancel lets the next job run.
    const hopeless = solvePow('0'.repeat(64), 'x', 64, { workers: 2, signal: controller.signal });
    const next = solvePow('0'.repeat(64), 'y', 2, { workers: 2 });
    // Abort once the workers are searching (a deliberate delay: the cancel must reach a search).
    setTimeout(() => controller.abort(), 50);
    await assert.rejects(hopeless, { name: 'AbortError' });
    assert.ok(hexRule('0'.repeat(64), 'y', await next, 2));
  });

  it('refuses to start with an aborted signal', async () => {
    const before = solverThreads(4);
    const solving = solvePow('0'.repeat(64), 'x', 64, { workers: 4, signal: AbortSignal.abort() });
    await assert.rejects(solving, { name: 'AbortError' });
    assert.equal(solverThreads(4), before);
  });

  it('solves tiny difficulties synchronously', () => {
    assert.equal(solvePowSync('0'.repeat(64), 'x', 3), '3545');
    assert.equal(solvePowSync('0'.repeat(64), 'Zoë', 3), '2135');
  });
});
