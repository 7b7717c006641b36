// WebSocket authentication under abuse (docs/protocol.md §4.2, §9 "Per identity"), over real TLS
// sockets: bounded session tokens, auth attempts limited per IP and per identity, and the
// legacy names of compat mode accepted alike by the challenge route and the WebSocket.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, afterEach, before, describe, it } from 'node:test';
import { generateIdentity } from '../src/client/identity.js';
import { solvePow } from '../src/client/pow-solver.js';
import type { Config } from '../src/config.js';
import type { Json } from '../src/json.js';
import type { Relay } from '../src/server.js';
import { testRedisStore, storeBackends } from './helpers/backends.js';
import { redisKeysContaining } from './helpers/redis-keys.js';
import { redisCli, startRedisServer, type TestRedisServer } from './helpers/redis-server.js';
import { startTestRelay, type TestRelay } from './helpers/relay.js';
import { authedPeer, powAuthPayload, RawPeer } from './helpers/ws.js';

const GENEROUS = {
  jitterMs: [0, 2] as [number, number],
  limitWsFrames: 100_000,
  powLimit: 10_000,
  limitGlobal: 10_000,
};

/** One auth on a fresh socket: the first frame the relay answers, and how the socket ended. */
async function attempt(
  relay: Relay,
  payload: Json,
  localAddress?: string,
): Promise<{ frame: Json; close?: number }> {
  const peer = await RawPeer.open(relay, { localAddress });
  peer.send({ type: 'auth', payload });
  const frame = (await peer.next()).json as Json;
  if (frame.type === 'auth_success') {
    await peer.close();
    return { frame };
  }
  return { frame, close: (await peer.closed).code };
}

function assertRateLimited(result: { frame: Json; close?: number }, maxRetryAfter: number): number {
  assert.equal(result.frame.type, 'error');
  assert.equal(result.frame.code, 'rate_limited', JSON.stringify(result.frame));
  const retryAfter = result.frame.retry_after as number;
  assert.ok(
    Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= maxRetryAfter,
    `retry_after ${retryAfter}`,
  );
  assert.equal(result.close, 1008);
  return retryAfter;
}

for (const backend of storeBackends()) {
  describe(`session tokens are bounded per identity (${backend.name} store)`, () => {
    let t: TestRelay;
    before(async () => {
      t = await startTestRelay(
        { ...GENEROUS, limitWsAuth: 10_000, limitWsAuthIdentity: 10_000 },
        { store: await backend.store() },
      );
    });
    after(async () => {
      await t.close();
      await backend.redis?.stop();
    });

    it('500 token re-auths of one identity leave only the newest maxSessionTokens', async () => {
      const max = t.relay.ctx.config.maxSessionTokens;
      assert.equal(max, 5);
      const me = generateIdentity();
      const h = me.identityHash;
      const first = await authedPeer(t.relay, me);
      await first.peer.close();
      const tokens: string[] = [first.success.session_token];
      // Each auth by token issues a new token: no proof of work after the first.
      for (let i = 0; i < 500; i++) {
        const { frame } = await attempt(t.relay, {
          identity_hash: h,
          session_token: tokens.at(-1),
        });
        assert.equal(frame.type, 'auth_success', JSON.stringify(frame));
        tokens.push(frame.session_token as string);
      }

      const tokenHash = (token: string) =>
        createHmac('sha256', t.relay.ctx.secret.value).update(token).digest('hex');
      const live = await Promise.all(
        tokens.map((token) => t.relay.store.hasSessionToken(h, tokenHash(token))),
      );
      assert.deepEqual(
        live.flatMap((ok, i) => (ok ? [i] : [])),
        [496, 497, 498, 499, 500],
        'exactly the newest five tokens are live',
      );
      if (backend.redis) {
        assert.equal((await redisCli(backend.redis.port, 'ZCARD', `session:{${h}}`)).trim(), '5');
      }

      for (const old of [tokens[0], tokens[495]]) {
        const revoked = await attempt(t.relay, { identity_hash: h, session_token: old });
        assert.equal(revoked.frame.code, 'auth_failed');
        assert.equal(revoked.close, 4001);
      }
      const newest = await attempt(t.relay, { identity_hash: h, session_token: tokens[500] });
      assert.equal(newest.frame.type, 'auth_success');
    });
  });
}

