// The JSON schemas every route carries: each route has them, the checks built from them answer
// as the hand-written checks did, real replies conform to them, and they change no byte.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { after, before, describe, it } from 'node:test';
import type { TSchema } from 'typebox';
import { buildBundle, generateIdentity, signMessage } from '../src/client/identity.js';
import { RelayClient } from '../src/client/rest-client.js';
import { RelayError } from '../src/errors.js';
import { buildHttpApp } from '../src/http/app.js';
import { burnSchema } from '../src/http/schemas/account.js';
import { ErrorReply, NoQuery, replies, type RouteSchema } from '../src/http/schemas/common.js';
import { fetchSchema, randomSchema, uploadSchema } from '../src/http/schemas/keys.js';
import { lookupSchema, registerSchema } from '../src/http/schemas/nickname.js';
import {
  healthSchema,
  metricsSchema,
  preflightSchema,
  readySchema,
} from '../src/http/schemas/ops.js';
import { challengeSchema } from '../src/http/schemas/pow.js';
import { decodeBase64 } from '../src/identity/crypto.js';
import { base64Pattern } from '../src/identity/schemas.js';
import { BundleShape, parseBundleShape } from '../src/keys/bundle.js';
import { compileCheck } from '../src/schema-check.js';
import { startTestRelay, type TestRelay } from './helpers/relay.js';

const ROUTE_SCHEMAS: Record<string, RouteSchema> = {
  challengeSchema,
  uploadSchema,
  fetchSchema,
  randomSchema,
  registerSchema,
  lookupSchema,
  burnSchema,
  healthSchema,
  readySchema,
  metricsSchema,
  preflightSchema,
};

function okSchema(schema: RouteSchema): TSchema {
  return (schema.response as Record<number, TSchema>)[200]!;
}

function assertConforms(schema: TSchema, value: unknown, what: string): void {
  assert.equal(compileCheck(schema)(value), null, `${what}: ${JSON.stringify(value)}`);
}

const b64 = (bytes: number, fill = 1) => Buffer.alloc(bytes, fill).toString('base64');

