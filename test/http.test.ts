// The HTTP layer over real sockets: TLS 1.3 only, padding of every body, headers, CORS,
// exact routes, metrics access, the per-IP connection cap, blinded logs.
import assert from 'node:assert/strict';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { PADDED_SIZE } from '../src/normalize/padding.js';
import { assertPadded } from './helpers/padding.js';
import { startTestRelay, type HttpResult, type TestRelay } from './helpers/relay.js';
import { waitFor } from './helpers/wait.js';

function assertPaddedJson(res: HttpResult, what: string): void {
  assertPadded(res.body, what);
  assert.notEqual(res.json, undefined, `${what}: body is not JSON`);
}

function tlsHandshake(port: number, version: 'TLSv1.2' | 'TLSv1.3'): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({
      host: '127.0.0.1',
      port,
      rejectUnauthorized: false,
      minVersion: version,
      maxVersion: version,
    });
    socket.once('secureConnect', () => {
      const protocol = socket.getProtocol() ?? '';
      socket.destroy();
      resolve(protocol);
    });
    socket.once('error', reject);
  });
}

/** Sends raw bytes and returns everything the server answered before closing. */
function rawExchange(port: number, data: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = netConnect(port, '127.0.0.1', () => socket.write(data));
    const chunks: Buffer[] = [];
    socket.on('data', (c) => chunks.push(c));
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    socket.on('error', reject);
  });
}

for (const tls of [true, false]) {
  describe(`HTTP layer (${tls ? 'TLS 1.3' : '--no-tls'})`, () => {
    let t: TestRelay;
    before(async () => {
      t = await startTestRelay({ tls, limitGlobal: 1000 });
    });
    after(() => t.close());

    it('serves /health with a padded 1536-byte body', async () => {
      const res = await t.request('/health');
      assert.equal(res.status, 200);
      assert.equal(res.body.length, PADDED_SIZE);
      assert.deepEqual(res.json, {
        status: 'healthy',
        storage: 'memory',
        tls,
        version: t.relay.ctx.version,
      });
      assert.match(String(res.headers['content-type']), /^application\/json/);
    });

    it('pads every response body, errors included', async () => {
      const cases: Array<[string, Parameters<TestRelay['request']>[1], number]> = [
        ['/health', {}, 200],
        ['/ready', {}, 200],
        ['/nope', {}, 404],
        ['/health/', {}, 404],
        ['/healthz', {}, 404],
        ['/HEALTH', {}, 404],
        ['/health', { method: 'POST', body: '{}' }, 404],
        ['/health', { method: 'DELETE' }, 404],
        ['/health', { method: 'HEAD' }, 404],
        [
          '/metrics',
          { localAddress: '127.0.0.1', headers: { 'x-forwarded-for': '203.0.113.9' } },
          404,
        ],
        ['/x', { method: 'POST', body: 'x'.repeat(70 * 1024) }, 413],
        ['/%zz', {}, 400],
      ];
      for (const [path, options, status] of cases) {
        const res = await t.request(path, options);
        assert.equal(res.status, status, `${options?.method ?? 'GET'} ${path}`);
        if (options?.method === 'HEAD') {
          assert.equal(res.body.length, 0);
          continue;
        }
        assertPaddedJson(res, `${options?.method ?? 'GET'} ${path}`);
        if (status >= 400) {
          assert.equal(typeof res.json.error, 'string');
          assert.match(res.json.code, /^[a-z_]+$/);
        }
      }
    });

    it('answers the error shape with exact codes', async () => {
      const notFound = await t.request('/nope');
      assert.equal(notFound.json.code, 'not_found');
      const tooLarge = await t.request('/x', { method: 'POST', body: 'x'.repeat(70 * 1024) });
      assert.equal(tooLarge.json.code, 'payload_too_large');
    });

    it('sets the security headers and no Server header', async () => {
      const res = await t.request('/health');
      assert.equal(res.headers['x-content-type-options'], 'nosniff');
      assert.equal(
        res.headers['content-security-policy'],
        "default-src 'none'; frame-ancestors 'none'",
      );
      assert.equal(res.headers['referrer-policy'], 'no-referrer');
      assert.equal(res.headers['server'], undefined);
      assert.equal(res.headers['x-powered-by'], undefined);
      assert.equal(res.headers['content-encoding'], undefined);
      if (tls) assert.match(String(res.headers['strict-transport-security']), /max-age=\d+/);
      else assert.equal(res.headers['strict-transport-security'], undefined);
      const notFound = await t.request('/nope');
      assert.equal(notFound.headers['x-content-type-options'], 'nosniff');
    });

    it('answers CORS for allowed origins only', async () => {
      const preflight = await t.request('/keys/upload', {
        method: 'OPTIONS',
        headers: { origin: 'http://localhost:1420', 'access-control-request-method': 'POST' },
      });
      assert.equal(preflight.status, 204);
      assert.equal(preflight.body.length, 0);
      assert.equal(preflight.headers['access-control-allow-origin'], 'http://localhost:1420');
      assert.equal(
        preflight.headers['access-control-allow-headers'],
        'Content-Type, X-PoW-Seed, X-PoW-Nonce',
      );

      const tauri = await t.request('/health', { headers: { origin: 'tauri://localhost' } });
      assert.equal(tauri.headers['access-control-allow-origin'], 'tauri://localhost');

      const evil = await t.request('/health', { headers: { origin: 'https://evil.example' } });
      assert.equal(evil.headers['access-control-allow-origin'], undefined);
      const evilPort = await t.request('/health', { headers: { origin: 'tauri://localhost:99' } });
      assert.equal(evilPort.headers['access-control-allow-origin'], undefined);
    });

    it('serves /metrics on the metrics listener with the active_connections gauge', async () => {
      const res = await t.metrics();
      assert.equal(res.status, 200);
      const text = res.body.toString('utf8');
      assert.match(text, /^entropy_active_connections /m);
      assert.match(text, /entropy_http_requests_total\{route="\/health",status="200"\}/);
      assert.doesNotMatch(text, /127\.0\.0\.1/);
    });
  });
}

