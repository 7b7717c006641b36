// Every reply padded, with the security headers (docs/protocol.md §2, §6, §9), including the
// answers that Node's HTTP server and the ws library would otherwise write themselves: requests
// without Host, parser errors, refused WebSocket upgrades. Each such connection is then closed.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import {
  assertPaddedError,
  exchange,
  parseResponse,
  type RawResponse,
} from './helpers/raw-http.js';
import { startTestRelay, type TestRelay } from './helpers/relay.js';
import { within } from './helpers/wait.js';

const DEADLINE_MS = 10_000;
const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

/** A WebSocket upgrade request; `headers` replace (or, when undefined, remove) the defaults. */
function upgrade(
  headers: Record<string, string | undefined> = {},
  requestLine = 'GET /ws HTTP/1.1',
): string {
  const all: Record<string, string | undefined> = {
    Host: 'localhost',
    Connection: 'Upgrade',
    Upgrade: 'websocket',
    'Sec-WebSocket-Key': KEY,
    'Sec-WebSocket-Version': '13',
    ...headers,
  };
  const lines = Object.entries(all).filter(([, value]) => value !== undefined);
  return `${requestLine}\r\n${lines.map(([name, value]) => `${name}: ${value}\r\n`).join('')}\r\n`;
}

/** [what, raw request, status, code, a header the answer must carry] */
const REFUSALS: Array<[string, string, number, string, [string, string]?]> = [
  ['HTTP/1.1 request without Host', 'GET /health HTTP/1.1\r\n\r\n', 400, 'bad_request'],
  ['malformed request line', 'GARBAGE / HTTP/1.1\r\nHost: x\r\n\r\n', 400, 'bad_request'],
  [
    'request head too large',
    `GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
    431,
    'headers_too_large',
  ],
  [
    'malformed URL',
    'GET /%zz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    400,
    'bad_request',
  ],
  [
    'upgrade with POST',
    upgrade({}, 'POST /ws HTTP/1.1'),
    405,
    'method_not_allowed',
    ['allow', 'GET'],
  ],
  ['upgrade without Host', upgrade({ Host: undefined }), 400, 'bad_request'],
  ['upgrade to another protocol', upgrade({ Upgrade: 'h2c' }), 400, 'bad_request'],
  [
    'upgrade without Sec-WebSocket-Key',
    upgrade({ 'Sec-WebSocket-Key': undefined }),
    400,
    'bad_request',
  ],
  [
    'Sec-WebSocket-Key of 15 bytes',
    upgrade({ 'Sec-WebSocket-Key': 'AAAAAAAAAAAAAAAAAAAA' }),
    400,
    'bad_request',
  ],
  [
    'Sec-WebSocket-Version 8',
    upgrade({ 'Sec-WebSocket-Version': '8' }),
    426,
    'upgrade_required',
    ['sec-websocket-version', '13'],
  ],
  [
    'upgrade without Sec-WebSocket-Version',
    upgrade({ 'Sec-WebSocket-Version': undefined }),
    426,
    'upgrade_required',
    ['sec-websocket-version', '13'],
  ],
  [
    'malformed Sec-WebSocket-Protocol',
    upgrade({ 'Sec-WebSocket-Protocol': 'chat,,x' }),
    400,
    'bad_request',
  ],
  [
    'duplicated Sec-WebSocket-Protocol',
    upgrade({ 'Sec-WebSocket-Protocol': 'chat, chat' }),
    400,
    'bad_request',
  ],
  ['upgrade on another path', upgrade({}, 'GET /health HTTP/1.1'), 404, 'not_found'],
  [
    'CONNECT (Node would drop it without a word)',
    'CONNECT localhost:443 HTTP/1.1\r\nHost: localhost\r\n\r\n',
    405,
    'method_not_allowed',
    ['allow', 'GET, POST, OPTIONS'],
  ],
];

for (const tls of [true, false]) {
  describe(`raw replies (${tls ? 'TLS' : 'plain'})`, () => {
    let t: TestRelay;
    before(async () => {
      t = await startTestRelay({ tls });
    });
    after(() => t.close());

    /** The answer to `request`, which the server must follow by closing the connection. */
    const answer = async (request: string): Promise<RawResponse> =>
      parseResponse(await within(exchange(t.relay, request), DEADLINE_MS, 'closed by the server'));

    for (const [what, request, status, code, header] of REFUSALS) {
      it(`${what}: ${status} ${code}, padded, then closed`, async () => {
        const res = await answer(request);
        assert.equal(assertPaddedError(res, status, tls), code);
        if (header) assert.equal(res.headers[header[0]], header[1]);
      });
    }

    it('serves a request with an unknown Expect as if it were absent (no bare 417)', async () => {
      const res = await answer(
        'GET /health HTTP/1.1\r\nHost: x\r\nExpect: something\r\nConnection: close\r\n\r\n',
      );
      assert.equal(res.status, 200);
      assert.equal(res.body.length, 1536);
      assert.equal(JSON.parse(res.body.toString('utf8')).status, 'healthy');
    });

    it('still accepts a valid upgrade offering a subprotocol', async () => {
      const url = t.relay.url.replace(/^http/, 'ws') + '/ws';
      const ws = new WebSocket(url, ['chat', 'v2'], { ca: t.relay.tls?.cert });
      await within(
        new Promise((resolve, reject) => {
          ws.once('open', resolve);
          ws.once('error', reject);
        }),
        DEADLINE_MS,
        'open',
      );
      assert.equal(ws.protocol, 'chat');
      ws.close();
    });
  });

  it(`refuses upgrades with a padded 503 server_shutdown while closing (${tls ? 'TLS' : 'plain'})`, async () => {
    const t = await startTestRelay({ tls });
    try {
      await t.relay.ws.close();
      const raw = await within(exchange(t.relay, upgrade()), DEADLINE_MS, 'closed by the server');
      assert.equal(assertPaddedError(parseResponse(raw), 503, tls), 'server_shutdown');
    } finally {
      await t.close();
    }
  });
}
