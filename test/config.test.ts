// Configuration: defaults, variables, flags winning over variables, and clear errors.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import { ConfigError, configTable, defaultConfig, loadConfig } from '../src/config.js';
import { OPTIONS } from '../src/config/options.js';

const CLI = new URL('../src/cli.ts', import.meta.url).pathname;

function runCli(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
      env: { PATH: process.env.PATH, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (out += c));
    child.on('close', (code) => resolve({ code, out }));
  });
}

describe('configuration', () => {
  it('has the docs/protocol.md defaults', () => {
    const c = defaultConfig();
    assert.equal(c.port, 8080);
    assert.equal(c.addr, '0.0.0.0');
    assert.equal(c.tls, true);
    assert.equal(c.maxConnsPerIp, 64);
    assert.equal(c.maxBodyBytes, 65536);
    assert.equal(c.maxWsMessageBytes, 1048576);
    assert.equal(c.powBase, 4);
    assert.equal(c.powMax, 8);
    assert.equal(c.limitAccountBurn, 3);
    assert.deepEqual(c.jitterMs, [10, 50]);
    assert.equal(c.pacingMs, 500);
    assert.equal(c.compat, 'off');
  });

  it('reads ENTROPY_* variables and lets flags win', () => {
    const c = loadConfig(
      {
        ENTROPY_PORT: '9000',
        ENTROPY_TLS: 'off',
        ENTROPY_COMPAT: 'v1',
        ENTROPY_JITTER_MS: '5-7',
        ENTROPY_TRUST_PROXY: '10.0.0.0/8, ::1',
      },
      { port: '9100', tls: true },
    );
    assert.equal(c.port, 9100);
    assert.equal(c.tls, true);
    assert.equal(c.compat, 'v1');
    assert.deepEqual(c.jitterMs, [5, 7]);
    assert.deepEqual(c.trustProxy, ['10.0.0.0/8', '::1']);
  });

  it('names the variable and the accepted values on a bad value', () => {
    const bad: Array<[Record<string, string>, RegExp]> = [
      [{ ENTROPY_PORT: '80a' }, /ENTROPY_PORT.*whole number/],
      [{ ENTROPY_PORT: '70000' }, /ENTROPY_PORT.*at most 65535/],
      [{ ENTROPY_COMPAT: 'v2' }, /ENTROPY_COMPAT.*off, v1/],
      [{ ENTROPY_TLS: 'maybe' }, /ENTROPY_TLS.*on, off/],
      [{ ENTROPY_REDIS_URL: 'http://x' }, /ENTROPY_REDIS_URL.*redis:\/\//],
      [{ ENTROPY_JITTER_MS: '50-10' }, /ENTROPY_JITTER_MS/],
      [{ ENTROPY_TRUST_PROXY: 'proxy.local' }, /ENTROPY_TRUST_PROXY/],
      [{ ENTROPY_TLS_CERT: '/x.pem' }, /ENTROPY_TLS_KEY/],
      [{ ENTROPY_POW_BASE: '9' }, /ENTROPY_POW_BASE.*ENTROPY_POW_MAX/],
      [{ ENTROPY_POW_MAX: '3' }, /ENTROPY_POW_MAX.*at least 5/],
    ];
    for (const [env, message] of bad) {
      assert.throws(
        () => loadConfig(env),
        (err: unknown) => err instanceof ConfigError && message.test(err.message),
        JSON.stringify(env),
      );
    }
  });

  it('accepts redis://, rediss:// and tcp:// URLs', () => {
    for (const url of ['redis://127.0.0.1:6380', 'rediss://h:6380/0', 'tcp://10.0.0.1:6379']) {
      assert.equal(loadConfig({ ENTROPY_REDIS_URL: url }).redisUrl, url);
    }
  });

  it('the README documents every variable, as the option table says (npm run docs:config)', async () => {
    const { readFile } = await import('node:fs/promises');
    const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
    for (const option of OPTIONS)
      assert.ok(readme.includes(`\`${option.env}\``), `${option.env} missing from README`);
    assert.ok(readme.includes(configTable()), 'README table out of date: run npm run docs:config');
  });

  it('every option has a distinct variable', () => {
    const envs = OPTIONS.map((o) => o.env);
    assert.equal(new Set(envs).size, envs.length);
  });

  it('every option has a distinct key', () => {
    const keys = OPTIONS.map((o) => o.key);
    assert.equal(new Set(keys).size, keys.length);
    assert.deepEqual(Object.keys(defaultConfig()), keys);
  });

  it('every default, written as its variable, reads back as itself', () => {
    const defaults: Record<string, unknown> = defaultConfig();
    for (const option of OPTIONS) {
      const value = defaults[option.key];
      if (option.shown === '') {
        // Nothing to write: the default is "unset" (an empty variable is ignored).
        assert.ok(value === undefined || (Array.isArray(value) && value.length === 0), option.env);
        continue;
      }
      const read: Record<string, unknown> = loadConfig({ [option.env]: option.shown });
      assert.deepEqual(read[option.key], value, option.env);
    }
  });
});

describe('CLI', () => {
  it('--help lists the flags with their variables', async () => {
    const { code, out } = await runCli(['serve', '--help']);
    assert.equal(code, 0);
    for (const text of [
      '--port',
      'ENTROPY_PORT',
      '--no-tls',
      '--redis-url',
      '--compat',
      '--limit-keys-upload',
      '--trust-proxy',
    ]) {
      assert.ok(out.includes(text), `help mentions ${text}`);
    }
  });

  it('exits non-zero naming the variable on a bad value', async () => {
    const { code, out } = await runCli([], { ENTROPY_MAX_CONNS_PER_IP: 'lots' });
    assert.equal(code, 2);
    assert.match(out, /ENTROPY_MAX_CONNS_PER_IP/);
    const flag = await runCli(['--port', 'x']);
    assert.equal(flag.code, 2);
    assert.match(flag.out, /--port \(ENTROPY_PORT\)/);
  });
});
