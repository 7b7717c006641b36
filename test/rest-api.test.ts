// The identity REST API end to end, through the client library, over TLS, on both stores.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { RelayClientError } from '../src/client/errors.js';
import { buildBundle, generateIdentity, signMessage } from '../src/client/identity.js';
import { solvePow } from '../src/client/pow-solver.js';
import { RelayClient } from '../src/client/rest-client.js';
import { storeBackends } from './helpers/backends.js';
import { solveExactly } from './helpers/pow.js';
import { startTestRelay, type TestRelay } from './helpers/relay.js';
import { redisKeysContaining } from './helpers/redis-keys.js';

const GENEROUS = {
  limitGlobal: 10_000,
  powLimit: 10_000,
  limitKeysUpload: 10_000,
  limitKeysFetch: 10_000,
  limitKeysRandom: 10_000,
  limitNickRegister: 10_000,
  limitNickLookup: 10_000,
  limitAccountBurn: 10_000,
};

async function rejectsWith(
  promise: Promise<unknown>,
  status: number,
  code: string,
  text?: RegExp,
): Promise<RelayClientError> {
  const err = await promise.then(
    () => assert.fail(`expected ${status} ${code}, got success`),
    (e: unknown) => e,
  );
  assert.ok(err instanceof RelayClientError, String(err));
  assert.equal(err.status, status, `${err.code}: ${err.message}`);
  assert.equal(err.code, code, err.message);
  if (text) assert.match(err.message, text);
  return err;
}

for (const backend of storeBackends()) {
  describe(`REST flow over TLS (${backend.name} store)`, () => {
    let t: TestRelay;
    let client: RelayClient;
    before(async () => {
      t = await startTestRelay(GENEROUS, { store: await backend.store() });
      client = new RelayClient({ url: t.relay.url, ca: t.relay.tls!.cert });
    });
    after(async () => {
      await t.close();
      await backend.redis?.stop();
    });

    it('upload → fetch one by one → register → lookup → random → burn', async () => {
      const alice = generateIdentity();
      const h = alice.identityHash;
      assert.deepEqual(await client.uploadBundle(alice, { preKeys: 5 }), {
        status: 'success',
        prekeys: 5,
      });

      const seen = new Set<number>();
      for (let i = 0; i < 5; i++) {
        const bundle = await client.fetchBundle(h);
        assert.equal(bundle.identity_hash, h);
        assert.equal(bundle.identityKey, alice.publicKey.toString('base64'));
        assert.equal(bundle.registrationId, 1234);
        assert.equal(typeof bundle.signedPreKey.signature, 'string');
        assert.equal(bundle.preKeys.length, 1);
        seen.add(bundle.preKeys[0].keyId);
      }
      assert.equal(seen.size, 5, 'each fetch consumed a different prekey');
      assert.deepEqual((await client.fetchBundle(h)).preKeys, []);

      const nick = `Alice_${h.slice(0, 6)}`;
      assert.deepEqual(await client.registerNickname(alice, nick), {
        status: 'success',
        nickname: nick,
      });
      assert.deepEqual(await client.lookupNickname(nick.toUpperCase()), {
        identity_hash: h,
        nickname: nick,
      });
      assert.deepEqual(await client.lookupNickname(nick.toLowerCase(), 'name'), {
        identity_hash: h,
        nickname: nick,
      });
      const many = await client.lookupNicknames([nick.toLowerCase(), 'nobody_here']);
      assert.deepEqual(many, { [nick.toLowerCase()]: h });

      const bob = generateIdentity();
      await client.uploadBundle(bob, { preKeys: 1 });
      const random = await client.randomHashes(10);
      assert.ok(random.includes(h) && random.includes(bob.identityHash));
      assert.equal(new Set(random).size, random.length);

      const both = await client.fetchBundles([h, bob.identityHash, 'f'.repeat(64)]);
      assert.deepEqual(Object.keys(both).sort(), [h, bob.identityHash].sort());

      assert.deepEqual(await client.burn(alice), { status: 'account_purged' });
      await rejectsWith(client.fetchBundle(h), 404, 'not_found');
      await rejectsWith(client.lookupNickname(nick), 404, 'not_found');
      assert.ok(!(await client.randomHashes(10)).includes(h));
      if (backend.redis) assert.deepEqual(await redisKeysContaining(backend.redis.port, h), []);
      // Bob is untouched.
      assert.equal((await client.fetchBundle(bob.identityHash)).identity_hash, bob.identityHash);
    });

    it('50 concurrent fetches of a 20-prekey bundle hand out 20 distinct prekeys', async () => {
      const carol = generateIdentity();
      await client.uploadBundle(carol, { preKeys: 20 });
      const results = await Promise.all(
        Array.from({ length: 50 }, () => client.fetchBundle(carol.identityHash)),
      );
      const ids = results.flatMap((r) => r.preKeys.map((p: { keyId: number }) => p.keyId));
      assert.equal(ids.length, 20);
      assert.equal(new Set(ids).size, 20);
      assert.equal(results.filter((r) => r.preKeys.length === 0).length, 30);
    });

    it('a re-upload replaces the prekey set', async () => {
      const dave = generateIdentity();
      await client.uploadBundle(dave, { preKeys: 10 });
      await client.uploadBundle(dave, { preKeys: 3 });
      assert.equal(await t.relay.store.prekeyCount(dave.identityHash), 3);
    });
  });
}

