// Hostile HTTP input, property-based (docs/protocol.md §2, §3, §6, §9): valid, near-valid and
// garbage bodies, queries, headers, methods and paths, sent over real TLS sockets to a relay on a
// Redis this file starts. Every reply is padded JSON with the security headers and, when it is an
// error, a known code; a refused request changes nothing in the store; the relay serves on.
// Each property has a fixed seed: a failure prints it with the counterexample.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { buildBundle, signMessage } from '../src/client/identity.js';
import type { ChallengeQuery } from '../src/client/rest-client.js';
import { bucketSpecs, type BucketSpecs, type IpBucket } from '../src/ratelimit/limiter.js';
import {
  Deep,
  HTTP_ERROR_CODES,
  anyHash,
  assertFramesSound,
  assertProperty,
  badString,
  badValue,
  invalidUtf8,
  mutate,
  mutation,
  notAnObject,
  serialise,
  settle,
  startHostileRelay,
  type HostileRelay,
  type Mutation,
} from './helpers/hostile.js';
import { isPadded } from './helpers/padding.js';
import {
  assertSecurityHeaders,
  exchange,
  parseResponse,
  type RawResponse,
} from './helpers/raw-http.js';
import { within } from './helpers/wait.js';
import { RawPeer } from './helpers/ws.js';

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

// --- What a run sends --------------------------------------------------------------------

type PowMode =
  | { kind: 'none' | 'valid' | 'replay' | 'wrong_context' }
  | { kind: 'garbage'; seed: string; nonce: string }
  | { kind: 'duplicate'; nonce: string };

/** A request, in terms of the fixture: `{H0}`…`{H3}` (identities with a bundle), `{NICK}`. */
interface Spec {
  route: 'upload' | 'register' | 'burn' | 'fetch' | 'lookup' | 'challenge' | 'random' | 'raw';
  method?: string;
  path?: string;
  version?: string;
  mutations?: Mutation[];
  query?: Array<[string, string, Encoding]>;
  body?: string | Uint8Array;
  headers: Array<[string, string]>;
  pow: PowMode;
  chunked?: boolean;
}

type Encoding = 'encoded' | 'raw' | 'twice';

const routeOf: Record<string, [string, string]> = {
  upload: ['POST', '/keys/upload'],
  register: ['POST', '/nickname/register'],
  burn: ['POST', '/account/burn'],
  fetch: ['GET', '/keys/fetch'],
  lookup: ['GET', '/nickname/lookup'],
  challenge: ['GET', '/pow/challenge'],
  random: ['GET', '/keys/random'],
};

const powMode: fc.Arbitrary<PowMode> = fc.oneof(
  { weight: 2, arbitrary: fc.constant({ kind: 'none' as const }) },
  { weight: 8, arbitrary: fc.constant({ kind: 'valid' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'replay' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'wrong_context' as const }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('garbage' as const),
      seed: fc.oneof(badString, anyHash),
      nonce: fc.oneof(
        badString,
        fc.constantFrom('0', '1', '99999999999999999999', '-1', '1e5', '0x10'),
      ),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('duplicate' as const),
      nonce: fc.constantFrom('0', '7'),
    }),
  },
);

