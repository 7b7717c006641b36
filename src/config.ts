// One typed configuration object, built once from CLI flags and ENTROPY_* variables.
// Every option is declared once in OPTIONS: that table drives the CLI flags, the
// environment variables, validation and the README's configuration reference.
import { isIP } from 'node:net';

export type CompatMode = 'off' | 'v1';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface Config {
  port: number;
  addr: string;
  tls: boolean;
  tlsCert: string | undefined;
  tlsKey: string | undefined;
  redisUrl: string | undefined;
  redisCluster: string[];
  requireVolatile: boolean;
  compat: CompatMode;
  secretSalt: string | undefined;
  adminToken: string | undefined;
  trustProxy: string[];
  allowedOrigins: string[];
  logLevel: LogLevel;

  maxConnsPerIp: number;
  maxBodyBytes: number;
  maxWsMessageBytes: number;
  maxSocketBufferBytes: number;
  slowReaderGraceMs: number;
  authTimeoutMs: number;
  idleTimeoutS: number;
  handshakeTimeoutMs: number;
  metricsAddr: string;

  powBase: number;
  powMax: number;
  powLoadThresholds: number[];

  limitGlobal: number;
  powLimit: number;
  limitKeysUpload: number;
  limitKeysFetch: number;
  limitKeysRandom: number;
  limitNickRegister: number;
  limitNickLookup: number;
  limitAccountBurn: number;
  limitWsFrames: number;
  limitQueueBytes: number;
  limitMsgSend: number;
  limitMsgReceive: number;
  limitWsAuth: number;
  limitWsAuthIdentity: number;
  maxSessionTokens: number;
  jailSeconds: number;

  bundleTtlDays: number;
  nicknameTtlDays: number;
  messageTtlDays: number;
  sessionTtlS: number;
  queueMax: number;
  queueMaxBytes: number;
  queueTotalBytes: number;
  redisQueueHighWater: number;

  jitterMs: [number, number];
  pacingMs: number;
  pacingIdleMs: number;
}

type Kind = 'int' | 'string' | 'bool' | 'list' | 'enum' | 'range' | 'intlist';

