// Hostile input for the property-based suites (test/hostile-*.test.ts): a relay on a Redis the
// suite starts, with limits relaxed so that refusals come from validation; generators of valid,
// near-valid (one field mutated) and garbage documents; and the checks every reply must pass.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { generateIdentity, type Identity } from '../../src/client/identity.js';
import { RelayClient } from '../../src/client/rest-client.js';
import type { Config } from '../../src/config.js';
import { assertSameEntries, redisEntries, type RedisEntry } from './redis-keys.js';
import { isPadded } from './padding.js';
import { startRedisServer, type TestRedisServer } from './redis-server.js';
import { startTestRelay, type TestRelay } from './relay.js';
import { within } from './wait.js';
import { authedPeer, type RawPeer, type Received, withBundle } from './ws.js';

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Every `code` an HTTP error can carry (grep of src/: RelayError, badRequest, … and app.ts). */
export const HTTP_ERROR_CODES = new Set([
  'bad_request',
  'headers_too_large',
  'request_timeout',
  'payload_too_large',
  'not_found',
  'method_not_allowed',
  'upgrade_required',
  'invalid_json',
  'invalid_identity_hash',
  'invalid_request',
  'invalid_bundle',
  'invalid_key',
  'invalid_nickname',
  'invalid_signature',
  'identity_mismatch',
  'signature_missing',
  'pow_invalid',
  'too_many_hashes',
  'too_many_names',
  'nickname_taken',
  'rate_limited',
  'storage_unavailable',
  'server_shutdown',
]);

/** Every `code` of a WebSocket `error` frame (docs/protocol.md §4.6 and README). */
export const WS_ERROR_CODES = new Set([
  'auth_required',
  'auth_failed',
  'auth_timeout',
  'already_authenticated',
  'invalid_message',
  'message_too_large',
  'rate_limited',
  'session_replaced',
  'account_burned',
  'storage_unavailable',
  'server_shutdown',
  'slow_reader',
]);

/** Every `reason` of a `rejected` delivery_status (docs/protocol.md §4.3, §9). */
export const REJECT_REASONS = new Set([
  'mailbox_full',
  'rate_limited',
  'too_large',
  'invalid_recipient',
  'storage_full',
  'storage_unavailable',
]);

/** Close codes a hostile frame may earn (README "Close codes"; 1007 and 1009 are ws's own). */
export const CLOSE_CODES = new Set([4001, 1008, 1007, 1009]);

/** Limits that leave every refusal to validation. */
export const RELAXED: Partial<Config> = {
  powBase: 2,
  powMax: 2,
  powLoadThresholds: [1e9, 1e9, 1e9],
  limitGlobal: 1e9,
  powLimit: 1e9,
  limitKeysUpload: 1e9,
  limitKeysFetch: 1e9,
  limitKeysRandom: 1e9,
  limitNickRegister: 1e9,
  limitNickLookup: 1e9,
  limitAccountBurn: 1e9,
  limitWsFrames: 1e9,
  limitMsgSend: 1e9,
  limitMsgReceive: 1e9,
  limitWsAuth: 1e9,
  limitWsAuthIdentity: 1e9,
  limitQueueBytes: 1e12,
  queueMax: 1e6,
  queueMaxBytes: 1e12,
  jitterMs: [0, 2],
};

/** Keys the relay writes for any request, accepted or not. */
export const touchedByAnyRequest = (key: string): boolean =>
  key.startsWith('rl:') || key.startsWith('spent:') || key === 'secret';

/** A relay on its own Redis, with identities that have bundles, and a way to see the store. */
export interface HostileRelay {
  t: TestRelay;
  redis: TestRedisServer;
  inspector: Redis;
  client: RelayClient;
  /** Identities with a bundle; `nickname` is registered to ids[0]. */
  ids: Identity[];
  nickname: string;
  snapshot(): Promise<Map<string, RedisEntry>>;
  /** Throws unless the store is as in `before` (keys every request touches, and those
   *  `alsoIgnore` accepts, aside). */
  assertUnchanged(
    before: Map<string, RedisEntry>,
    what: string,
    alsoIgnore?: (key: string) => boolean,
  ): Promise<void>;
  /** Throws if the relay logged an error (a handler that threw) after log line `from`. */
  assertNoErrorLogged(from: number): void;
  /** GET /health answers 200, and a fresh pair of sessions relays a message. */
  assertStillServes(): Promise<void>;
  close(): Promise<void>;
}