const header = fc.oneof(
  fc.constantFrom<[string, string]>(
    ['Content-Type', 'application/json'],
    ['Content-Type', 'text/plain'],
    ['Content-Type', 'application/x-www-form-urlencoded'],
    ['Content-Type', 'multipart/form-data; boundary=x'],
    ['Content-Type', 'application/json; charset=utf-16'],
    ['Content-Type', 'application/json;;;'],
    ['Content-Type', ''],
    ['Content-Type', 'application/json, text/plain'],
    ['Content-Type', `application/${'x'.repeat(4000)}`],
    ['Content-Encoding', 'gzip'],
    ['Content-Encoding', 'identity'],
    ['Accept-Encoding', 'gzip, br'],
    ['Expect', '100-continue'],
    ['Expect', 'something-else'],
    ['Origin', 'http://localhost:1420'],
    ['Origin', 'https://evil.example'],
    ['Origin', 'null'],
    ['X-Forwarded-For', '203.0.113.9'],
    ['X-Admin-Token', 'guess'],
    ['X-PoW-Seed', ''],
    ['X-PoW-Nonce', ''],
    ['Range', 'bytes=0-10'],
    ['Host', 'evil.example'],
    ['Host', ''],
    ['Authorization', 'Bearer x'],
    ['Cookie', 'a=b'],
  ),
  fc.tuple(
    fc.constantFrom('X-Junk', 'X-PoW-Seed', 'X-PoW-Nonce', 'Accept', 'User-Agent'),
    fc.constantFrom('x'.repeat(8000), 'é', '\u00ff\u00fe', '\t'),
  ),
  fc.tuple(
    fc
      .stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,20}$/)
      .filter(
        (n) =>
          !/^(connection|content-length|transfer-encoding|upgrade|sec-websocket-key)$/i.test(n),
      ),
    fc.string({ maxLength: 40 }),
  ),
);

const headers = fc.array(header, { maxLength: 3 });

/** A query parameter value: the fixture's hashes and nickname, lists, and bad values. */
const queryValue = fc.oneof(
  fc.constantFrom(
    '{H0}',
    '{H1}',
    '{H0},{H1}',
    '{H0},{H0}',
    '{NICK}',
    '{NICK},nobody_here',
    'auth',
    'upload',
    'burn',
    'decoy',
    'random',
    'nickname',
    '',
    ',',
    ',,{H1},',
    '1',
    '10',
    '11',
    '-5',
    '1e400',
    'NaN',
  ),
  anyHash,
  anyHash.map((h) => h.toUpperCase()),
  fc.array(anyHash, { minLength: 9, maxLength: 14 }).map((l) => l.join(',')),
  fc
    .array(fc.stringMatching(/^[a-z_]{3,12}$/), { minLength: 9, maxLength: 14 })
    .map((l) => l.join(',')),
  fc.constantFrom(
    'replay_user',
    'a',
    'legacy-name_1',
    '%ZZ',
    '%',
    '%00',
    '%ff%fe',
    'a%2Cb',
    '+',
    '#frag',
    '&&',
    '==',
  ),
  badString.map((s) => s.slice(0, 300)),
);

const queryName = fc.constantFrom(
  'user',
  'hashes',
  'nick',
  'name',
  'identity_hash',
  'type',
  'nickname',
  'count',
  'x',
  '',
  'user[]',
  '__proto__',
);

const query = fc.array(
  fc.tuple(queryName, queryValue, fc.constantFrom<Encoding>('encoded', 'encoded', 'raw', 'twice')),
  { maxLength: 4 },
);

const UPLOAD_PATHS = [
  ['identity_hash'],
  ['registrationId'],
  ['identityKey'],
  ['pq_identityKey'],
  ['signedPreKey'],
  ['signedPreKey', 'keyId'],
  ['signedPreKey', 'publicKey'],
  ['signedPreKey', 'pq_publicKey'],
  ['signedPreKey', 'signature'],
  ['preKeys'],
  ['preKeys', '0'],
  ['preKeys', '0', 'keyId'],
  ['preKeys', '0', 'publicKey'],
  ['bundle_signature'],
];
const REGISTER_PATHS = [['nickname'], ['identity_hash'], ['identityKey'], ['signature']];
const BURN_PATHS = [['identity_hash'], ['identityKey'], ['signature']];

/** Mostly one field changed (near-valid), sometimes none (valid) or two. */
const mutations = (paths: string[][]) =>
  fc.oneof(
    { weight: 1, arbitrary: fc.constant([] as Mutation[]) },
    { weight: 4, arbitrary: fc.tuple(mutation(paths)) },
    { weight: 1, arbitrary: fc.tuple(mutation(paths), mutation(paths)) },
  );