describe('v1 compat flow', () => {
  let t: TestRelay;
  let client: RelayClient;
  before(async () => {
    t = await startTestRelay({ ...GENEROUS, compat: 'v1' });
    client = new RelayClient({ url: t.relay.url, ca: t.relay.tls!.cert });
  });
  after(() => t.close());

  it('accepts a bundle with pq_identityKey, keyless nickname and a BURN:<H> signature', async () => {
    const v1 = generateIdentity();
    await client.uploadBundle(v1, { preKeys: 2, pqIdentityKey: Buffer.alloc(1568, 7) });
    const bundle = await client.fetchBundle(v1.identityHash);
    assert.equal(bundle.pq_identityKey, Buffer.alloc(1568, 7).toString('base64'));
    await client.registerNickname(null, 'v1_user_name', v1.identityHash);
    assert.equal((await client.lookupNickname('v1_user_name')).identity_hash, v1.identityHash);
    assert.deepEqual(await client.burn(v1, { legacy: true }), { status: 'account_purged' });
    await rejectsWith(client.fetchBundle(v1.identityHash), 404, 'not_found');
  });

  it('default mode refuses keyless nicknames and BURN:<H>', async () => {
    const strict = await startTestRelay(GENEROUS);
    try {
      const c = new RelayClient({ url: strict.relay.url, ca: strict.relay.tls!.cert });
      const v1 = generateIdentity();
      await c.uploadBundle(v1, { preKeys: 1 });
      await rejectsWith(
        c.registerNickname(null, 'keyless_name', v1.identityHash),
        400,
        'invalid_key',
      );
      await rejectsWith(c.burn(v1, { legacy: true }), 403, 'invalid_signature');
      assert.equal(await strict.relay.store.prekeyCount(v1.identityHash), 1);
    } finally {
      await strict.close();
    }
  });
});

