// The kinds of setting (whole number, text, on/off, one of, list, range): how each reads and
// checks its raw value, from a variable or a flag; and the value checks the option table uses.
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

export function int<K extends string>(
  o: About<K> & { default: number; min?: number; max?: number },
): Option<K, number> {
  const parse: Read<number> = (raw, fail) => wholeNumber(raw, fail, o);
  return option(o, { default: o.default, shown: String(o.default), parse });
}

/** A whole number, or "auto" (resolved by whoever uses the setting). */
export function intOrAuto<K extends string>(
  o: About<K> & { default: number; min: number; max: number },
): Option<K, number | 'auto'> {
  const parse: Read<number | 'auto'> = (raw, fail) => {
    if (raw.trim().toLowerCase() === 'auto') return 'auto';
    if (!/^\d+$/.test(raw.trim())) fail('expected a whole number or "auto"');
    return wholeNumber(raw, fail, o);
  };
  return option(o, { default: o.default, shown: String(o.default), parse });
}

export function text<K extends string>(
  o: About<K> & { default: string; check?: Check<string> },
): Option<K, string> {
  return option(o, { default: o.default, shown: o.default, parse: checked(nonEmpty, o.check) });
}

/** A string setting that is unset by default. */
export function optionalText<K extends string>(
  o: About<K> & { check?: Check<string> },
): Option<K, string | undefined> {
  return option(o, { default: undefined, shown: '', parse: checked(nonEmpty, o.check) });
}

export function bool<K extends string>(o: About<K> & { default: boolean }): Option<K, boolean> {
  const parse: Read<boolean> = (raw, fail) => {
    const v = raw.trim().toLowerCase();
    if (['1', 'true', 'on', 'yes'].includes(v)) return true;
    if (['0', 'false', 'off', 'no'].includes(v)) return false;
    return fail('accepted values: on, off (also 1/0, true/false, yes/no)');
  };
  return option(o, { default: o.default, shown: String(o.default), parse }, true);
}

export function oneOf<K extends string, const V extends string>(
  o: About<K> & { values: readonly V[]; default: NoInfer<V> },
): Option<K, V> {
  const parse: Read<V> = (raw, fail) =>
    o.values.find((v) => v === raw) ?? fail(`accepted values: ${o.values.join(', ')}`);
  return option(o, { default: o.default, shown: o.default, parse });
}

/** A comma-separated list of strings; blank entries are dropped. */
export function list<K extends string>(
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
export function intList<K extends string>(
  o: About<K> & { default: number[] },
): Option<K, number[]> {
  const parse: Read<number[]> = (raw, fail) => raw.split(',').map((s) => wholeNumber(s, fail, {}));
  return option(o, { default: o.default, shown: o.default.join(','), parse });
}

/** "MIN-MAX", each within [min, max]. */
export function range<K extends string>(
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

export function checkAddressList(list: string[]): string | undefined {
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

export function checkRedisUrl(url: string): string | undefined {
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