const garbageBody = fc.oneof(
  notAnObject,
  invalidUtf8,
  fc.uint8Array({ maxLength: 2000 }),
  badValue.map((v) => serialise({ identity_hash: v })),
  fc.constantFrom('x'.repeat(70_000), `{"a":"${'x'.repeat(70_000)}"}`),
);

const spec: fc.Arbitrary<Spec> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      route: fc.constant('upload' as const),
      mutations: mutations(UPLOAD_PATHS),
      headers,
      pow: powMode,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      route: fc.constant('register' as const),
      mutations: mutations(REGISTER_PATHS),
      headers,
      pow: powMode,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      route: fc.constant('burn' as const),
      mutations: mutations(BURN_PATHS),
      headers,
      // A valid burn proof costs difficulty 5: this property only sends unpaid ones.
      pow: powMode.filter(
        (p) => p.kind === 'none' || p.kind === 'garbage' || p.kind === 'duplicate',
      ),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      route: fc.constantFrom(
        'fetch' as const,
        'lookup' as const,
        'challenge' as const,
        'random' as const,
      ),
      query,
      headers,
      pow: powMode,
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      route: fc.constant('raw' as const),
      method: fc.constantFrom(
        'GET',
        'POST',
        'PUT',
        'DELETE',
        'PATCH',
        'HEAD',
        'OPTIONS',
        'TRACE',
        'CONNECT',
        'PROPFIND',
        'FOO',
        'get',
      ),
      path: fc.constantFrom(
        '/keys/upload/',
        '/KEYS/upload',
        '/Keys/Upload',
        '/keys//upload',
        '//keys/upload',
        '/keys/upload/../fetch',
        '/keys/%75pload',
        '/keys/upload%00',
        '/keys/upload;x',
        '/keys/upload.json',
        '/keys/upload?',
        '/keys',
        '/',
        '/ws',
        '/health/',
        '/health?x=1',
        '/ready',
        '/metrics',
        '/%',
        '/%zz',
        '*',
        'http://localhost/health',
        `/${'a'.repeat(7000)}`,
        '/keys/fetch/extra',
        '/nickname/lookup/',
        '/pow/challenge/',
        '/account/burn/',
      ),
      version: fc.constantFrom(
        'HTTP/1.1',
        'HTTP/1.1',
        'HTTP/1.0',
        'HTTP/2.0',
        'HTTP/1.2',
        'http/1.1',
      ),
      body: fc.option(garbageBody, { nil: undefined }),
      headers,
      pow: fc.constant({ kind: 'none' as const }),
      chunked: fc.boolean(),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      route: fc.constantFrom('upload' as const, 'register' as const, 'burn' as const),
      body: garbageBody,
      headers,
      pow: fc.constantFrom({ kind: 'none' as const }, { kind: 'valid' as const }),
      chunked: fc.boolean(),
    }),
  },
);

// --- Building and sending it -------------------------------------------------------------

interface Built {
  method: string;
  head: string;
  body: Buffer;
}

/** Percent-encoding of the UTF-8 bytes (encodeURIComponent throws on a lone surrogate). */
const percent = (v: string) =>
  [...Buffer.from(v, 'utf8')]
    .map((b) =>
      /[A-Za-z0-9_.~-]/.test(String.fromCharCode(b))
        ? String.fromCharCode(b)
        : `%${b.toString(16).padStart(2, '0').toUpperCase()}`,
    )
    .join('');

const stripLineBreaks = (s: string) => s.replace(/[\r\n]/g, '');

