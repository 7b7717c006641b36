// One typed configuration object, built once from CLI flags and ENTROPY_* variables.
// Every setting is declared once, in OPTIONS: that table drives the CLI flags, the environment
// variables, validation, the README's configuration reference and the Config type itself.
import { isIP } from 'node:net';

/** Throws the ConfigError naming where the bad value came from. */
type Fail = (why: string) => never;
type Read<T> = (raw: string, fail: Fail) => T;
type Check<T> = (value: T) => string | undefined;

/** One setting: its Config key, variable, default, help text, and how a raw value is read. */
export interface Option<K extends string = string, T = unknown> {
  readonly key: K;
  readonly env: string;
  readonly describe: string;
  readonly default: T;
  /** The default as it would be written in the variable ('' when there is none). */
  readonly shown: string;
  /** On/off (`--x`, `--no-x`) rather than a flag taking a value. */
  readonly toggle: boolean;
  readonly parse: Read<T>;
}

interface About<K extends string> {
  key: K;
  env: string;
  describe: string;
}

function option<K extends string, T>(
  about: About<K>,
  value: { default: T; shown: string; parse: Read<T> },
  toggle = false,
): Option<K, T> {
  return { key: about.key, env: about.env, describe: about.describe, toggle, ...value };
}

function checked<T>(read: Read<T>, check: Check<T> | undefined): Read<T> {
  if (!check) return read;
  return (raw, fail) => {
    const value = read(raw, fail);
    const problem = check(value);
    return problem ? fail(problem) : value;
  };
}

function wholeNumber(text: string, fail: Fail, bounds: { min?: number; max?: number }): number {
  if (!/^\d+$/.test(text.trim())) fail('expected a whole number');
  const n = Number(text.trim());
  if (bounds.min !== undefined && n < bounds.min) fail(`must be at least ${bounds.min}`);
  if (bounds.max !== undefined && n > bounds.max) fail(`must be at most ${bounds.max}`);
  return n;
}

const nonEmpty: Read<string> = (raw, fail) => (raw === '' ? fail('must not be empty') : raw);

function int<K extends string>(
  o: About<K> & { default: number; min?: number; max?: number },
): Option<K, number> {
  const parse: Read<number> = (raw, fail) => wholeNumber(raw, fail, o);
  return option(o, { default: o.default, shown: String(o.default), parse });
}

function text<K extends string>(
  o: About<K> & { default: string; check?: Check<string> },
): Option<K, string> {
  return option(o, { default: o.default, shown: o.default, parse: checked(nonEmpty, o.check) });
}

/** A string setting that is unset by default. */
function optionalText<K extends string>(
  o: About<K> & { check?: Check<string> },
): Option<K, string | undefined> {
  return option(o, { default: undefined, shown: '', parse: checked(nonEmpty, o.check) });
}

function bool<K extends string>(o: About<K> & { default: boolean }): Option<K, boolean> {
  const parse: Read<boolean> = (raw, fail) => {
    const v = raw.trim().toLowerCase();
    if (['1', 'true', 'on', 'yes'].includes(v)) return true;
    if (['0', 'false', 'off', 'no'].includes(v)) return false;
    return fail('accepted values: on, off (also 1/0, true/false, yes/no)');
  };
  return option(o, { default: o.default, shown: String(o.default), parse }, true);
}

function oneOf<K extends string, const V extends string>(
  o: About<K> & { values: readonly V[]; default: NoInfer<V> },
): Option<K, V> {
  const parse: Read<V> = (raw, fail) =>
    o.values.find((v) => v === raw) ?? fail(`accepted values: ${o.values.join(', ')}`);
  return option(o, { default: o.default, shown: o.default, parse });
}

/** A comma-separated list of strings; blank entries are dropped. */
function list<K extends string>(
  o: About<K> & { default: string[]; check?: Check<string[]> },
): Option<K, string[]> {
  const split: Read<string[]> = (raw) =>
    raw
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
  return option(o, {
    default: o.default,
    shown: o.default.join(','),
    parse: checked(split, o.check),
  });
}

/** A comma-separated list of whole numbers. */
function intList<K extends string>(o: About<K> & { default: number[] }): Option<K, number[]> {
  const parse: Read<number[]> = (raw, fail) => raw.split(',').map((s) => wholeNumber(s, fail, {}));
  return option(o, { default: o.default, shown: o.default.join(','), parse });
}