export interface OptionSpec {
  key: keyof Config;
  env: string;
  kind: Kind;
  default: Config[keyof Config];
  describe: string;
  min?: number;
  max?: number;
  values?: readonly string[];
  /** Extra validation of the parsed value; returns an error text or undefined. */
  check?: (value: never) => string | undefined;
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

function checkRedisUrl(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
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

export const OPTIONS: readonly OptionSpec[] = [
  // Transport
  {
    key: 'port',
    env: 'ENTROPY_PORT',
    kind: 'int',
    default: 8080,
    min: 0,
    max: 65535,
    describe: 'TCP port for REST and WebSocket (0 = any free port)',
  },
  {
    key: 'addr',
    env: 'ENTROPY_ADDR',
    kind: 'string',
    default: '0.0.0.0',
    describe: 'Address to listen on',
    check: (v: string) => (isIP(v) || v === 'localhost' ? undefined : 'must be an IP address'),
  },
  {
    key: 'tls',
    env: 'ENTROPY_TLS',
    kind: 'bool',
    default: true,
    describe: 'TLS 1.3 (on) or plain HTTP/WS (off, logs a warning); flag: --no-tls',
  },
  {
    key: 'tlsCert',
    env: 'ENTROPY_TLS_CERT',
    kind: 'string',
    default: undefined,
    describe: 'PEM certificate file (default: ephemeral self-signed ECDSA P-256 for localhost)',
  },
  {
    key: 'tlsKey',
    env: 'ENTROPY_TLS_KEY',
    kind: 'string',
    default: undefined,
    describe: 'PEM private key file',
  },
  {
    key: 'maxConnsPerIp',
    env: 'ENTROPY_MAX_CONNS_PER_IP',
    kind: 'int',
    default: 64,
    min: 1,
    describe: 'Concurrent TCP connections per client IP (IPv6 per /64), enforced at accept',
  },
  {
    key: 'maxBodyBytes',
    env: 'ENTROPY_MAX_BODY_BYTES',
    kind: 'int',
    default: 64 * KiB,
    min: 1 * KiB,
    max: 16 * MiB,
    describe: 'Largest HTTP request body (larger: 413)',
  },
  {
    key: 'maxWsMessageBytes',
    env: 'ENTROPY_MAX_WS_MESSAGE_BYTES',
    kind: 'int',
    default: 1 * MiB,
    min: 1 * KiB,
    max: 64 * MiB,
    describe: 'Largest inbound WebSocket message (larger: close 1009)',
  },
  {
    key: 'maxSocketBufferBytes',
    env: 'ENTROPY_MAX_SOCKET_BUFFER_BYTES',
    kind: 'int',
    default: 1 * MiB,
    min: 16 * KiB,
    max: 256 * MiB,
    describe:
      'Bytes a WebSocket may have waiting to be written; messages over it go to the offline queue',
  },
  {
    key: 'slowReaderGraceMs',
    env: 'ENTROPY_SLOW_READER_GRACE_MS',
    kind: 'int',
    default: 10_000,
    min: 100,
    describe: 'A WebSocket over its buffer cap this long is closed (4004 slow_reader)',
  },
  {
    key: 'authTimeoutMs',
    env: 'ENTROPY_AUTH_TIMEOUT_MS',
    kind: 'int',
    default: 10_000,
    min: 100,
    describe: 'Time an unauthenticated WebSocket has to authenticate',
  },
  {
    key: 'idleTimeoutS',
    env: 'ENTROPY_IDLE_TIMEOUT_S',
    kind: 'int',
    default: 300,
    min: 1,
    describe: 'Close connections that sent nothing for this long',
  },
  {
    key: 'handshakeTimeoutMs',
    env: 'ENTROPY_HANDSHAKE_TIMEOUT_MS',
    kind: 'int',
    default: 10_000,
    min: 100,
    describe: 'Time a connection has to finish its TLS handshake, and then its HTTP request head',
  },
  {
    key: 'metricsAddr',
    env: 'ENTROPY_METRICS_ADDR',
    kind: 'string',
    default: '127.0.0.1:9464',
    describe: 'Own plain-HTTP listener for /metrics: "host:port", "[IPv6]:port" or "off"',
    check: (v: string) =>
      v === 'off' || parseListenAddress(v) !== undefined
        ? undefined
        : 'expected host:port, [IPv6]:port or off',
  },
  {
    key: 'trustProxy',
    env: 'ENTROPY_TRUST_PROXY',
    kind: 'list',
    default: [],
    describe: 'Comma list of proxy IPs/CIDRs whose X-Forwarded-For is trusted (default: none)',
    check: checkAddressList,
  },
  {
    key: 'allowedOrigins',
    env: 'ENTROPY_ALLOWED_ORIGINS',
    kind: 'list',
    default: [
      'tauri://localhost',
      'http://tauri.localhost',
      'http://localhost',
      'http://127.0.0.1',
    ],
    describe: 'CORS origins (exact, "*" allowed; localhost and 127.0.0.1 match any port)',
  },
  // Mode, storage, secrets
  {
    key: 'compat',
    env: 'ENTROPY_COMPAT',
    kind: 'enum',
    default: 'off',
    values: ['off', 'v1'],
    describe: 'Also accept Entropy v1 client forms (identities not key-bound)',
  },
  {
    key: 'redisUrl',
    env: 'ENTROPY_REDIS_URL',
    kind: 'string',
    default: undefined,
    describe: 'Redis URL (redis://, rediss://, tcp://); unset: in-process memory store',
    check: checkRedisUrl,
  },
  {
    key: 'redisCluster',
    env: 'ENTROPY_REDIS_CLUSTER',
    kind: 'list',
    default: [],
    describe: 'Comma list of Redis Cluster seed nodes (host:port)',
    check: (v: string[]) =>
      (v.find((n) => !/^[^\s:]+:\d+$/.test(n)) && 'entries must be host:port') || undefined,
  },
  {
    key: 'requireVolatile',
    env: 'ENTROPY_REQUIRE_VOLATILE',
    kind: 'bool',
    default: false,
    describe: 'Refuse to run when Redis has RDB or AOF persistence on, or may evict keys',
  },
  {
    key: 'secretSalt',
    env: 'ENTROPY_SECRET_SALT',
    kind: 'string',
    default: undefined,
    describe:
      'Server secret keying PoW seeds and tokens (32+ chars; unset: random, shared via Redis)',
  },
  {
    key: 'adminToken',
    env: 'ENTROPY_ADMIN_TOKEN',
    kind: 'string',
    default: undefined,
    describe: 'Token (X-Admin-Token) that opens /metrics on the main listener (unset: never)',
  },
  {
    key: 'logLevel',
    env: 'ENTROPY_LOG_LEVEL',
    kind: 'enum',
    default: 'info',
    values: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
    describe: 'Log level',
  },
  // Proof of work
  {
    key: 'powBase',
    env: 'ENTROPY_POW_BASE',
    kind: 'int',
    default: 4,
    min: 2,
    max: 16,
    describe: 'Base PoW difficulty (leading zero hex digits)',
  },
  {
    key: 'powMax',
    env: 'ENTROPY_POW_MAX',
    kind: 'int',
    default: 8,
    min: 5,
    max: 16,
    describe: 'Highest difficulty ever asked',
  },
  {
    key: 'powLoadThresholds',
    env: 'ENTROPY_POW_LOAD_THRESHOLDS',
    kind: 'intlist',
    default: [20, 50, 100],
    describe: 'PoW-gated requests/s above which difficulty rises by +1/+2/+3',
  },
  // Rate limits
  {
    key: 'limitGlobal',
    env: 'ENTROPY_LIMIT_GLOBAL',
    kind: 'int',
    default: 300,
    min: 1,
    describe: 'HTTP requests per IP per 10 s',
  },
  {
    key: 'powLimit',
    env: 'ENTROPY_POW_LIMIT',
    kind: 'int',
    default: 20,
    min: 1,
    describe: 'PoW challenges per IP per 60 s',
  },
  {
    key: 'limitKeysUpload',
    env: 'ENTROPY_LIMIT_KEYS_UPLOAD',
    kind: 'int',
    default: 10,
    min: 1,
    describe: 'Key uploads per IP per 60 s',
  },
  {
    key: 'limitKeysFetch',
    env: 'ENTROPY_LIMIT_KEYS_FETCH',
    kind: 'int',
    default: 50,
    min: 1,
    describe: 'Key fetches per IP per 60 s',
  },
  {
    key: 'limitKeysRandom',
    env: 'ENTROPY_LIMIT_KEYS_RANDOM',
    kind: 'int',
    default: 20,
    min: 1,
    describe: 'Random-hash requests per IP per 60 s',
  },
  {
    key: 'limitNickRegister',
    env: 'ENTROPY_LIMIT_NICK_REGISTER',
    kind: 'int',
    default: 5,
    min: 1,
    describe: 'Nickname registrations per IP per 60 s',
  },
  {
    key: 'limitNickLookup',
    env: 'ENTROPY_LIMIT_NICK_LOOKUP',
    kind: 'int',
    default: 30,
    min: 1,
    describe: 'Nickname lookups per IP per 60 s',
  },
  {
    key: 'limitAccountBurn',
    env: 'ENTROPY_LIMIT_ACCOUNT_BURN',
    kind: 'int',
    default: 3,
    min: 1,
    describe: 'Burns per IP per 300 s',
  },
  {
    key: 'limitWsFrames',
    env: 'ENTROPY_LIMIT_WS_FRAMES',
    kind: 'int',
    default: 600,
    min: 1,
    describe: 'WebSocket frames per IP per 10 s',
  },
  {
    key: 'limitQueueBytes',
    env: 'ENTROPY_LIMIT_QUEUE_BYTES',
    kind: 'int',
    default: 8 * MiB,
    min: 1 * KiB,
    describe: 'Offline-queue bytes a sender IP may cause to be stored per 60 s',
  },
  {
    key: 'limitMsgSend',
    env: 'ENTROPY_LIMIT_MSG_SEND',
    kind: 'int',
    default: 300,
    min: 1,
    describe: 'Messages sent per identity per 10 s',
  },
  {
    key: 'limitMsgReceive',
    env: 'ENTROPY_LIMIT_MSG_RECEIVE',
    kind: 'int',
    default: 300,
    min: 1,
    describe: 'Messages accepted for one recipient per 10 s (never jailed)',
  },
  {
    key: 'limitWsAuth',
    env: 'ENTROPY_LIMIT_WS_AUTH',
    kind: 'int',
    default: 30,
    min: 1,
    describe: 'WebSocket auth attempts per IP per 60 s',
  },
  {
    key: 'limitWsAuthIdentity',
    env: 'ENTROPY_LIMIT_WS_AUTH_IDENTITY',
    kind: 'int',
    default: 12,
    min: 1,
    describe: 'WebSocket auth attempts per identity per 60 s',
  },
  {
    key: 'maxSessionTokens',
    env: 'ENTROPY_MAX_SESSION_TOKENS',
    kind: 'int',
    default: 5,
    min: 1,
    max: 100,
    describe: 'Live session tokens per identity; a new one revokes the oldest',
  },
  {
    key: 'jailSeconds',
    env: 'ENTROPY_JAIL_SECONDS',
    kind: 'int',
    default: 300,
    min: 1,
    describe: 'Jail time of a bucket refused 6 times within two windows',
  },
  // Retention
  {
    key: 'bundleTtlDays',
    env: 'ENTROPY_BUNDLE_TTL_DAYS',
    kind: 'int',
    default: 30,
    min: 1,
    describe: 'Key bundle TTL, refreshed by each upload',
  },
  {
    key: 'nicknameTtlDays',
    env: 'ENTROPY_NICKNAME_TTL_DAYS',
    kind: 'int',
    default: 30,
    min: 1,
    describe: 'Nickname TTL, refreshed by re-registering',
  },
  {
    key: 'messageTtlDays',
    env: 'ENTROPY_MESSAGE_TTL_DAYS',
    kind: 'int',
    default: 30,
    min: 1,
    describe: 'Life of each offline message, from its own enqueue',
  },
  {
    key: 'sessionTtlS',
    env: 'ENTROPY_SESSION_TTL_S',
    kind: 'int',
    default: 3600,
    min: 1,
    describe: 'Session token TTL',
  },
  {
    key: 'queueMax',
    env: 'ENTROPY_QUEUE_MAX',
    kind: 'int',
    default: 1000,
    min: 1,
    describe: 'Offline messages per recipient',
  },
  {
    key: 'queueMaxBytes',
    env: 'ENTROPY_QUEUE_MAX_BYTES',
    kind: 'int',
    default: 10 * MiB,
    min: 1 * KiB,
    describe: 'Offline bytes per recipient',
  },
  {
    key: 'queueTotalBytes',
    env: 'ENTROPY_QUEUE_TOTAL_BYTES',
    kind: 'int',
    default: 256 * MiB,
    min: 1 * KiB,
    describe: 'Offline bytes of all recipients together, memory store (Redis: maxmemory)',
  },
  {
    key: 'redisQueueHighWater',
    env: 'ENTROPY_REDIS_QUEUE_HIGH_WATER',
    kind: 'int',
    default: 90,
    min: 10,
    max: 100,
    describe: 'Redis memory use (% of maxmemory) from which offline messages are refused',
  },
  // Traffic normalisation
  {
    key: 'jitterMs',
    env: 'ENTROPY_JITTER_MS',
    kind: 'range',
    default: [10, 50],
    min: 0,
    max: 10_000,
    describe: 'Delivery jitter range in ms, "MIN-MAX"',
  },
  {
    key: 'pacingMs',
    env: 'ENTROPY_PACING_MS',
    kind: 'int',
    default: 500,
    min: 50,
    describe: 'Dummy pacing interval',
  },
  {
    key: 'pacingIdleMs',
    env: 'ENTROPY_PACING_IDLE_MS',
    kind: 'int',
    default: 5000,
    min: 0,
    describe: 'Pacing stops after this long without real traffic',
  },
];

export class ConfigError extends Error {}

/** Flag name for an option: ENTROPY_LIMIT_KEYS_UPLOAD -> limit-keys-upload. */
export function flagName(spec: OptionSpec): string {
  return spec.env
    .replace(/^ENTROPY_/, '')
    .toLowerCase()
    .replace(/_/g, '-');
}

function parseValue(spec: OptionSpec, raw: string, source: string): Config[keyof Config] {
  const fail = (why: string): never => {
    throw new ConfigError(`${source}: invalid value "${raw}": ${why}`);
  };
  const int = (text: string): number => {
    if (!/^\d+$/.test(text.trim())) fail('expected a whole number');
    const n = Number(text.trim());
    if (spec.min !== undefined && n < spec.min) fail(`must be at least ${spec.min}`);
    if (spec.max !== undefined && n > spec.max) fail(`must be at most ${spec.max}`);
    return n;
  };
  let value: Config[keyof Config];
  switch (spec.kind) {
    case 'int':
      value = int(raw);
      break;
    case 'string':
      if (raw === '') fail('must not be empty');
      value = raw;
      break;
    case 'bool': {
      const v = raw.trim().toLowerCase();
      if (['1', 'true', 'on', 'yes'].includes(v)) value = true;
      else if (['0', 'false', 'off', 'no'].includes(v)) value = false;
      else return fail('accepted values: on, off (also 1/0, true/false, yes/no)');
      break;
    }
    case 'enum':
      if (!spec.values!.includes(raw)) fail(`accepted values: ${spec.values!.join(', ')}`);
      value = raw as CompatMode;
      break;
    case 'list':
      value = raw
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');
      break;
    case 'intlist':
      value = raw.split(',').map((s) => int(s));
      break;
    case 'range': {
      const m = /^\s*(\d+)\s*-\s*(\d+)\s*$/.exec(raw);
      if (!m) return fail('expected "MIN-MAX" in milliseconds, e.g. 10-50');
      const lo = int(m[1]!);
      const hi = int(m[2]!);
      if (lo > hi) fail('MIN must not exceed MAX');
      value = [lo, hi];
      break;
    }
  }
  const problem = spec.check?.(value as never);
  if (problem) fail(problem);
  return value;
}

export function defaultConfig(): Config {
  const config: Record<string, unknown> = {};
  for (const spec of OPTIONS) {
    const d = spec.default;
    config[spec.key] = Array.isArray(d) ? [...d] : d;
  }
  return config as unknown as Config;
}

/**
 * Builds the configuration: defaults, then ENTROPY_* variables, then flags (flags win).
 * `flags` maps option keys to the raw strings (or booleans) given on the command line.
 */
export function loadConfig(
  env: NodeJS.ProcessEnv,
  flags: Partial<Record<keyof Config, string | boolean>> = {},
): Config {
  const config = defaultConfig() as unknown as Record<string, unknown>;
  for (const spec of OPTIONS) {
    const fromEnv = env[spec.env];
    if (fromEnv !== undefined && fromEnv !== '') {
      config[spec.key] = parseValue(spec, fromEnv, spec.env);
    }
    const fromFlag = flags[spec.key];
    if (fromFlag !== undefined) {
      const source = `--${flagName(spec)} (${spec.env})`;
      config[spec.key] =
        typeof fromFlag === 'boolean' ? fromFlag : parseValue(spec, fromFlag, source);
    }
  }
  const result = config as unknown as Config;
  crossCheck(result);
  return result;
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
  const rows = OPTIONS.map((spec) => {
    const flag = flagName(spec);
    const d = spec.default;
    const shown = Array.isArray(d) ? d.join(spec.kind === 'range' ? '-' : ',') : d;
    return [
      `\`${spec.env}\``,
      spec.kind === 'bool' ? `\`--${d === true ? 'no-' : ''}${flag}\`` : `\`--${flag} <v>\``,
      shown === undefined || shown === '' ? '—' : `\`${String(shown)}\``,
      spec.describe,
    ];
  });
  const header = ['Variable', 'Flag', 'Default', 'Meaning'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}