async function build(fx: HostileRelay, s: Spec): Promise<Built> {
  const [H0, H1, H2, H3] = fx.ids;
  const fill = (v: string) =>
    v
      .replaceAll('{H0}', H0!.identityHash)
      .replaceAll('{H1}', H1!.identityHash)
      .replaceAll('{NICK}', fx.nickname);
  const [method, path] = s.route === 'raw' ? [s.method!, s.path!] : routeOf[s.route]!;

  let doc: Json;
  let challenge: { query: ChallengeQuery; context: string } | undefined;
  if (s.route === 'upload') {
    doc = buildBundle(H1!, { preKeys: 3 });
    challenge = {
      query: { type: 'upload', identity_hash: H1!.identityHash },
      context: H1!.identityHash,
    };
  } else if (s.route === 'register') {
    const nickname = 'hostile_two';
    doc = {
      nickname,
      identity_hash: H2!.identityHash,
      identityKey: H2!.publicKey.toString('base64'),
      signature: signMessage(H2!, nickname),
    };
    challenge = {
      query: { type: 'nickname', nickname, identity_hash: H2!.identityHash },
      context: nickname,
    };
  } else if (s.route === 'burn') {
    doc = {
      identity_hash: H3!.identityHash,
      identityKey: H3!.publicKey.toString('base64'),
      signature: signMessage(H3!, `BURN:${H3!.identityHash}:x`),
    };
  } else if (s.route === 'random') {
    challenge = { query: { type: 'random' }, context: '' };
  } else if (s.route === 'challenge' || s.route === 'fetch' || s.route === 'lookup') {
    challenge = { query: {}, context: H0!.identityHash };
  }

  const headers: Array<[string, string]> = s.headers.map(([n, v]) => [n, stripLineBreaks(v)]);
  const pow = s.pow;
  if (
    pow.kind === 'valid' ||
    pow.kind === 'replay' ||
    pow.kind === 'wrong_context' ||
    pow.kind === 'duplicate'
  ) {
    const c = challenge ?? { query: {}, context: '' };
    const context = pow.kind === 'wrong_context' ? `${c.context}x` : c.context;
    const solution = await fx.client.solve(c.query, context);
    headers.push(['X-PoW-Seed', solution.seed]);
    if (pow.kind === 'duplicate') headers.push(['X-PoW-Seed', solution.seed.replace(/^./, 'f')]);
    headers.push(['X-PoW-Nonce', pow.kind === 'duplicate' ? pow.nonce : solution.nonce]);
  } else if (pow.kind === 'garbage') {
    headers.push(
      ['X-PoW-Seed', stripLineBreaks(pow.seed)],
      ['X-PoW-Nonce', stripLineBreaks(pow.nonce)],
    );
  }

  let body: Buffer;
  if (s.body !== undefined)
    body = typeof s.body === 'string' ? Buffer.from(s.body) : Buffer.from(s.body);
  else if (doc !== undefined) body = Buffer.from(serialise(mutate(doc, s.mutations ?? [])));
  else body = Buffer.alloc(0);

  const qs = (s.query ?? [])
    .map(([name, value, enc]) => {
      const v = fill(value);
      const e = enc === 'raw' ? v : enc === 'twice' ? percent(percent(v)) : percent(v);
      return `${percent(name)}=${e}`;
    })
    .join('&');
  const target = qs === '' ? path : `${path}${path.includes('?') ? '&' : '?'}${qs}`;
  const lines = [
    `${method} ${stripLineBreaks(target)} ${s.version ?? 'HTTP/1.1'}`,
    'Host: localhost',
    'Connection: close',
  ];
  for (const [n, v] of headers) lines.push(`${n}: ${v}`);
  if (s.chunked) {
    lines.push('Transfer-Encoding: chunked');
    body = Buffer.concat([
      Buffer.from(`${body.length.toString(16)}\r\n`),
      body,
      Buffer.from('\r\n0\r\n\r\n'),
    ]);
    if (body.length === 10) body = Buffer.from('0\r\n\r\n');
  } else if (body.length > 0 || method === 'POST') lines.push(`Content-Length: ${body.length}`);
  return { method, head: `${lines.join('\r\n')}\r\n\r\n`, body };
}

