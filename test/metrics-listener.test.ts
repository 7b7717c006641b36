// Metrics are private (docs/protocol.md §2.9): served on their own listener (ENTROPY_METRICS_ADDR),
// and on the main listener only with the admin token, whatever a reverse proxy forwards.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../src/config.js';
import { parseListenAddress } from '../src/config/kinds.js';
import { PADDED_SIZE } from '../src/normalize/padding.js';
import { connect } from 'node:net';
import { assertPaddedError, ownListeningPorts, parseResponse } from './helpers/raw-http.js';
import { requestRelay, startTestRelay, type TestRelay } from './helpers/relay.js';

const TOKEN = 'test-admin-token-0123456789';

describe('metrics listener', () => {
  let t: TestRelay;
  before(async () => {
    t = await startTestRelay({ adminToken: TOKEN });
  });
  after(() => t.close());

  it('serves the Prometheus text of the relay on GET /metrics, over plain HTTP', async () => {
    assert.match(t.relay.metricsUrl ?? '', /^http:\/\/127\.0\.0\.1:\d+$/);
    await t.request('/health');
    const res = await t.metrics();
    assert.equal(res.status, 200);
    assert.match(String(res.headers['content-type']), /^text\/plain/);
    const text = res.body.toString('utf8');
    assert.match(text, /^entropy_open_sockets /m);
    assert.match(text, /entropy_http_requests_total\{route="\/health",status="200"\} 1/);
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
  });

  it('answers anything else with a padded 404', async () => {
    for (const [path, method] of [
      ['/', 'GET'],
      ['/health', 'GET'],
      ['/metrics/', 'GET'],
      ['/metrics', 'POST'],
    ] as const) {
      const res = await requestRelay(t.relay, new URL(path, t.relay.metricsUrl).href, { method });
      assert.equal(res.status, 404, `${method} ${path}`);
      assert.equal(res.body.length, PADDED_SIZE);
      assert.equal(res.json.code, 'not_found');
      assert.equal(
        res.headers['content-security-policy'],
        "default-src 'none'; frame-ancestors 'none'",
      );
      assert.equal(res.headers['strict-transport-security'], undefined);
    }
  });

  it('answers CONNECT and upgrade requests with a padded 404, then closes', async () => {
    const { hostname, port } = new URL(t.relay.metricsUrl!);
    for (const request of [
      'CONNECT localhost:443 HTTP/1.1\r\nHost: localhost\r\n\r\n',
      'GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
        'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    ]) {
      const raw = await new Promise<Buffer>((resolve, reject) => {
        const chunks: Buffer[] = [];
        const socket = connect(Number(port), hostname, () => socket.write(request));
        socket.on('data', (chunk) => chunks.push(chunk));
        socket.on('error', reject);
        socket.on('close', () => resolve(Buffer.concat(chunks)));
      });
      assert.equal(assertPaddedError(parseResponse(raw), 404, false), 'not_found', request);
    }
  });

  it('keeps /metrics on the main listener closed to loopback and forwarded addresses', async () => {
    const variants: Array<Record<string, string>> = [
      {},
      { forwarded: 'for=127.0.0.1' },
      { 'x-forwarded-for': '127.0.0.1' },
      { 'x-real-ip': '127.0.0.1' },
      { 'x-admin-token': 'wrong' },
      { 'x-admin-token': '' },
    ];
    for (const headers of variants) {
      const res = await t.request('/metrics', { headers });
      assert.equal(res.status, 404, JSON.stringify(headers));
      assert.equal(res.body.length, PADDED_SIZE);
      assert.equal(res.json.code, 'not_found');
    }
  });

  it('serves /metrics on the main listener with the admin token', async () => {
    const res = await t.request('/metrics', { headers: { 'x-admin-token': TOKEN } });
    assert.equal(res.status, 200);
    assert.match(res.body.toString('utf8'), /^entropy_active_connections /m);
  });
});

describe('metrics listener settings', () => {
  it('without an admin token, /metrics on the main listener is always 404', async () => {
    const t = await startTestRelay({ tls: false });
    try {
      const res = await t.request('/metrics', { headers: { 'x-admin-token': 'anything' } });
      assert.equal(res.status, 404);
    } finally {
      await t.close();
    }
  });

  it('off starts no metrics listener', async () => {
    const newPorts = async (overrides: Parameters<typeof startTestRelay>[0]) => {
      const before = ownListeningPorts();
      const t = await startTestRelay(overrides);
      const ports = [...ownListeningPorts()].filter((port) => !before.has(port));
      await t.close();
      return { relay: t.relay, ports: ports.sort() };
    };
    const on = await newPorts({ tls: false });
    const metricsPort = Number(new URL(on.relay.metricsUrl!).port);
    assert.deepEqual(on.ports, [on.relay.port, metricsPort].sort());
    const off = await newPorts({ tls: false, metricsAddr: 'off' });
    assert.equal(off.relay.metricsUrl, undefined);
    assert.deepEqual(off.ports, [off.relay.port]);
  });

  it('parses ENTROPY_METRICS_ADDR', () => {
    assert.equal(loadConfig({}).metricsAddr, '127.0.0.1:9464');
    assert.deepEqual(parseListenAddress('127.0.0.1:9464'), { host: '127.0.0.1', port: 9464 });
    assert.deepEqual(parseListenAddress('[::1]:0'), { host: '::1', port: 0 });
    assert.deepEqual(parseListenAddress('localhost:9100'), { host: 'localhost', port: 9100 });
    assert.equal(loadConfig({ ENTROPY_METRICS_ADDR: 'off' }).metricsAddr, 'off');
    for (const bad of [
      '9464',
      '::1:9464',
      '127.0.0.1:70000',
      'metrics.local:9464',
      '[127.0.0.1]:1',
    ]) {
      assert.throws(
        () => loadConfig({ ENTROPY_METRICS_ADDR: bad }),
        (err: unknown) => err instanceof ConfigError && /ENTROPY_METRICS_ADDR/.test(err.message),
        bad,
      );
    }
    assert.throws(() => loadConfig({ ENTROPY_HANDSHAKE_TIMEOUT_MS: '50' }), /at least 100/);
  });
});
