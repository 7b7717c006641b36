// One typed configuration object, built once from CLI flags and ENTROPY_* variables.
// Every setting is declared once, in OPTIONS (config/options.ts): that table drives the CLI
// flags, the environment variables, validation, the README's configuration reference and the
// Config type itself. This module loads, cross-checks and documents it.
import type { Option } from './config/kinds.js';
import { OPTIONS } from './config/options.js';

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
  if (c.proxyProtocol && c.trustProxy.length === 0) {
    throw new ConfigError(
      'ENTROPY_PROXY_PROTOCOL needs ENTROPY_TRUST_PROXY: the addresses of the load balancers',
    );
  }
  if (c.redisUrl !== undefined && c.redisCluster.length > 0) {
    throw new ConfigError('ENTROPY_REDIS_URL and ENTROPY_REDIS_CLUSTER are exclusive: give one');
  }
  if (c.redisSentinels.length > 0 && (c.redisUrl !== undefined || c.redisCluster.length > 0)) {
    throw new ConfigError(
      'ENTROPY_REDIS_SENTINELS excludes ENTROPY_REDIS_URL and ENTROPY_REDIS_CLUSTER: give one',
    );
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