/** "MIN-MAX", each within [min, max]. */
function range<K extends string>(
  o: About<K> & { default: [number, number]; min: number; max: number },
): Option<K, [number, number]> {
  const parse: Read<[number, number]> = (raw, fail) => {
    const m = /^\s*(\d+)\s*-\s*(\d+)\s*$/.exec(raw);
    if (!m) return fail('expected "MIN-MAX" in milliseconds, e.g. 10-50');
    const lo = wholeNumber(m[1]!, fail, o);
    const hi = wholeNumber(m[2]!, fail, o);
    return lo > hi ? fail('MIN must not exceed MAX') : [lo, hi];
  };
  return option(o, { default: o.default, shown: o.default.join('-'), parse });
}

const KiB = 1024;
const MiB = 1024 * KiB;

function checkAddressList(list: string[]): string | undefined {
  for (const entry of list) {
    const [ip, bits] = entry.split('/');
    if (!ip || isIP(ip) === 0) return `"${entry}" is not an IP address or CIDR`;
    if (bits !== undefined) {
      const n = Number(bits);
      if (!/^\d+$/.test(bits) || n > (isIP(ip) === 4 ? 32 : 128))
        return `"${entry}" has a bad prefix`;
    }
  }
  return undefined;
}

function checkRedisUrl(url: string): string | undefined {
  return /^(redis|rediss|tcp):\/\/[^\s]+$/.test(url)
    ? undefined
    : 'must start with redis://, rediss:// or tcp://';
}

/** "127.0.0.1:9464", "[::1]:9464" or "localhost:0"; undefined when malformed. */
export function parseListenAddress(text: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  if (!m) return undefined;
  const host = m[1] ?? m[2]!;
  const port = Number(m[3]);
  const hostOk = m[1] !== undefined ? isIP(host) === 6 : isIP(host) === 4 || host === 'localhost';
  return hostOk && port <= 65535 ? { host, port } : undefined;
}