/** `relaxed: false` keeps the default limits. */
export async function startHostileRelay(
  overrides: Partial<Config> = {},
  { relaxed = true } = {},
): Promise<HostileRelay> {
  const redis = await startRedisServer();
  const t = await startTestRelay({
    ...(relaxed ? RELAXED : {}),
    redisUrl: redis.url,
    ...overrides,
  });
  const inspector = new Redis(redis.url);
  const client = new RelayClient({ url: t.relay.url, ca: t.relay.tls?.cert });
  const ids = Array.from({ length: 4 }, () => generateIdentity());
  for (const id of ids) await withBundle(t.relay, id);
  const nickname = 'hostile_nick';
  await client.registerNickname(ids[0]!, nickname);
  const snapshot = () => redisEntries(inspector);
  return {
    t,
    redis,
    inspector,
    client,
    ids,
    nickname,
    snapshot,
    async assertUnchanged(before, what, alsoIgnore = () => false) {
      const ignore = (key: string) => touchedByAnyRequest(key) || alsoIgnore(key);
      assertSameEntries(before, await snapshot(), ignore, what);
    },
    assertNoErrorLogged(from) {
      const errors = t.logs
        .slice(from)
        .filter((line) =>
          /^"?(error|fatal)"?$/.test(String((JSON.parse(line) as { level: unknown }).level)),
        );
      assert.deepEqual(errors, [], 'the relay logged errors');
    },
    async assertStillServes() {
      const health = await t.request('/health');
      assert.equal(health.status, 200);
      const receiver = generateIdentity();
      await withBundle(t.relay, receiver);
      const [from, to] = [
        await authedPeer(t.relay, generateIdentity()),
        await authedPeer(t.relay, receiver),
      ];
      const envelope = randomBytes(8).toString('hex');
      from.peer.send({ type: 'relay', to: receiver.identityHash, envelope, id: 'still' });
      assert.equal((await to.peer.nextOfType('msg')).envelope, envelope);
      assert.equal((await from.peer.nextOfType('delivery_status')).status, 'delivered');
      await Promise.all([from.peer.close(), to.peer.close()]);
    },
    async close() {
      await t.close();
      inspector.disconnect();
      await redis.stop();
    },
  };
}

/**
 * fc.assert with the suites' defaults: the report names the seed and the counterexample (long
 * runs of one character shortened) and the error the run threw. `examples` (counterexamples of
 * bugs found before) run first, whatever the seed.
 */
export async function assertProperty<T>(
  property: fc.IAsyncPropertyWithHooks<T>,
  params: { seed: number; numRuns: number; examples?: T[] },
): Promise<void> {
  const details = await fc.check(property, {
    ...params,
    includeErrorInReport: true,
    skipAllAfterTimeLimit: 120_000,
  });
  if (!details.failed) return;
  const report = fc
    .defaultReportMessage(details)!
    .replace(/(.)\1{63,}/g, (run: string, c: string) => `${c}…(${run.length}×)`)
    .slice(0, 20_000);
  throw new Error(report);
}

// --- Replies ------------------------------------------------------------------------------

/** Resolves with the close code once `peer` is closed, or undefined once `until` holds. */
export function settle(
  peer: RawPeer,
  until: (r: Received) => boolean,
): Promise<number | undefined> {
  const closed = peer.closed.then((c) => c.code);
  const answered = peer.next(until, 30_000).then(
    () => undefined,
    () => closed,
  );
  return within(Promise.race([closed, answered]), 30_000, 'the relay answers or closes');
}

/** Every frame `peer` received (from index `from`) is padded, binary or a JSON object with a
 *  string type (relayed frames keep their sender's type), and every error or rejection names a
 *  known code. */
