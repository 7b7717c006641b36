// TtlMap (store/ttl-map.ts) on an injected clock: an entry is invisible from the moment it
// expires, reclaimed on the next look or by the incremental sweep (onExpire hears of exactly
// those), and every operation's effect on the expiry.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TtlMap } from '../src/store/ttl-map.js';
import { T0 } from './helpers/domain.js';

function setup() {
  const clock = { now: T0 };
  const expired: Array<[string, number]> = [];
  const map = new TtlMap<number>(
    () => clock.now,
    (key, value) => expired.push([key, value]),
  );
  return { clock, expired, map };
}

describe('TtlMap', () => {
  it('an entry lives until its expiry; get() then reclaims it, reported to onExpire once', () => {
    const { clock, expired, map } = setup();
    map.set('a', 1, 1000);
    clock.now += 999;
    assert.equal(map.get('a'), 1);
    assert.equal(map.ttl('a'), 1);
    clock.now += 1;
    assert.equal(map.ttl('a'), 0, 'no life left at the expiry');
    assert.equal(map.size, 1, 'not reclaimed before it is looked at');
    assert.equal(map.get('a'), undefined, 'gone at the expiry itself');
    assert.equal(map.size, 0);
    assert.deepEqual(expired, [['a', 1]]);
    assert.equal(map.get('a'), undefined);
    assert.deepEqual(expired, [['a', 1]], 'reported once');
  });

  it('ttl() is 0 for a key never set', () => {
    const { map } = setup();
    assert.equal(map.ttl('nope'), 0);
    assert.equal(map.get('nope'), undefined);
  });

  it('set() on a live key replaces the value and restarts its life; onExpire is not told', () => {
    const { clock, expired, map } = setup();
    map.set('a', 1, 1000);
    clock.now += 900;
    map.set('a', 2, 1000);
    clock.now += 900;
    assert.equal(map.get('a'), 2);
    assert.equal(map.ttl('a'), 100);
    assert.equal(map.size, 1);
    assert.deepEqual(expired, []);
  });

  it('delete() removes without telling onExpire', () => {
    const { expired, map } = setup();
    map.set('a', 1, 1000);
    assert.equal(map.delete('a'), true);
    assert.equal(map.delete('a'), false);
    assert.equal(map.get('a'), undefined);
    assert.deepEqual(expired, []);
  });

  it('refresh() returns the value and restarts its life; an expired entry is reclaimed', () => {
    const { clock, expired, map } = setup();
    map.set('a', 1, 1000);
    clock.now += 999;
    assert.equal(map.refresh('a', 1000), 1);
    clock.now += 999;
    assert.equal(map.get('a'), 1, 'alive past its first expiry');
    clock.now += 1;
    assert.equal(map.refresh('a', 1000), undefined);
    assert.equal(map.size, 0);
    assert.deepEqual(expired, [['a', 1]]);
    assert.equal(map.refresh('never', 1000), undefined);
    assert.equal(map.size, 0, 'refresh() creates nothing');
  });

  it('expire() lengthens or shortens a live entry and creates none', () => {
    const { clock, map } = setup();
    map.set('a', 1, 1000);
    map.expire('a', 5000);
    clock.now += 4000;
    assert.equal(map.get('a'), 1);
    map.expire('a', 10);
    clock.now += 10;
    assert.equal(map.get('a'), undefined);
    map.expire('b', 1000);
    assert.equal(map.size, 0);
    assert.equal(map.get('b'), undefined);
  });

  it('keys() lists the live keys only, reclaiming nothing', () => {
    const { clock, expired, map } = setup();
    map.set('short', 1, 100);
    map.set('long', 2, 1000);
    clock.now += 100;
    assert.deepEqual([...map.keys()], ['long']);
    assert.equal(map.size, 2);
    assert.deepEqual(expired, []);
  });

  it('sweep() visits at most `budget` entries per call, resuming where it stopped', () => {
    const { clock, expired, map } = setup();
    // k0..k9: the even ones expire after 100 ms, the odd ones after 1000 ms.
    for (let i = 0; i < 10; i++) map.set(`k${i}`, i, i % 2 === 0 ? 100 : 1000);
    clock.now += 100;
    const visited: number[] = [];
    map.sweep(4, (v) => visited.push(v));
    assert.deepEqual(expired, [
      ['k0', 0],
      ['k2', 2],
    ]);
    assert.deepEqual(visited, [1, 3]);
    map.sweep(4, (v) => visited.push(v));
    assert.deepEqual(
      expired.map(([k]) => k),
      ['k0', 'k2', 'k4', 'k6'],
    );
    assert.deepEqual(visited, [1, 3, 5, 7]);
    map.sweep(4, (v) => visited.push(v));
    assert.deepEqual(visited, [1, 3, 5, 7, 9], 'the end of the map ends the call');
    assert.equal(map.size, 5);
    assert.equal(expired.length, 5);
    // The next sweep starts again from the first entry left.
    map.sweep(2, (v) => visited.push(v));
    assert.deepEqual(visited.slice(5), [1, 3]);
  });

  it('a sweep reclaims everything once all has expired, each entry reported once', () => {
    const { clock, expired, map } = setup();
    for (let i = 0; i < 100; i++) map.set(`k${i}`, i, 1000);
    clock.now += 1000;
    map.sweep(1000);
    assert.equal(map.size, 0);
    assert.equal(expired.length, 100);
    assert.equal(new Set(expired.map(([k]) => k)).size, 100);
  });
});