export const OPTIONS = Object.freeze([
  // Transport
  int({
    key: 'port',
    env: 'ENTROPY_PORT',
    default: 8080,
    min: 0,
    max: 65535,
    describe: 'TCP port for REST and WebSocket (0 = any free port)',
  }),
  text({
    key: 'addr',
    env: 'ENTROPY_ADDR',
    default: '0.0.0.0',
    describe: 'Address to listen on',
    check: (v) => (isIP(v) || v === 'localhost' ? undefined : 'must be an IP address'),
  }),
  bool({
    key: 'tls',
    env: 'ENTROPY_TLS',
    default: true,
    describe: 'TLS 1.3 (on) or plain HTTP/WS (off, logs a warning); flag: --no-tls',
  }),
  optionalText({
    key: 'tlsCert',
    env: 'ENTROPY_TLS_CERT',
    describe: 'PEM certificate file (default: ephemeral self-signed ECDSA P-256 for localhost)',
  }),
  optionalText({
    key: 'tlsKey',
    env: 'ENTROPY_TLS_KEY',
    describe: 'PEM private key file',
  }),
  int({
    key: 'maxConnsPerIp',
    env: 'ENTROPY_MAX_CONNS_PER_IP',
    default: 64,
    min: 1,
    describe: 'Concurrent TCP connections per client IP (IPv6 per /64), enforced at accept',
  }),
  int({
    key: 'maxBodyBytes',
    env: 'ENTROPY_MAX_BODY_BYTES',
    default: 64 * KiB,
    min: 1 * KiB,
    max: 16 * MiB,
    describe: 'Largest HTTP request body (larger: 413)',
  }),
  int({
    key: 'maxWsMessageBytes',
    env: 'ENTROPY_MAX_WS_MESSAGE_BYTES',
    default: 1 * MiB,
    min: 1 * KiB,
    max: 64 * MiB,
    describe: 'Largest inbound WebSocket message (larger: close 1009)',
  }),
  int({
    key: 'maxSocketBufferBytes',
    env: 'ENTROPY_MAX_SOCKET_BUFFER_BYTES',
    default: 1 * MiB,
    min: 16 * KiB,
    max: 256 * MiB,
    describe:
      'Bytes a WebSocket may have waiting to be written; messages over it go to the offline queue',
  }),
  int({
    key: 'slowReaderGraceMs',
    env: 'ENTROPY_SLOW_READER_GRACE_MS',
    default: 10_000,
    min: 100,
    describe: 'A WebSocket over its buffer cap this long is closed (4004 slow_reader)',
  }),
  int({
    key: 'authTimeoutMs',
    env: 'ENTROPY_AUTH_TIMEOUT_MS',
    default: 10_000,
    min: 100,
    describe: 'Time an unauthenticated WebSocket has to authenticate',
  }),
  int({
    key: 'idleTimeoutS',
    env: 'ENTROPY_IDLE_TIMEOUT_S',
    default: 300,
    min: 1,
    describe: 'Close connections that sent nothing for this long',
  }),
  int({
    key: 'handshakeTimeoutMs',
    env: 'ENTROPY_HANDSHAKE_TIMEOUT_MS',
    default: 10_000,
    min: 100,
    describe: 'Time a connection has to finish its TLS handshake, and then its HTTP request head',
  }),
  text({
    key: 'metricsAddr',
    env: 'ENTROPY_METRICS_ADDR',
    default: '127.0.0.1:9464',
    describe: 'Own plain-HTTP listener for /metrics: "host:port", "[IPv6]:port" or "off"',
    check: (v) =>
      v === 'off' || parseListenAddress(v) !== undefined
        ? undefined
        : 'expected host:port, [IPv6]:port or off',
  }),
  list({
    key: 'trustProxy',
    env: 'ENTROPY_TRUST_PROXY',
    default: [],
    describe: 'Comma list of proxy IPs/CIDRs whose X-Forwarded-For is trusted (default: none)',
    check: checkAddressList,
  }),
  list({
    key: 'allowedOrigins',
    env: 'ENTROPY_ALLOWED_ORIGINS',
    default: [
      'tauri://localhost',
      'http://tauri.localhost',
      'http://localhost',
      'http://127.0.0.1',
    ],
    describe: 'CORS origins (exact, "*" allowed; localhost and 127.0.0.1 match any port)',
  }),
  // Mode, storage, secrets
  oneOf({
    key: 'compat',
    env: 'ENTROPY_COMPAT',
    default: 'off',
    values: ['off', 'v1'],
    describe: 'Also accept Entropy v1 client forms (identities not key-bound)',
  }),
  optionalText({
    key: 'redisUrl',
    env: 'ENTROPY_REDIS_URL',
    describe: 'Redis URL (redis://, rediss://, tcp://); unset: in-process memory store',
    check: checkRedisUrl,
  }),
  list({
    key: 'redisCluster',
    env: 'ENTROPY_REDIS_CLUSTER',
    default: [],
    describe: 'Comma list of Redis Cluster seed nodes (host:port)',
    check: (v) =>
      (v.find((n) => !/^[^\s:]+:\d+$/.test(n)) && 'entries must be host:port') || undefined,
  }),
  bool({
    key: 'requireVolatile',
    env: 'ENTROPY_REQUIRE_VOLATILE',
    default: false,
    describe: 'Refuse to run when Redis has RDB or AOF persistence on, or may evict keys',
  }),
  optionalText({
    key: 'secretSalt',
    env: 'ENTROPY_SECRET_SALT',
    describe:
      'Server secret keying PoW seeds and tokens (32+ chars; unset: random, shared via Redis)',
  }),
  optionalText({
    key: 'adminToken',
    env: 'ENTROPY_ADMIN_TOKEN',
    describe: 'Token (X-Admin-Token) that opens /metrics on the main listener (unset: never)',
  }),
  oneOf({
    key: 'logLevel',
    env: 'ENTROPY_LOG_LEVEL',
    default: 'info',
    values: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
    describe: 'Log level',
  }),
  // Proof of work
  int({
    key: 'powBase',
    env: 'ENTROPY_POW_BASE',
    default: 4,
    min: 2,
    max: 16,
    describe: 'Base PoW difficulty (leading zero hex digits)',
  }),
  int({
    key: 'powMax',
    env: 'ENTROPY_POW_MAX',
    default: 8,
    min: 5,
    max: 16,
    describe: 'Highest difficulty ever asked',
  }),
  intList({
    key: 'powLoadThresholds',
    env: 'ENTROPY_POW_LOAD_THRESHOLDS',
    default: [20, 50, 100],
    describe: 'PoW-gated requests/s above which difficulty rises by +1/+2/+3',
  }),
  // Rate limits
  int({
    key: 'limitGlobal',
    env: 'ENTROPY_LIMIT_GLOBAL',
    default: 300,
    min: 1,
    describe: 'HTTP requests per IP per 10 s',
  }),
  int({
    key: 'powLimit',
    env: 'ENTROPY_POW_LIMIT',
    default: 20,
    min: 1,
    describe: 'PoW challenges per IP per 60 s',
  }),
  int({
    key: 'limitKeysUpload',
    env: 'ENTROPY_LIMIT_KEYS_UPLOAD',
    default: 10,
    min: 1,
    describe: 'Key uploads per IP per 60 s',
  }),
  int({
    key: 'limitKeysFetch',
    env: 'ENTROPY_LIMIT_KEYS_FETCH',
    default: 50,
    min: 1,
    describe: 'Key fetches per IP per 60 s',
  }),
  int({
    key: 'limitKeysRandom',
    env: 'ENTROPY_LIMIT_KEYS_RANDOM',
    default: 20,
    min: 1,
    describe: 'Random-hash requests per IP per 60 s',
  }),
  int({
    key: 'limitNickRegister',
    env: 'ENTROPY_LIMIT_NICK_REGISTER',
    default: 5,
    min: 1,
    describe: 'Nickname registrations per IP per 60 s',
  }),
  int({
    key: 'limitNickLookup',
    env: 'ENTROPY_LIMIT_NICK_LOOKUP',
    default: 30,
    min: 1,
    describe: 'Nickname lookups per IP per 60 s',
  }),
  int({
    key: 'limitAccountBurn',
    env: 'ENTROPY_LIMIT_ACCOUNT_BURN',
    default: 3,
    min: 1,
    describe: 'Burns per IP per 300 s',
  }),
  int({
    key: 'limitWsFrames',
    env: 'ENTROPY_LIMIT_WS_FRAMES',
    default: 600,
    min: 1,
    describe: 'WebSocket frames per IP per 10 s',
  }),
  int({
    key: 'limitQueueBytes',
    env: 'ENTROPY_LIMIT_QUEUE_BYTES',
    default: 8 * MiB,
    min: 1 * KiB,
    describe: 'Offline-queue bytes a sender IP may cause to be stored per 60 s',
  }),
  int({
    key: 'limitMsgSend',
    env: 'ENTROPY_LIMIT_MSG_SEND',
    default: 300,
    min: 1,
    describe: 'Messages sent per identity per 10 s',
  }),
  int({
    key: 'limitMsgReceive',
    env: 'ENTROPY_LIMIT_MSG_RECEIVE',
    default: 300,
    min: 1,
    describe: 'Messages accepted for one recipient per 10 s (never jailed)',
  }),
  int({
    key: 'limitWsAuth',
    env: 'ENTROPY_LIMIT_WS_AUTH',
    default: 30,
    min: 1,
    describe: 'WebSocket auth attempts per IP per 60 s',
  }),
  int({
    key: 'limitWsAuthIdentity',
    env: 'ENTROPY_LIMIT_WS_AUTH_IDENTITY',
    default: 12,
    min: 1,
    describe: 'WebSocket auth attempts per identity per 60 s',
  }),
  int({
    key: 'maxSessionTokens',
    env: 'ENTROPY_MAX_SESSION_TOKENS',
    default: 5,
    min: 1,
    max: 100,
    describe: 'Live session tokens per identity; a new one revokes the oldest',
  }),
  int({
    key: 'jailSeconds',
    env: 'ENTROPY_JAIL_SECONDS',
    default: 300,
    min: 1,
    describe: 'Jail time of a bucket refused 6 times within two windows',
  }),
  // Retention
  int({
    key: 'bundleTtlDays',
    env: 'ENTROPY_BUNDLE_TTL_DAYS',
    default: 30,
    min: 1,
    describe: 'Key bundle TTL, refreshed by each upload',
  }),
  int({
    key: 'nicknameTtlDays',
    env: 'ENTROPY_NICKNAME_TTL_DAYS',
    default: 30,
    min: 1,
    describe: 'Nickname TTL, refreshed by re-registering',
  }),
  int({
    key: 'messageTtlDays',
    env: 'ENTROPY_MESSAGE_TTL_DAYS',
    default: 30,
    min: 1,
    describe: 'Life of each offline message, from its own enqueue',
  }),
  int({
    key: 'sessionTtlS',
    env: 'ENTROPY_SESSION_TTL_S',
    default: 3600,
    min: 1,
    describe: 'Session token TTL',
  }),
  int({
    key: 'queueMax',
    env: 'ENTROPY_QUEUE_MAX',
    default: 1000,
    min: 1,
    describe: 'Offline messages per recipient',
  }),
  int({
    key: 'queueMaxBytes',
    env: 'ENTROPY_QUEUE_MAX_BYTES',
    default: 10 * MiB,
    min: 1 * KiB,
    describe: 'Offline bytes per recipient',
  }),
  int({
    key: 'queueTotalBytes',
    env: 'ENTROPY_QUEUE_TOTAL_BYTES',
    default: 256 * MiB,
    min: 1 * KiB,
    describe: 'Offline bytes of all recipients together, memory store (Redis: maxmemory)',
  }),
  int({
    key: 'redisQueueHighWater',
    env: 'ENTROPY_REDIS_QUEUE_HIGH_WATER',
    default: 90,
    min: 10,
    max: 100,
    describe: 'Redis memory use (% of maxmemory) from which offline messages are refused',
  }),
  // Traffic normalisation
  range({
    key: 'jitterMs',
    env: 'ENTROPY_JITTER_MS',
    default: [10, 50],
    min: 0,
    max: 10_000,
    describe: 'Delivery jitter range in ms, "MIN-MAX"',
  }),
  int({
    key: 'pacingMs',
    env: 'ENTROPY_PACING_MS',
    default: 500,
    min: 50,
    describe: 'Dummy pacing interval',
  }),
  int({
    key: 'pacingIdleMs',
    env: 'ENTROPY_PACING_IDLE_MS',
    default: 5000,
    min: 0,
    describe: 'Pacing stops after this long without real traffic',
  }),
]);