async function send(fx: HostileRelay, b: Built): Promise<RawResponse> {
  const raw = Buffer.concat([Buffer.from(b.head, 'latin1'), b.body]);
  return parseResponse(await within(exchange(fx.t.relay, raw), 20_000, 'reply'));
}

/** What every reply must be: padded JSON (no body for HEAD and 204), the security headers, no
 *  5xx while the store is up, and a known code on every error. */
function assertSoundReply(res: RawResponse, method: string): Json {
  assert.ok(res.status < 500, `status ${res.status}: ${res.body.toString('utf8').trim()}`);
  assertSecurityHeaders(res, true);
  // No body: a 204 (OPTIONS), or the answer to a HEAD the parser understood (its length is
  // the padded one of the GET).
  if (res.body.length === 0 && (res.status === 204 || method.toUpperCase() === 'HEAD')) {
    if (res.status !== 204)
      assert.ok(
        isPadded(Number(res.headers['content-length'])),
        `HEAD length ${res.headers['content-length']}`,
      );
    return undefined;
  }
  assert.ok(isPadded(res.body.length), `unpadded body of ${res.body.length} bytes (${res.status})`);
  assert.equal(Number(res.headers['content-length']), res.body.length);
  assert.match(res.headers['content-type'] ?? '', /^application\/json/);
  const json = JSON.parse(res.body.toString('utf8'));
  if (res.status >= 400) {
    assert.ok(HTTP_ERROR_CODES.has(json.code), `unknown code ${json.code} (${res.status})`);
    assert.equal(typeof json.error, 'string');
  }
  if (res.status === 429) {
    assert.ok(
      Number.isInteger(json.retry_after) && json.retry_after >= 1,
      `retry_after ${json.retry_after}`,
    );
    assert.equal(res.headers['retry-after'], String(json.retry_after));
  }
  return json;
}

/** Routes that verify a proof of work: a replayed one must be refused. */
const PAID = new Set(['upload', 'register', 'burn', 'random']);

describe('hostile HTTP requests (relaxed limits)', () => {
  let fx: HostileRelay;
  before(async () => {
    fx = await startHostileRelay();
  });
  after(() => fx.close());

  it('every reply is padded with a known code; refused requests change nothing; the relay serves on', async () => {
    await assertProperty(
      fc.asyncProperty(spec, async (s) => {
        const before = await fx.snapshot();
        const logs = fx.t.logs.length;
        const built = await build(fx, s);
        const res = await send(fx, built);
        assertSoundReply(res, built.method);
        fx.assertNoErrorLogged(logs);
        if (res.status >= 400) await fx.assertUnchanged(before, `after ${res.status}`);
        if (s.pow.kind === 'replay' && PAID.has(s.route)) {
          const between = await fx.snapshot();
          const again = await send(fx, built);
          assertSoundReply(again, built.method);
          assert.ok(again.status >= 400, `a replayed proof of work was accepted (${again.status})`);
          await fx.assertUnchanged(between, `after the replay's ${again.status}`);
        }
        assert.equal((await fx.t.request('/health')).status, 200);
      }),
      {
        seed: 0x48545450,
        numRuns: 400,
        examples: [
          // Found by this property: nesting deeper than JSON.stringify survives was a 500.
          [
            {
              route: 'upload',
              mutations: [
                {
                  path: ['signedPreKey', 'keyId'],
                  op: 'extra',
                  name: '__proto__',
                  value: new Deep(10_000, 'array'),
                },
              ],
              headers: [],
              pow: { kind: 'valid' },
            },
          ],
        ],
      },
    );
    await fx.assertStillServes();
  });
});

// --- Default limits ----------------------------------------------------------------------

