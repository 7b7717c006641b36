// withTimeout: a deadline on a promise that leaves no timer behind.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DAY_MS, HOUR_MS, MINUTE_MS, SECOND_MS, withTimeout } from '../src/time.js';

const never = new Promise<never>(() => undefined);
const timers = (): number =>
  process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;

describe('time', () => {
  it('names durations in milliseconds', () => {
    assert.equal(SECOND_MS, 1000);
    assert.equal(MINUTE_MS, 60_000);
    assert.equal(HOUR_MS, 3_600_000);
    assert.equal(DAY_MS, 86_400_000);
  });

  it('settles as the promise does when it settles first, and clears its timer', async () => {
    const before = timers();
    assert.equal(await withTimeout(Promise.resolve('value'), MINUTE_MS), 'value');
    const boom = new Error('boom');
    await assert.rejects(
      withTimeout(Promise.reject(boom), MINUTE_MS, () => 'late'),
      boom,
    );
    assert.equal(timers(), before);
  });

  it('resolves undefined at the deadline without onTimeout', async () => {
    assert.equal(await withTimeout(never, 1), undefined);
  });

  it('settles as onTimeout returns or throws at the deadline', async () => {
    assert.equal(await withTimeout(never, 1, () => 'fallback'), 'fallback');
    assert.equal(await withTimeout(never, 1, async () => 'async fallback'), 'async fallback');
    const late = new Error('late');
    await assert.rejects(
      withTimeout(never, 1, () => {
        throw late;
      }),
      late,
    );
  });

  it('does not call onTimeout once the promise has settled', async () => {
    let called = false;
    await withTimeout(Promise.resolve(), 1, () => (called = true));
    await new Promise((resolve) => setTimeout(resolve, 5)); // lets the deadline pass: nothing fires
    assert.equal(called, false);
  });
});