type AnyOption = (typeof OPTIONS)[number];

/** The configuration: one field per option, of the type that option parses to. */
export type Config = { [O in AnyOption as O['key']]: O['default'] };
export type CompatMode = Config['compat'];
export type LogLevel = Config['logLevel'];

export class ConfigError extends Error {}

/** Flag name for an option: ENTROPY_LIMIT_KEYS_UPLOAD -> limit-keys-upload. */
export function flagName(option: Pick<Option, 'env'>): string {
  return option.env
    .replace(/^ENTROPY_/, '')
    .toLowerCase()
    .replace(/_/g, '-');
}

function parseFrom(option: AnyOption, raw: string, source: string): AnyOption['default'] {
  return option.parse(raw, (why) => {
    throw new ConfigError(`${source}: invalid value "${raw}": ${why}`);
  });
}

/** Builds a Config from one value per option. */
function configOf(valueOf: (option: AnyOption) => AnyOption['default']): Config {
  // Each value has its own option's type, a correlation Object.fromEntries cannot carry.
  return Object.fromEntries(OPTIONS.map((option) => [option.key, valueOf(option)])) as Config;
}

export function defaultConfig(): Config {
  return configOf((option) => structuredClone(option.default));
}

/**
 * Builds the configuration: defaults, then ENTROPY_* variables, then flags (flags win).
 * `flags` maps option keys to the raw strings (or booleans) given on the command line.
 */