export function assertFramesSound(peer: RawPeer, from = 0, what = 'frames'): void {
  for (const r of peer.received.slice(from)) {
    const shown = r.json ?? r.text ?? `<${r.length} binary bytes>`;
    assert.ok(
      isPadded(r.length),
      `${what}: unpadded frame of ${r.length} bytes: ${JSON.stringify(shown).slice(0, 300)}`,
    );
    if (r.binary) continue;
    assert.equal(r.text, undefined, `${what}: a text frame that is not JSON`);
    const frame = r.json;
    assert.ok(
      typeof frame?.type === 'string',
      `${what}: unexpected frame ${JSON.stringify(frame).slice(0, 300)}`,
    );
    if (frame.type === 'error') {
      assert.ok(WS_ERROR_CODES.has(frame.code), `${what}: unknown error code ${frame.code}`);
      assert.equal(typeof frame.message, 'string');
      if (frame.code === 'rate_limited') assert.ok(frame.retry_after >= 1, 'retry_after');
    }
    if (frame.type === 'delivery_status' && frame.status === 'rejected')
      assert.ok(REJECT_REASONS.has(frame.reason), `${what}: unknown reason ${frame.reason}`);
  }
}

// --- Generators ---------------------------------------------------------------------------

/** Stands for a value nested `depth` deep; `serialise` writes it (JSON.stringify could not). */
export class Deep {
  constructor(
    readonly depth: number,
    readonly kind: 'array' | 'object',
  ) {}

  toText(): string {
    return this.kind === 'array'
      ? '['.repeat(this.depth) + ']'.repeat(this.depth)
      : '{"a":'.repeat(this.depth) + '0' + '}'.repeat(this.depth);
  }
}

/** Stands for an array of `length` copies of `item` (kept small in counterexamples). */
export class Huge {
  constructor(
    readonly length: number,
    readonly item: unknown,
  ) {}
}

/** JSON text of `value`, with Deep and Huge written out. */
export function serialise(value: unknown): string {
  const deep: Deep[] = [];
  const text = JSON.stringify(value, (_key, v: unknown) => {
    if (v instanceof Huge) return Array.from({ length: v.length }, () => v.item);
    if (!(v instanceof Deep)) return v;
    deep.push(v);
    return `\u0001deep${deep.length - 1}\u0001`;
  });
  if (text === undefined) return '';
  return text.replace(/"\\u0001deep(\d+)\\u0001"/g, (_, i: string) => deep[Number(i)]!.toText());
}

const hex = (bytes: number) =>
  fc.uint8Array({ minLength: bytes, maxLength: bytes }).map((b) => Buffer.from(b).toString('hex'));
const b64Of = (min: number, max: number) =>
  fc.uint8Array({ minLength: min, maxLength: max }).map((b) => Buffer.from(b).toString('base64'));

/** A random identity hash (nobody's). */
export const anyHash = hex(32);

/** Strings a field should refuse: wrong length or alphabet for base64 and hex, too long, odd
 *  characters. */
export const badString = fc.oneof(
  fc.constantFrom(
    '',
    ' ',
    'null',
    'not base64!',
    'AAAA====',
    'A',
    'AB=C',
    '-_-_',
    'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
    '\u0000',
    '\ud800',
    '\u202e',
    '٣٣',
    'g'.repeat(64),
    '0'.repeat(63),
    '0'.repeat(65),
    ` ${'a'.repeat(64)}`,
    '../../etc/passwd',
    '__proto__',
    'constructor',
  ),
  b64Of(0, 70), // base64 of the wrong length (most of the time)
  b64Of(28, 36).map((s) => s.replace(/=+$/, '')), // padding missing
  b64Of(30, 34).map((s) => s.replace(/\+/g, '-').replace(/\//g, '_')), // base64url
  hex(32).map((h) => h.slice(1)),
  hex(32).map((h) => `${h}0`),
  hex(32).map((h) => h.toUpperCase()), // valid, in upper case
  fc.string({ maxLength: 80 }),
  fc.string({ unit: 'binary', maxLength: 80 }),
  fc.constantFrom(70, 5000, 300_000).map((n) => 'A'.repeat(n)),
);

/** Values of the wrong type, or hostile shapes. */
export const badValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: badString },
  {
    weight: 2,
    arbitrary: fc.constantFrom(null, true, false, 0, -1, 1.5, 2 ** 32, 1e308, -0, [], {}, [1], {
      a: 1,
    }),
  },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  {
    weight: 2,
    arbitrary: fc
      .record({
        depth: fc.constantFrom(64, 10_000, 30_000),
        kind: fc.constantFrom('array' as const, 'object' as const),
      })
      .map(({ depth, kind }) => new Deep(depth, kind)),
  },
  {
    weight: 1,
    arbitrary: fc
      .record({
        length: fc.constantFrom(101, 1001, 20_000),
        item: fc.constantFrom(0, 'x', {}, null),
      })
      .map(({ length, item }) => new Huge(length, item)),
  },
);