describe('route schemas', () => {
  let t: TestRelay;
  let client: RelayClient;
  before(async () => {
    t = await startTestRelay({
      tls: false,
      adminToken: 'admin-token-for-the-test',
      limitGlobal: 10_000,
      powLimit: 10_000,
    });
    client = new RelayClient({ url: t.relay.url });
  });
  after(() => t.close());

  it('every route must describe its input and its success reply', () => {
    // The relay started, so each of its routes passed this check; a route without them is refused.
    const build = (register: Parameters<typeof buildHttpApp>[2]) => () =>
      buildHttpApp(t.relay.ctx, createServer(), register);
    const handler = async () => ({});
    const ok = { querystring: NoQuery, response: replies(NoQuery) };
    assert.throws(
      build([(app) => app.get('/x', handler)]),
      /GET \/x: its schema lacks a success response, querystring/,
    );
    assert.throws(
      build([(app) => app.get('/x', { schema: { querystring: NoQuery } }, handler)]),
      /GET \/x: its schema lacks a success response$/,
    );
    assert.throws(
      build([(app) => app.get('/x', { schema: { response: ok.response } }, handler)]),
      /GET \/x: its schema lacks querystring$/,
    );
    assert.throws(
      build([(app) => app.post('/x', { schema: ok }, handler)]),
      /POST \/x: its schema lacks body$/,
    );
    assert.doesNotThrow(build([(app) => app.get('/x', { schema: ok }, handler)]));
  });

  it('the upload schema accepts the bodies the client library builds', () => {
    const me = generateIdentity();
    const bodies = [
      buildBundle(me),
      buildBundle(me, { preKeys: 0, registrationId: 0 }),
      buildBundle(me, { preKeys: 100, registrationId: 2 ** 32 - 1 }),
      buildBundle(me, { preKeys: 2, pqIdentityKey: Buffer.alloc(1568, 7) }),
    ];
    for (const body of bodies) {
      assertConforms(uploadSchema.body as TSchema, body, 'upload body');
      assertConforms(BundleShape, body, 'bundle shape');
      const { bundle, preKeys } = parseBundleShape(body, me.identityHash);
      assert.equal(bundle.identityKey, body.identityKey);
      assert.deepEqual(preKeys, body.preKeys);
    }
  });

  it('a shape failure reads as the hand-written checks wrote it, one defect at a time', () => {
    const me = generateIdentity();
    const good = buildBundle(me, { preKeys: 2 });
    const spk = good.signedPreKey as Record<string, unknown>;
    const preKey = (fields: Record<string, unknown>) => ({
      ...good,
      preKeys: [{ keyId: 7, publicKey: b64(32) }, fields],
    });
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ ...good, registrationId: -1 }, 'registrationId must be an integer 0..2^32-1'],
      [{ ...good, registrationId: 1.5 }, 'registrationId must be an integer 0..2^32-1'],
      [{ ...good, registrationId: null }, 'registrationId must be an integer 0..2^32-1'],
      [{ ...good, identityKey: b64(31) }, 'identityKey must be a 32-byte Ed25519 key'],
      [{ ...good, pq_identityKey: '' }, 'pq_identityKey must be base64 of 1..4096 bytes'],
      [{ ...good, pq_identityKey: b64(4097) }, 'pq_identityKey must be base64 of 1..4096 bytes'],
      [{ ...good, signedPreKey: undefined }, 'signedPreKey must be an object'],
      [{ ...good, signedPreKey: [] }, 'signedPreKey must be an object'],
      [
        { ...good, signedPreKey: { ...spk, keyId: 2 ** 32 } },
        'signedPreKey.keyId must be an integer 0..2^32-1',
      ],
      [
        { ...good, signedPreKey: { ...spk, keyId: undefined } },
        'signedPreKey.keyId must be an integer 0..2^32-1',
      ],
      [
        { ...good, signedPreKey: { ...spk, publicKey: b64(33) } },
        'signedPreKey.publicKey must be 32 bytes of base64',
      ],
      [
        { ...good, signedPreKey: { ...spk, pq_publicKey: 'YQ' } },
        'signedPreKey.pq_publicKey must be base64 of 1..4096 bytes',
      ],
      [
        { ...good, signedPreKey: { ...spk, signature: b64(63) } },
        'signedPreKey.signature must be a 64-byte signature',
      ],
      [
        { ...good, signedPreKey: { ...spk, signature: undefined } },
        'signedPreKey.signature must be a 64-byte signature',
      ],
      [{ ...good, preKeys: {} }, 'preKeys must be an array'],
      [
        {
          ...good,
          preKeys: Array.from({ length: 101 }, (_, keyId) => ({ keyId, publicKey: b64(32) })),
        },
        'at most 100 preKeys',
      ],
      [
        { ...good, preKeys: [{ keyId: 1, publicKey: b64(32) }, null] },
        'preKeys[1] must be an object',
      ],
      [preKey({ keyId: 'x', publicKey: b64(32) }), 'preKeys[1].keyId must be an integer 0..2^32-1'],
      [preKey({ publicKey: b64(32) }), 'preKeys[1].keyId must be an integer 0..2^32-1'],
      [preKey({ keyId: 7, publicKey: b64(32) }), 'duplicate preKey keyId 7'],
      [
        preKey({ keyId: 8, publicKey: 'not base64' }),
        'preKeys[1].publicKey must be 32 bytes of base64',
      ],
    ];
    for (const [body, message] of cases) {
      const parsed = JSON.parse(JSON.stringify(body)) as Record<string, unknown>;
      assert.throws(
        () => parseBundleShape(parsed, me.identityHash),
        (err) =>
          err instanceof RelayError &&
          err.status === 400 &&
          err.code === 'invalid_bundle' &&
          err.message === `Invalid bundle: ${message}`,
        message,
      );
    }
    // Null prekeys mean none, and unknown fields pass (v1 clients send more than the relay keeps).
    const extra = { ...good, preKeys: null, extra: 1, signedPreKey: { ...spk, extra: 1 } };
    assert.deepEqual(parseBundleShape(extra, me.identityHash).preKeys, []);
  });

  it('hash and name lists: the count is checked before the items, each with its code', async () => {
    const { keys, nicknames } = t.relay.ctx.services;
    const refusal = async (promise: Promise<unknown>) =>
      promise.then(
        () => assert.fail('accepted'),
        (err: RelayError) => `${err.status} ${err.code} ${err.message}`,
      );
    assert.equal(await refusal(keys.fetch([])), '400 invalid_identity_hash user is required');
    assert.equal(
      await refusal(keys.fetch(['abc'])),
      '400 invalid_identity_hash user must be 64 hex characters',
    );
    assert.equal(
      await refusal(keys.fetch(Array.from({ length: 11 }, () => 'abc'))),
      '400 too_many_hashes At most 10 hashes per fetch',
    );
    assert.equal(await refusal(nicknames.lookup([])), '400 invalid_nickname nick is required');
    assert.equal(
      await refusal(nicknames.lookup(['ok_name', 'a'])),
      '400 invalid_nickname nickname must be 3-32 characters of A-Z a-z 0-9 _ -',
    );
    assert.equal(
      await refusal(nicknames.lookup(Array.from({ length: 11 }, () => 'a'))),
      '400 too_many_names At most 10 names per lookup',
    );
  });

  it('base64Pattern accepts exactly the base64 that decodes to that many bytes', () => {
    const ranges: Array<[number, number]> = [
      [32, 32],
      [64, 64],
      [1, 4096],
      [0, 5],
    ];
    const lengths = [...Array.from({ length: 80 }, (_, i) => i), 4094, 4095, 4096, 4097, 4098];
    const texts = lengths.map((n) => b64(n, n));
    texts.push('YQ', 'YQ=', 'YQ===', 'Y===', '====', 'YWJj\n', ' YWJj', 'YW-j', 'YWJj'.repeat(11));
    for (const [min, max] of ranges) {
      const pattern = new RegExp(base64Pattern(min, max), 'u');
      for (const text of texts) {
        const bytes = decodeBase64(text)?.length;
        const expected = bytes !== undefined && bytes >= min && bytes <= max;
        assert.equal(pattern.test(text), expected, `${min}..${max}: ${text.slice(0, 20)}`);
      }
    }
  });

  it('every example in the route schemas conforms to its own schema', () => {
    let examples = 0;
    const visit = (node: unknown): void => {
      if (typeof node !== 'object' || node === null) return;
      const schema = node as { examples?: unknown[] };
      if (Array.isArray(schema.examples)) {
        for (const example of schema.examples) {
          assertConforms(node as TSchema, example, 'example');
          examples++;
        }
      }
      for (const child of Object.values(node)) visit(child);
    };
    visit(ROUTE_SCHEMAS);
    assert.ok(examples >= 10, `${examples} examples`);
  });

  it('every success reply and error body conforms to its route schema', async () => {
    const seen = new Set<RouteSchema>();
    const ok = async (
      schema: RouteSchema,
      path: string,
      init: Parameters<TestRelay['request']>[1] = {},
    ) => {
      const res = await t.request(path, init);
      assert.equal(res.status, 200, `${path}: ${res.body.toString().trim()}`);
      assertConforms(okSchema(schema), res.json, path);
      seen.add(schema);
      return res.json as Record<string, unknown>;
    };
    const pow = async (query: Record<string, string>, context: string) => {
      const s = await client.solve(query, context);
      return { 'x-pow-seed': s.seed, 'x-pow-nonce': s.nonce };
    };
    const post = (body: unknown, headers: Record<string, string>) => ({
      method: 'POST',
      body: JSON.stringify(body),
      headers: { 'content-type': 'application/json', ...headers },
    });

    await ok(healthSchema, '/health');
    await ok(readySchema, '/ready');
    await ok(challengeSchema, '/pow/challenge?type=nickname&nickname=Alice_1');
    const [alice, bob] = [generateIdentity(), generateIdentity()];
    for (const me of [alice, bob]) {
      const h = me.identityHash;
      const body = buildBundle(me, { preKeys: 2, pqIdentityKey: Buffer.alloc(100, 1) });
      await ok(uploadSchema, '/keys/upload', post(body, await pow({ type: 'upload' }, h)));
    }
    await ok(fetchSchema, `/keys/fetch?user=${alice.identityHash}`);
    await ok(fetchSchema, `/keys/fetch?hashes=${alice.identityHash},${bob.identityHash}`);
    await ok(randomSchema, '/keys/random?count=50', { headers: await pow({ type: 'random' }, '') });
    const nick = `Alice_${alice.identityHash.slice(0, 4)}`;
    const register = {
      nickname: nick,
      identity_hash: alice.identityHash,
      identityKey: alice.publicKey.toString('base64'),
      signature: signMessage(alice, nick),
    };
    const nickPow = await pow({ type: 'nickname', nickname: nick }, nick);
    await ok(registerSchema, '/nickname/register', post(register, nickPow));
    await ok(lookupSchema, `/nickname/lookup?nick=${nick}`);
    await ok(lookupSchema, `/nickname/lookup?name=${nick},nobody_else`);
    const metrics = await t.request('/metrics', {
      headers: { 'x-admin-token': 'admin-token-for-the-test' },
    });
    assert.equal(metrics.status, 200);
    assert.match(String(metrics.headers['content-type']), /^text\/plain/);
    seen.add(metricsSchema);
    const h = alice.identityHash;
    const burnPow = await pow({ type: 'burn', identity_hash: h }, h);
    const burn = {
      identity_hash: h,
      identityKey: alice.publicKey.toString('base64'),
      signature: signMessage(alice, `BURN:${h}:${burnPow['x-pow-seed']}`),
    };
    await ok(burnSchema, '/account/burn', post(burn, burnPow));
    seen.add(preflightSchema); // 204, no body
    assert.deepEqual(
      Object.keys(ROUTE_SCHEMAS).filter((name) => !seen.has(ROUTE_SCHEMAS[name]!)),
      [],
    );

    for (const path of ['/nope', '/keys/fetch?user=abc', '/pow/challenge?type=x']) {
      assertConforms(ErrorReply, (await t.request(path)).json, path);
    }
  });

  it('replies leave as the handler wrote them: response schemas drop or reorder nothing', async () => {
    const me = generateIdentity();
    // Stored out of schema order and with a field no schema names.
    const stored = `{"zz_unknown":[1],"signedPreKey":{"signature":"s","keyId":1},"identity_hash":"${me.identityHash}"}`;
    await t.relay.store.putBundle(me.identityHash, stored, ['{"publicKey":"p","keyId":9}'], 60_000);
    const res = await t.request(`/keys/fetch?user=${me.identityHash}`);
    assert.equal(res.status, 200);
    assert.equal(
      res.body.toString('utf8').trimEnd(),
      `${stored.slice(0, -1)},"preKeys":[{"publicKey":"p","keyId":9}]}`,
    );
    const health = await t.request('/health');
    assert.equal(
      health.body.toString('utf8').trimEnd(),
      `{"status":"healthy","storage":"memory","tls":false,"version":${JSON.stringify(t.relay.ctx.version)}}`,
    );
  });
});