export function loadConfig(
  env: NodeJS.ProcessEnv,
  flags: Partial<Record<keyof Config, string | boolean>> = {},
): Config {
  const config = configOf((option) => {
    let value = structuredClone(option.default);
    const fromEnv = env[option.env];
    if (fromEnv !== undefined && fromEnv !== '') value = parseFrom(option, fromEnv, option.env);
    const fromFlag = flags[option.key];
    if (fromFlag !== undefined) {
      const source = `--${flagName(option)} (${option.env})`;
      value = parseFrom(option, String(fromFlag), source);
    }
    return value;
  });
  crossCheck(config);
  return config;
}

function crossCheck(c: Config): void {
  if ((c.tlsCert === undefined) !== (c.tlsKey === undefined)) {
    throw new ConfigError('ENTROPY_TLS_CERT and ENTROPY_TLS_KEY must be given together');
  }
  if (c.redisUrl !== undefined && c.redisCluster.length > 0) {
    throw new ConfigError('ENTROPY_REDIS_URL and ENTROPY_REDIS_CLUSTER are exclusive: give one');
  }
  if (c.powBase > c.powMax) {
    throw new ConfigError(
      `ENTROPY_POW_BASE (${c.powBase}) must not exceed ENTROPY_POW_MAX (${c.powMax})`,
    );
  }
  if (
    c.powLoadThresholds.length !== 3 ||
    !c.powLoadThresholds.every((v, i, a) => i === 0 || v > a[i - 1]!)
  ) {
    throw new ConfigError(
      'ENTROPY_POW_LOAD_THRESHOLDS: expected three increasing numbers, e.g. 20,50,100',
    );
  }
}

/** The README's configuration reference: a Markdown table of every option (prettier's layout). */
export function configTable(): string {
  const rows = OPTIONS.map((option) => {
    const flag = flagName(option);
    return [
      `\`${option.env}\``,
      option.toggle ? `\`--${option.default === true ? 'no-' : ''}${flag}\`` : `\`--${flag} <v>\``,
      option.shown === '' ? '—' : `\`${option.shown}\``,
      option.describe,
    ];
  });
  const header = ['Variable', 'Flag', 'Default', 'Meaning'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}