/** One change to a document: a field at `path` deleted, set to a hostile value, or an extra field
 *  added beside it. */
export interface Mutation {
  path: string[];
  op: 'delete' | 'set' | 'extra';
  value?: unknown;
  name?: string;
}

export function mutation(paths: string[][]): fc.Arbitrary<Mutation> {
  const path = fc.constantFrom(...paths);
  return fc.oneof(
    { weight: 1, arbitrary: fc.record({ path, op: fc.constant('delete' as const) }) },
    { weight: 3, arbitrary: fc.record({ path, op: fc.constant('set' as const), value: badValue }) },
    {
      weight: 2,
      arbitrary: fc.record({
        path,
        op: fc.constant('extra' as const),
        name: fc.oneof(
          fc.constantFrom('__proto__', 'constructor', 'sender', 'from', 'type'),
          fc.string({ maxLength: 8 }),
        ),
        value: badValue,
      }),
    },
  );
}

/** A copy of `doc` with the mutations applied (paths that no longer exist are skipped). */
export function mutate(doc: Json, mutations: Mutation[]): Json {
  const copy = structuredClone(doc);
  for (const m of mutations) {
    const parentPath = m.path.slice(0, -1);
    let parent: Json = copy;
    for (const key of parentPath)
      parent = typeof parent === 'object' && parent !== null ? parent[key] : undefined;
    if (typeof parent !== 'object' || parent === null) continue;
    const last = m.path.at(-1)!;
    if (m.op === 'delete') delete parent[last];
    else if (m.op === 'set')
      Object.defineProperty(parent, last, {
        value: m.value,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    else {
      const target = parent[last];
      const holder =
        typeof target === 'object' && target !== null && !Array.isArray(target) ? target : parent;
      Object.defineProperty(holder, m.name!, {
        value: m.value,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
  }
  return copy;
}

/** Bytes that are not UTF-8 (lone continuation bytes, overlong forms, surrogates, 0xff). */
export const invalidUtf8 = fc
  .tuple(
    fc.string({ maxLength: 20 }),
    fc.constantFrom(
      [0x80],
      [0xc0, 0xaf],
      [0xed, 0xa0, 0x80],
      [0xff],
      [0xe2, 0x82],
      [0xf8, 0x88, 0x80, 0x80, 0x80],
    ),
    fc.string({ maxLength: 20 }),
  )
  .map(([a, bad, b]) => Buffer.concat([Buffer.from(a), Buffer.from(bad), Buffer.from(b)]));

/** Text that is not a JSON object: broken JSON, other JSON values, random text. */
export const notAnObject = fc.oneof(
  fc.constantFrom(
    '',
    '{',
    '}',
    '{"type":',
    '{"type":"relay"',
    'null',
    'true',
    '0',
    '"x"',
    '[]',
    '[{}]',
    '{"a":1}{"b":2}',
    'NaN',
    "{'type':'ping'}",
    '{"type":"ping",}',
  ),
  fc
    .jsonValue()
    .filter((v) => typeof v !== 'object' || v === null || Array.isArray(v))
    .map((v) => JSON.stringify(v)),
  fc.string({ maxLength: 200 }),
);