describe('WebSocket auth attempts are rate limited', () => {
  let redis: TestRedisServer | undefined;
  afterEach(() => redis?.stop());

  /** A relay on its own Redis, so the test can see every key it wrote. */
  const relayOn = async (overrides: Partial<Config>) => {
    redis = await startRedisServer();
    return startTestRelay(
      { ...GENEROUS, ...overrides },
      { store: testRedisStore({ url: redis.url }) },
    );
  };
  const keysWith = (fragment: string) => redisKeysContaining(redis!.port, fragment);
  const bogusToken = () => ({ identity_hash: generateIdentity().identityHash, session_token: 'x' });

  it('per IP: the (limit+1)th attempt is refused with retry_after and 1008, consuming nothing', async () => {
    const t = await relayOn({ limitWsAuth: 3, limitWsAuthIdentity: 100, jailSeconds: 90 });
    try {
      for (let i = 0; i < 3; i++) {
        const failed = await attempt(t.relay, bogusToken());
        assert.equal(failed.frame.code, 'auth_failed');
        assert.equal(failed.close, 4001);
      }
      const me = generateIdentity();
      const payload = await powAuthPayload(t.relay, me);
      // One token per 20 s comes back: the wait is at most that.
      assertRateLimited(await attempt(t.relay, payload), 20);
      // Nothing of the identity was touched: no bucket, no token, and the seed is not spent.
      assert.deepEqual(await keysWith(me.identityHash), []);
      assert.deepEqual(await keysWith(payload.seed), []);
      // Another address is not limited, and the very same solution still authenticates there.
      const elsewhere = await attempt(t.relay, payload, '127.0.0.2');
      assert.equal(elsewhere.frame.type, 'auth_success');
      assert.deepEqual(await keysWith(me.identityHash), [
        `rl:{${me.identityHash}}:ws_auth`,
        `session:{${me.identityHash}}`,
      ]);

      // The 6th refusal within two windows jails the address for ENTROPY_JAIL_SECONDS.
      for (let refusal = 2; refusal <= 5; refusal++) {
        assert.ok(assertRateLimited(await attempt(t.relay, bogusToken()), 20) < 90);
      }
      assert.equal(assertRateLimited(await attempt(t.relay, bogusToken()), 90), 90);
      assert.ok(assertRateLimited(await attempt(t.relay, bogusToken()), 90) > 60);
    } finally {
      await t.close();
    }
  });

  it('per identity, counted once the proof holds: nobody else can lock a user out', async () => {
    const t = await relayOn({ limitWsAuth: 100, limitWsAuthIdentity: 2 });
    try {
      const me = generateIdentity();
      const h = me.identityHash;
      // Anyone can send failed attempts for h: they never spend h's bucket.
      for (const address of ['127.0.0.2', '127.0.0.3', '127.0.0.2', '127.0.0.3', '127.0.0.2']) {
        const failed = await attempt(t.relay, { identity_hash: h, session_token: 'x' }, address);
        assert.equal(failed.frame.code, 'auth_failed');
      }
      assert.deepEqual(await keysWith(h), []);
      // The key holder's own authentications are limited, from any address.
      for (const address of ['127.0.0.4', '127.0.0.5']) {
        const ok = await attempt(t.relay, await powAuthPayload(t.relay, me), address);
        assert.equal(ok.frame.type, 'auth_success');
      }
      const payload = await powAuthPayload(t.relay, me);
      assertRateLimited(await attempt(t.relay, payload, '127.0.0.6'), 30);
      // Refused before a token was issued: still the two of the successful authentications.
      assert.equal(Number(await redisCli(redis!.port, 'zcard', `session:{${h}}`)), 2);
      // The same address authenticates another identity.
      const other = await attempt(
        t.relay,
        await powAuthPayload(t.relay, generateIdentity()),
        '127.0.0.6',
      );
      assert.equal(other.frame.type, 'auth_success');
    } finally {
      await t.close();
    }
  });

  it('fails closed while the store is unreachable: storage_unavailable, close 1011', async () => {
    const t = await relayOn({});
    try {
      await redis!.stop();
      const refused = await attempt(t.relay, bogusToken());
      assert.equal(refused.frame.code, 'storage_unavailable');
      assert.equal(refused.close, 1011);
    } finally {
      await t.close();
    }
  });
});

describe('compat v1: legacy names are addresses everywhere', () => {
  const legacyAuth = async (
    t: TestRelay,
    name: string,
  ): Promise<{ frame: Json; close?: number }> => {
    const challenge = await t.request(`/pow/challenge?identity_hash=${name}`);
    assert.equal(challenge.status, 200, JSON.stringify(challenge.json));
    const { seed, difficulty } = challenge.json as { seed: string; difficulty: number };
    return attempt(t.relay, {
      identity_hash: name,
      seed,
      nonce: await solvePow(seed, name, difficulty),
    });
  };

  it('compat mode: a challenge for a legacy name, then PoW-only auth with it', async () => {
    const t = await startTestRelay({ ...GENEROUS, compat: 'v1' });
    try {
      const { frame } = await legacyAuth(t, 'replay_user');
      assert.equal(frame.type, 'auth_success');
      assert.equal(frame.identity_hash, 'replay_user');
      // What no mode accepts is refused by the challenge route too.
      for (const bad of ['bad%20name', 'a'.repeat(65), 'caf%C3%A9']) {
        const refused = await t.request(`/pow/challenge?identity_hash=${bad}`);
        assert.equal(refused.status, 400, bad);
        assert.equal(refused.json.code, 'invalid_identity_hash');
      }
    } finally {
      await t.close();
    }
  });

  it('default mode: 400 invalid_identity_hash, and the WebSocket refuses the name as well', async () => {
    const t = await startTestRelay(GENEROUS);
    try {
      const refused = await t.request('/pow/challenge?identity_hash=replay_user');
      assert.equal(refused.status, 400);
      assert.equal(refused.json.code, 'invalid_identity_hash');
      const { seed } = (await t.request('/pow/challenge')).json as { seed: string };
      const auth = await attempt(t.relay, {
        identity_hash: 'replay_user',
        seed,
        nonce: await solvePow(seed, 'replay_user', 4),
      });
      assert.equal(auth.frame.code, 'auth_failed');
      assert.equal(auth.close, 4001);
    } finally {
      await t.close();
    }
  });
});