describe('bad input (memory store): exact status/code, nothing changed', () => {
  let t: TestRelay;
  let client: RelayClient;
  const owner = generateIdentity();
  before(async () => {
    t = await startTestRelay({ ...GENEROUS, tls: false });
    client = new RelayClient({ url: t.relay.url });
    await client.uploadBundle(owner, { preKeys: 3 });
    await client.registerNickname(owner, 'Taken_Name_X');
  });
  after(() => t.close());

  async function unchanged(): Promise<void> {
    assert.equal(await t.relay.store.prekeyCount(owner.identityHash), 3);
    assert.equal(
      (await t.relay.store.lookupNickname('taken_name_x'))?.identityHash,
      owner.identityHash,
    );
  }

  const upload = (body: unknown, solution?: { seed: string; nonce: string }) =>
    client.request(
      'POST',
      '/keys/upload',
      body,
      solution ? { 'x-pow-seed': solution.seed, 'x-pow-nonce': solution.nonce } : {},
    );
  const solveFor = (h: string) => client.solve({ type: 'upload', identity_hash: h }, h);

  it('upload: body, hash and PoW errors in the order of §2.3', async () => {
    const me = generateIdentity();
    const good = buildBundle(me, { preKeys: 2 });
    await rejectsWith(upload('not json'), 400, 'invalid_json');
    await rejectsWith(upload('[1,2]'), 400, 'invalid_json');
    await rejectsWith(upload('null'), 400, 'invalid_json');
    await rejectsWith(
      upload({ ...good, identity_hash: me.identityHash.slice(0, 63) }),
      400,
      'invalid_identity_hash',
    );
    await rejectsWith(
      upload({ ...good, identity_hash: 'g'.repeat(64) }),
      400,
      'invalid_identity_hash',
    );
    // A bad hash is reported before a missing PoW; a missing PoW before a bad key.
    await rejectsWith(upload({ ...good, identityKey: '!!' }), 401, 'pow_invalid');
    await rejectsWith(upload(good, { seed: 'ab'.repeat(32), nonce: '1' }), 401, 'pow_invalid');
    const solution = await solveFor(me.identityHash);
    await rejectsWith(upload(good, { ...solution, nonce: 'x1' }), 401, 'pow_invalid');
    await rejectsWith(upload(good, { ...solution, nonce: '1'.repeat(21) }), 401, 'pow_invalid');
    // A solution for another identity's context does not verify.
    const other = await solveFor(owner.identityHash);
    await rejectsWith(upload(good, other), 401, 'pow_invalid');
    assert.equal(await t.relay.store.prekeyCount(me.identityHash), null);
    await unchanged();
  });

  it('upload: replayed and insufficient PoW', async () => {
    const me = generateIdentity();
    const solution = await solveFor(me.identityHash);
    await client.uploadBundle(me, { preKeys: 1, solution });
    await rejectsWith(
      client.uploadBundle(me, { preKeys: 5, solution }),
      401,
      'pow_invalid',
      /used/,
    );
    assert.equal(await t.relay.store.prekeyCount(me.identityHash), 1);
  });

  it('burn: a general seed solved to 5 (as v1 clients do) burns; solved to 4 it does not', async () => {
    const me = generateIdentity();
    const h = me.identityHash;
    await client.uploadBundle(me, { preKeys: 1 });
    const general = await client.challenge();
    assert.equal(general.difficulty, 4);
    const burn = (nonce: string) =>
      client.request(
        'POST',
        '/account/burn',
        {
          identity_hash: h,
          identityKey: me.publicKey.toString('base64'),
          signature: signMessage(me, `BURN:${h}:${general.seed}`),
        },
        { 'x-pow-seed': general.seed, 'x-pow-nonce': nonce },
      );
    await rejectsWith(burn(solveExactly(general.seed, h, 4)), 401, 'pow_invalid', /needs 5/);
    assert.equal(await t.relay.store.prekeyCount(h), 1);
    assert.deepEqual(await burn(await solvePow(general.seed, h, 5)), { status: 'account_purged' });
    assert.equal(await t.relay.store.prekeyCount(h), null);
  });

  it('upload: key, shape and signature errors', async () => {
    const me = generateIdentity();
    const stranger = generateIdentity();
    const good = buildBundle(me, { preKeys: 2 });
    const cases: Array<[Record<string, unknown>, number, string, RegExp?]> = [
      [{ ...good, identityKey: undefined }, 400, 'invalid_key'],
      [{ ...good, identityKey: 'not base64!' }, 400, 'invalid_key'],
      [
        { ...good, identityKey: stranger.publicKey.toString('base64') },
        403,
        'identity_mismatch',
        /mismatch/,
      ],
      [
        { ...good, identityKey: Buffer.alloc(31).toString('base64') },
        403,
        'identity_mismatch',
        /mismatch/,
      ],
      [
        {
          ...good,
          preKeys: Array.from({ length: 101 }, (_, i) => ({
            keyId: i,
            publicKey: Buffer.alloc(32, 1).toString('base64'),
          })),
        },
        400,
        'invalid_bundle',
      ],
      [
        {
          ...good,
          preKeys: [
            { keyId: 1, publicKey: Buffer.alloc(32, 1).toString('base64') },
            { keyId: 1, publicKey: Buffer.alloc(32, 2).toString('base64') },
          ],
        },
        400,
        'invalid_bundle',
        /duplicate/,
      ],
      [
        { ...good, preKeys: [{ keyId: 1, publicKey: Buffer.alloc(31).toString('base64') }] },
        400,
        'invalid_bundle',
      ],
      [{ ...good, preKeys: [{ keyId: 1, publicKey: 'abc' }] }, 400, 'invalid_bundle'],
      [
        { ...good, preKeys: [{ keyId: -1, publicKey: Buffer.alloc(32).toString('base64') }] },
        400,
        'invalid_bundle',
      ],
      [{ ...good, preKeys: 'many' }, 400, 'invalid_bundle'],
      [{ ...good, signedPreKey: 'x' }, 400, 'invalid_bundle'],
      [{ ...good, registrationId: 'x' }, 400, 'invalid_bundle'],
      [{ ...good, bundle_signature: undefined }, 401, 'signature_missing'],
      [{ ...good, bundle_signature: signMessage(stranger, 'x') }, 403, 'invalid_signature'],
      [{ ...good, bundle_signature: signMessage(me, 'something else') }, 403, 'invalid_signature'],
      [
        {
          ...good,
          signedPreKey: { ...(good.signedPreKey as object), signature: signMessage(me, 'other') },
        },
        403,
        'invalid_signature',
      ],
    ];
    for (const [body, status, code, text] of cases) {
      await rejectsWith(upload(body, await solveFor(me.identityHash)), status, code, text);
    }
    assert.equal(await t.relay.store.prekeyCount(me.identityHash), null);
    await unchanged();
  });

  it('upload: a body nested more than 64 deep is invalid_json, even with a valid PoW', async () => {
    const me = generateIdentity();
    // An extra field of signedPreKey, nested `depth` deep in all (the body is level 1).
    const good = buildBundle(me);
    const nested = (depth: number) =>
      JSON.stringify({
        ...good,
        signedPreKey: { ...(good.signedPreKey as object), x: 'DEEP' },
      }).replace('"DEEP"', '['.repeat(depth - 2) + ']'.repeat(depth - 2));
    // 64 deep is read (the signature does not cover x); JSON.stringify of 10,000 deep, to check
    // the bundle signature, used to overflow the stack: a 500.
    await rejectsWith(
      upload(nested(64), await solveFor(me.identityHash)),
      403,
      'invalid_signature',
    );
    for (const depth of [65, 10_000])
      await rejectsWith(
        upload(nested(depth), await solveFor(me.identityHash)),
        400,
        'invalid_json',
      );
    assert.equal(await t.relay.store.prekeyCount(me.identityHash), null);
    await unchanged();
  });

  it('upload: wrong-case hash is normalised, oversized body is 413', async () => {
    const me = generateIdentity();
    const body = {
      ...buildBundle(me, { preKeys: 1 }),
      identity_hash: me.identityHash.toUpperCase(),
    };
    await upload(body, await solveFor(me.identityHash));
    assert.equal(await t.relay.store.prekeyCount(me.identityHash), 1);
    await rejectsWith(upload({ ...body, junk: 'x'.repeat(70_000) }), 413, 'payload_too_large');
  });

  it('fetch and random: malformed queries', async () => {
    await rejectsWith(client.request('GET', '/keys/fetch'), 400, 'invalid_identity_hash');
    await rejectsWith(client.request('GET', '/keys/fetch?user=abc'), 400, 'invalid_identity_hash');
    const eleven = Array.from({ length: 11 }, () => generateIdentity().identityHash).join(',');
    await rejectsWith(client.request('GET', `/keys/fetch?user=${eleven}`), 400, 'too_many_hashes');
    await rejectsWith(client.request('GET', '/keys/random?count=3'), 401, 'pow_invalid');
    await unchanged();
    // Upper-case query hashes are normalised, and fetch works with hashes= too.
    const upper = await client.request(
      'GET',
      `/keys/fetch?hashes=${owner.identityHash.toUpperCase()}`,
    );
    assert.equal(upper.identity_hash, owner.identityHash);
    await t.relay.store.putBundle(
      owner.identityHash,
      JSON.stringify(upper),
      ['{"keyId":1,"publicKey":"x"}', '{"keyId":2,"publicKey":"y"}', '{"keyId":3,"publicKey":"z"}'],
      60_000,
    );
  });

  it('nickname: format, key, signature and ownership errors', async () => {
    const me = generateIdentity();
    const stranger = generateIdentity();
    const register = async (body: Record<string, unknown>) => {
      const nick = String(body.nickname);
      const s = await client.solve(
        { type: 'nickname', nickname: nick, identity_hash: me.identityHash },
        nick,
      );
      return client.request('POST', '/nickname/register', body, {
        'x-pow-seed': s.seed,
        'x-pow-nonce': s.nonce,
      });
    };
    const base = { identity_hash: me.identityHash, identityKey: me.publicKey.toString('base64') };
    for (const nickname of ['ab', 'x'.repeat(33), 'bad name', 'émile', 'a.b', 42]) {
      // The format is checked before the PoW: no solution needed to get the 400.
      await rejectsWith(
        client.request('POST', '/nickname/register', { ...base, nickname, signature: 'x' }),
        400,
        'invalid_nickname',
      );
    }
    await rejectsWith(
      register({
        ...base,
        nickname: 'Mine_name_1',
        identityKey: stranger.publicKey.toString('base64'),
        signature: signMessage(stranger, 'Mine_name_1'),
      }),
      403,
      'identity_mismatch',
      /mismatch/,
    );
    await rejectsWith(
      register({
        ...base,
        nickname: 'Mine_name_1',
        signature: signMessage(stranger, 'Mine_name_1'),
      }),
      403,
      'invalid_signature',
    );
    await rejectsWith(
      register({ ...base, nickname: 'Mine_name_1', signature: signMessage(me, 'Mine_name_2') }),
      403,
      'invalid_signature',
    );
    await rejectsWith(
      register({ ...base, nickname: 'Taken_Name_X', signature: signMessage(me, 'Taken_Name_X') }),
      409,
      'nickname_taken',
    );
    await rejectsWith(
      register({ ...base, nickname: 'taken_NAME_x', signature: signMessage(me, 'taken_NAME_x') }),
      409,
      'nickname_taken',
    );
    await rejectsWith(
      client.request('POST', '/nickname/register', {
        ...base,
        nickname: 'Mine_name_1',
        signature: signMessage(me, 'Mine_name_1'),
      }),
      401,
      'pow_invalid',
    );
    assert.equal(await t.relay.store.lookupNickname('mine_name_1'), null);
    await rejectsWith(client.request('GET', '/nickname/lookup?nick=a'), 400, 'invalid_nickname');
    await unchanged();
    // Registering a second name releases the first.
    await register({
      ...base,
      nickname: 'First_name_1',
      signature: signMessage(me, 'First_name_1'),
    });
    await register({
      ...base,
      nickname: 'Second_name_2',
      signature: signMessage(me, 'Second_name_2'),
    });
    await rejectsWith(client.lookupNickname('First_name_1'), 404, 'not_found');
    assert.equal((await client.lookupNickname('second_name_2')).identity_hash, me.identityHash);
  });

  it('burn: wrong key, wrong signature, empty key, replay', async () => {
    const h = owner.identityHash;
    const stranger = generateIdentity();
    const burn = async (
      make: (seed: string) => Record<string, unknown>,
      reuse?: { seed: string; nonce: string },
    ) => {
      const s = reuse ?? (await client.solve({ type: 'burn', identity_hash: h }, h));
      await client
        .request('POST', '/account/burn', make(s.seed), {
          'x-pow-seed': s.seed,
          'x-pow-nonce': s.nonce,
        })
        .catch((e) => {
          throw Object.assign(e, { solution: s });
        });
      return s;
    };
    const key = owner.publicKey.toString('base64');
    await rejectsWith(
      burn((seed) => ({
        identity_hash: h,
        identityKey: stranger.publicKey.toString('base64'),
        signature: signMessage(stranger, `BURN:${h}:${seed}`),
      })),
      403,
      'identity_mismatch',
      /mismatch/,
    );
    await rejectsWith(
      burn((seed) => ({
        identity_hash: h,
        identityKey: key,
        signature: signMessage(stranger, `BURN:${h}:${seed}`),
      })),
      403,
      'invalid_signature',
    );
    await rejectsWith(
      burn(() => ({
        identity_hash: h,
        identityKey: key,
        signature: signMessage(owner, `BURN:${h}:${'0'.repeat(64)}`),
      })),
      403,
      'invalid_signature',
    );
    await rejectsWith(
      burn((seed) => ({
        identity_hash: h,
        identityKey: '',
        signature: signMessage(owner, `BURN:${h}:${seed}`),
      })),
      403,
      'identity_mismatch',
    );
    await rejectsWith(
      burn(() => ({ identity_hash: h, identityKey: key })),
      401,
      'signature_missing',
    );
    await unchanged();
    // A captured valid request cannot be replayed: its seed is spent.
    const victim = generateIdentity();
    await client.uploadBundle(victim, { preKeys: 1 });
    const vh = victim.identityHash;
    const s = await client.solve({ type: 'burn', identity_hash: vh }, vh);
    const body = {
      identity_hash: vh,
      identityKey: victim.publicKey.toString('base64'),
      signature: signMessage(victim, `BURN:${vh}:${s.seed}`),
    };
    const headers = { 'x-pow-seed': s.seed, 'x-pow-nonce': s.nonce };
    await client.request('POST', '/account/burn', body, headers);
    await client.uploadBundle(victim, { preKeys: 1 });
    await rejectsWith(client.request('POST', '/account/burn', body, headers), 401, 'pow_invalid');
    assert.equal(await t.relay.store.prekeyCount(vh), 1);
    // Burning an unknown identity with a valid signature answers 200 (no existence oracle).
    assert.deepEqual(await client.burn(stranger), { status: 'account_purged' });
  });
});