describe('TLS', () => {
  let t: TestRelay;
  before(async () => {
    t = await startTestRelay();
  });
  after(() => t.close());

  it('completes a TLS 1.3 handshake', async () => {
    assert.equal(await tlsHandshake(t.relay.port, 'TLSv1.3'), 'TLSv1.3');
  });

  it('refuses a TLS 1.2 client', async () => {
    await assert.rejects(tlsHandshake(t.relay.port, 'TLSv1.2'), /version|alert|handshake/i);
  });

  it('generates an ECDSA P-256 certificate for localhost and logs its fingerprint', async () => {
    const { X509Certificate } = await import('node:crypto');
    const cert = new X509Certificate(t.relay.tls!.cert);
    assert.equal(cert.publicKey.asymmetricKeyType, 'ec');
    assert.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assert.match(cert.subjectAltName ?? '', /DNS:localhost/);
    const logged = t.logs.map((l) => JSON.parse(l)).find((l) => l.fingerprint);
    assert.equal(logged?.fingerprint, cert.fingerprint256);
  });
});

describe('Malformed HTTP and metrics token', () => {
  let t: TestRelay;
  before(async () => {
    t = await startTestRelay({ tls: false, adminToken: 'test-admin-token-0123456789' });
  });
  after(() => t.close());

  it('answers a request the parser rejects with a padded JSON 400', async () => {
    const raw = await rawExchange(t.relay.port, 'GARBAGE / HTTP/1.1\r\nHost: x\r\n\r\n');
    const split = raw.indexOf('\r\n\r\n');
    const head = raw.slice(0, split);
    const body = raw.slice(split + 4);
    assert.match(head, /^HTTP\/1\.1 400 /);
    assert.equal(Buffer.byteLength(body, 'latin1'), PADDED_SIZE);
    assert.equal(JSON.parse(body).code, 'bad_request');
  });

  it('opens /metrics to a non-loopback request only with the admin token', async () => {
    const forwarded = { 'x-forwarded-for': '198.51.100.7' };
    assert.equal((await t.request('/metrics', { headers: forwarded })).status, 404);
    const wrong = await t.request('/metrics', {
      headers: { ...forwarded, 'x-admin-token': 'nope' },
    });
    assert.equal(wrong.status, 404);
    const right = await t.request('/metrics', {
      headers: { ...forwarded, 'x-admin-token': 'test-admin-token-0123456789' },
    });
    assert.equal(right.status, 200);
  });
});

describe('Per-IP connection cap', () => {
  let t: TestRelay;
  before(async () => {
    t = await startTestRelay({ tls: false, maxConnsPerIp: 3 });
  });
  after(() => t.close());

  it('destroys connections beyond the cap at accept time and frees slots on close', async () => {
    const open = async (localAddress: string): Promise<Socket> =>
      new Promise((resolve, reject) => {
        const s = netConnect({ port: t.relay.port, host: '127.0.0.1', localAddress }, () =>
          resolve(s),
        );
        s.once('error', reject);
      });
    const closedByServer = (s: Socket): Promise<boolean> =>
      new Promise((resolve) => {
        s.once('close', () => resolve(true));
        s.once('data', () => resolve(false));
        s.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n');
      });

    const held = await Promise.all([1, 2, 3].map(() => open('127.0.0.1')));
    const extra = await open('127.0.0.1');
    assert.equal(await closedByServer(extra), true, 'the 4th connection must be destroyed');
    // Another address is counted separately.
    const other = await open('127.0.0.2');
    assert.equal(await closedByServer(other), false);
    other.destroy();
    // Closing one frees a slot (once the relay has seen it close: two sockets left open).
    held[0]!.destroy();
    const openSockets = async () =>
      (await t.relay.ctx.metrics.openSockets.get()).values[0]?.value ?? 0;
    await waitFor(async () => (await openSockets()) === 2, { what: 'the relay sees the close' });
    const again = await open('127.0.0.1');
    assert.equal(await closedByServer(again), false);
    again.destroy();
    for (const s of held) s.destroy();
  });
});

describe('Blinded logs', () => {
  it('never writes a client IP into the logs', async () => {
    const t = await startTestRelay({ tls: false, logLevel: 'trace' });
    try {
      for (const path of ['/health', '/nope', '/metrics']) {
        await t.request(path, { localAddress: '127.0.0.3' });
      }
      await rawExchange(t.relay.port, 'BAD\r\n\r\n');
    } finally {
      await t.close();
    }
    assert.ok(t.logs.length > 3, 'expected request logs');
    assert.ok(
      t.logs.some((l) => /"ip":"[0-9a-f]{16}"/.test(l)),
      'requests are logged with a blinded ip',
    );
    for (const line of t.logs) assert.doesNotMatch(line, /127\.0\.0\.3/);
  });
});