/** Requests that never change the store when served, per route, and their per-IP bucket. */
const LIMITED: Record<string, { bucket: IpBucket | null; request: () => string }> = {
  challenge: { bucket: 'challenge', request: () => get('/pow/challenge') },
  fetch: { bucket: 'fetch', request: () => get(`/keys/fetch?user=${randomHash()}`) },
  lookup: { bucket: 'nick_lookup', request: () => get('/nickname/lookup?nick=nobody_at_all') },
  random: { bucket: 'random', request: () => get('/keys/random?count=3') },
  upload: { bucket: 'upload', request: () => post('/keys/upload', '{"identity_hash":"x"}') },
  register: { bucket: 'nick_register', request: () => post('/nickname/register', '[]') },
  burn: { bucket: 'burn', request: () => post('/account/burn', 'not json') },
  health: { bucket: null, request: () => get('/health') },
};

const get = (target: string) =>
  `GET ${target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`;
const post = (path: string, body: string) =>
  `POST ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
const randomHash = () => randomBytes(32).toString('hex');

/** A burst of one route (or WebSocket frames, or WebSocket auths): `extra` requests more than
 *  the bucket holds (fewer, when negative; frames count ten per unit). */
const burst = fc.record({
  route: fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...Object.keys(LIMITED)) },
    { weight: 1, arbitrary: fc.constant('ws_frames') },
    { weight: 1, arbitrary: fc.constant('ws_auth') },
  ),
  extra: fc.integer({ min: -3, max: 10 }),
});

describe('hostile floods (default limits)', () => {
  let fx: HostileRelay;
  let specs: BucketSpecs;
  let nextIp = 1;
  before(async () => {
    fx = await startHostileRelay({}, { relaxed: false });
    specs = bucketSpecs(fx.t.relay.ctx.config);
  });
  after(() => fx.close());

  /** Every refusal is 429 rate_limited with retry_after (at most the jail); a bucket refuses once
   *  its capacity (plus what refilled meanwhile) is spent, and jails on the 6th refusal. */
  function assertLimited(
    what: string,
    capacity: number,
    windowS: number,
    startedAt: number,
    refusals: number[],
    served: number,
    sent: number,
  ): void {
    const refill = Math.ceil(((Date.now() - startedAt) / 1000) * (capacity / windowS));
    const jail = fx.t.relay.ctx.config.jailSeconds;
    assert.ok(
      served <= capacity + refill,
      `${what}: ${served} served, capacity ${capacity} + ${refill}`,
    );
    if (sent > capacity + refill)
      assert.ok(refusals.length > 0, `${what}: ${sent} sent, none refused`);
    for (const [i, retryAfter] of refusals.entries()) {
      assert.ok(
        Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= jail,
        `${what}: retry_after ${retryAfter}`,
      );
      // The 6th refusal within two windows jails the bucket: the rest wait out the jail.
      if (i >= 5)
        assert.ok(retryAfter > jail - 30, `${what}: refusal ${i + 1} not jailed (${retryAfter})`);
    }
  }

  async function httpBurst(route: string, count: number, ip: string): Promise<void> {
    const { bucket, request } = LIMITED[route]!;
    const startedAt = Date.now();
    const refusals: number[] = [];
    for (let i = 0; i < count; i++) {
      const raw = request();
      const res = parseResponse(await within(exchange(fx.t.relay, raw, ip), 20_000, 'reply'));
      const json = assertSoundReply(res, raw.slice(0, raw.indexOf(' ')));
      if (res.status === 429) refusals.push(json.retry_after);
    }
    if (bucket === null) return assert.deepEqual(refusals, [], `${route} is never limited`);
    const spec = specs.ip[bucket];
    assertLimited(
      route,
      spec.capacity,
      spec.windowMs / 1000,
      startedAt,
      refusals,
      count - refusals.length,
      count,
    );
  }

  async function framesBurst(count: number, ip: string): Promise<void> {
    const spec = specs.local.ws_frames;
    const peer = await RawPeer.open(fx.t.relay, { localAddress: ip });
    const startedAt = Date.now();
    for (let i = 0; i < count; i++) peer.send({ type: 'ping' });
    let answers = 0;
    const code = await settle(peer, () => ++answers >= count);
    assertFramesSound(peer, 0, 'ping flood');
    const errors = peer.received.filter((r) => r.json?.type === 'error').map((r) => r.json);
    assert.ok(
      errors.every((e) => e.code === 'rate_limited'),
      JSON.stringify(errors.find((e) => e.code !== 'rate_limited')),
    );
    const acks = peer.received.filter((r) => r.json?.type === 'dummy_ack').length;
    const refusals = errors.map((e) => e.retry_after as number);
    assertLimited(
      'ws frames',
      spec.capacity,
      spec.windowMs / 1000,
      startedAt,
      refusals,
      acks,
      count,
    );
    if (errors.length >= 6) assert.equal(code, 1008, 'a jailed socket is closed');
    if (code === undefined) await peer.close();
  }

  async function authBurst(count: number, ip: string): Promise<void> {
    const spec = specs.ip.ws_auth;
    const startedAt = Date.now();
    const refusals: number[] = [];
    for (let i = 0; i < count; i++) {
      const peer = await RawPeer.open(fx.t.relay, { localAddress: ip });
      peer.send({ type: 'auth', payload: { identity_hash: randomHash(), session_token: 'bogus' } });
      const error = (await within(peer.next(), 20_000, 'auth answered')).json;
      // Refused by the IP's auth bucket, the socket is closed (1008); by its frame bucket, only
      // the frame is refused, and the socket answers the next one.
      peer.send({ type: 'ping' });
      const code = await settle(peer, () => true);
      assertFramesSound(peer, 0, 'auth flood');
      if (error?.code === 'rate_limited') {
        refusals.push(error.retry_after);
        if (code !== undefined) assert.equal(code, 1008);
      } else {
        assert.deepEqual([error?.code, code], ['auth_failed', 4001]);
      }
      if (code === undefined) await peer.close();
    }
    assertLimited(
      'ws auth',
      spec.capacity,
      spec.windowMs / 1000,
      startedAt,
      refusals,
      count - refusals.length,
      count,
    );
  }

  it('refusals are rate_limited with retry_after, once a bucket is spent; nothing is stored', async () => {
    await assertProperty(
      fc.asyncProperty(fc.array(burst, { minLength: 2, maxLength: 4 }), async (bursts) => {
        // A fresh client address per run (and per shrinking step): fresh buckets.
        const ip = `127.0.${Math.floor(nextIp / 250)}.${(nextIp++ % 250) + 2}`;
        const before = await fx.snapshot();
        const logs = fx.t.logs.length;
        for (const { route, extra } of bursts) {
          if (route === 'ws_frames')
            await framesBurst(specs.local.ws_frames.capacity + extra * 10, ip);
          else if (route === 'ws_auth') await authBurst(specs.ip.ws_auth.capacity + extra, ip);
          else {
            const bucket = LIMITED[route]!.bucket;
            await httpBurst(
              route,
              Math.max(1, (bucket ? specs.ip[bucket].capacity : 20) + extra),
              ip,
            );
          }
        }
        fx.assertNoErrorLogged(logs);
        await fx.assertUnchanged(before, 'after a flood');
      }),
      {
        seed: 0x464c4f4f,
        numRuns: 12,
        examples: [
          // Found by this property: the frame a jailed socket closed on had no retry_after.
          [[{ route: 'ws_frames', extra: 3 }]],
          // Auths refused by the frame bucket (spent by pings) leave their sockets open.
          [
            [
              { route: 'ws_frames', extra: 0 },
              { route: 'ws_auth', extra: 0 },
            ],
          ],
        ],
      },
    );
    await fx.assertStillServes();
  });
});