describe('rate limiting and jail', () => {
  it('refuses with Retry-After, then jails the bucket on the 6th refusal', async () => {
    const t = await startTestRelay({ tls: false, limitNickLookup: 2, jailSeconds: 120 });
    try {
      const get = () => t.request('/nickname/lookup?nick=nobody');
      assert.equal((await get()).status, 404);
      assert.equal((await get()).status, 404);
      const refused = await get();
      assert.equal(refused.status, 429);
      assert.equal(refused.json.code, 'rate_limited');
      assert.equal(refused.body.length, 1536);
      const retry = Number(refused.headers['retry-after']);
      assert.ok(retry >= 1 && retry <= 30, `Retry-After ${retry}`);
      assert.equal(refused.json.retry_after, retry);
      for (let i = 0; i < 4; i++) assert.equal((await get()).status, 429);
      const jailed = await get();
      assert.equal(jailed.status, 429);
      assert.equal(jailed.headers['retry-after'], '120');
      const still = await get();
      assert.ok(
        Number(still.headers['retry-after']) > 100,
        'jail keeps refusing with the remaining time',
      );
      // Another endpoint's bucket is not jailed, and /health is never limited.
      assert.equal((await t.request('/keys/fetch?user=' + 'a'.repeat(64))).status, 404);
      assert.equal((await t.request('/health')).status, 200);
    } finally {
      await t.close();
    }
  });

  it('limits the global bucket per IP, separately per address', async () => {
    const t = await startTestRelay({ tls: false, limitGlobal: 3 });
    try {
      const statuses = [];
      for (let i = 0; i < 4; i++)
        statuses.push((await t.request('/nope', { localAddress: '127.0.0.4' })).status);
      assert.deepEqual(statuses, [404, 404, 404, 429]);
      assert.equal((await t.request('/nope', { localAddress: '127.0.0.5' })).status, 404);
    } finally {
      await t.close();
    }
  });
});
