// Errors to replies: the one HTTP mapping (http/error-reply.ts) and the one WebSocket mapping
// (ws/error-frame.ts), down to the exact status, body bytes and frame.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ERROR_CODES,
  RelayError,
  StoreUnavailableError,
  asRelayError,
  badRequest,
  rateLimited,
} from '../src/errors.js';
import { errorResponse, parserErrorResponse } from '../src/http/error-reply.js';
import { paddedError } from '../src/http/raw-reply.js';
import { PADDED_SIZE } from '../src/normalize/padding.js';
import { errorFrame } from '../src/ws/error-frame.js';

/** Errors that are faults, not refusals: none of them may reach a client as such. */
const FAULTS: unknown[] = [
  new Error('secret detail'),
  new TypeError('x is undefined'),
  Object.assign(new Error('boom'), { code: 'ECONNRESET' }),
  'a thrown string',
  undefined,
  null,
];

const NODE_ERROR = (code: string) => Object.assign(new Error('parser'), { code });

describe('error codes', () => {
  it('are distinct snake_case names', () => {
    assert.equal(new Set(ERROR_CODES).size, ERROR_CODES.length);
    for (const code of ERROR_CODES) assert.match(code, /^[a-z]+(_[a-z]+)*$/);
  });

  it('asRelayError returns a RelayError and rethrows anything else as it is', () => {
    const refusal = badRequest('invalid_json', 'Body must be JSON');
    assert.equal(asRelayError(refusal), refusal);
    const store = new StoreUnavailableError();
    assert.equal(asRelayError(store), store);
    for (const fault of FAULTS) {
      assert.throws(
        () => asRelayError(fault),
        (thrown: unknown) => thrown === fault,
      );
    }
  });
});

describe('HTTP error replies', () => {
  it('a RelayError keeps its status, code and message, in that body order', () => {
    const { status, body, headers } = errorResponse(
      badRequest('invalid_json', 'Body must be JSON'),
    );
    assert.equal(status, 400);
    assert.equal(JSON.stringify(body), '{"error":"Body must be JSON","code":"invalid_json"}');
    assert.deepEqual(headers, {});
  });

  it('a rate limit carries retry_after in the body and Retry-After in the headers', () => {
    const { status, body, headers } = errorResponse(rateLimited(7));
    assert.equal(status, 429);
    assert.equal(
      JSON.stringify(body),
      '{"error":"Too many requests","code":"rate_limited","retry_after":7}',
    );
    assert.deepEqual(headers, { 'Retry-After': '7' });
  });

  it('the store being away is 503 storage_unavailable', () => {
    const { status, body } = errorResponse(new StoreUnavailableError(new Error('ECONNREFUSED')));
    assert.equal(status, 503);
    assert.deepEqual(body, {
      error: 'Storage is temporarily unavailable',
      code: 'storage_unavailable',
    });
  });

  it("maps Fastify's errors", () => {
    const tooLarge = { code: 'FST_ERR_CTP_BODY_TOO_LARGE', statusCode: 413 };
    assert.deepEqual(errorResponse(tooLarge), {
      status: 413,
      body: { error: 'Request body too large', code: 'payload_too_large' },
      headers: {},
    });
    const badLength = { code: 'FST_ERR_CTP_INVALID_CONTENT_LENGTH', statusCode: 400 };
    assert.deepEqual(errorResponse(badLength).body, {
      error: 'Invalid Content-Length',
      code: 'bad_request',
    });
    const other4xx = { code: 'FST_ERR_SOMETHING', statusCode: 415 };
    assert.deepEqual(errorResponse(other4xx), {
      status: 415,
      body: { error: 'Bad request', code: 'bad_request' },
      headers: {},
    });
  });

  it("maps the HTTP parser's errors, and answers none of TLS or socket errors", () => {
    const cases: Array<[string, number, string]> = [
      ['HPE_HEADER_OVERFLOW', 431, 'headers_too_large'],
      ['ERR_HTTP_REQUEST_TIMEOUT', 408, 'request_timeout'],
      ['HPE_INVALID_METHOD', 400, 'bad_request'],
    ];
    for (const [code, status, answer] of cases) {
      const response = errorResponse(NODE_ERROR(code));
      assert.equal(response.status, status, code);
      assert.equal(response.body.code, answer, code);
      assert.deepEqual(parserErrorResponse(code), response, code);
    }
    for (const code of ['ECONNRESET', 'ERR_SSL_WRONG_VERSION_NUMBER', 'ERR_TLS_HANDSHAKE_TIMEOUT'])
      assert.equal(parserErrorResponse(code), undefined, code);
  });

  it('anything else is 500 internal_error, its message never sent', () => {
    for (const fault of FAULTS) {
      assert.deepEqual(errorResponse(fault), {
        status: 500,
        body: { error: 'Internal server error', code: 'internal_error' },
        headers: {},
      });
    }
    // A 5xx status on a non-RelayError is no reason to show it either.
    const upstream = Object.assign(new Error('db password wrong'), { statusCode: 502 });
    assert.equal(errorResponse(upstream).body.code, 'internal_error');
  });

  it('answers outside Fastify are the same reply, padded, with the security headers', () => {
    const refused = paddedError(rateLimited(3), true, { Connection: 'close' });
    assert.equal(refused.status, 429);
    assert.equal(refused.body.length, PADDED_SIZE);
    assert.deepEqual(JSON.parse(refused.body.toString('utf8')), {
      error: 'Too many requests',
      code: 'rate_limited',
      retry_after: 3,
    });
    assert.equal(refused.headers['Retry-After'], '3');
    assert.equal(refused.headers.Connection, 'close');
    assert.equal(refused.headers['Content-Length'], String(PADDED_SIZE));
    assert.ok(refused.headers['Strict-Transport-Security'], 'security headers present');
    const fault = paddedError(new Error('secret detail'), false);
    assert.equal(fault.status, 500);
    assert.ok(!fault.body.toString('utf8').includes('secret'));
  });
});

describe('WebSocket error frames', () => {
  it('a RelayError becomes an error frame, retry_after only when given', () => {
    const limited = errorFrame(rateLimited(12));
    assert.equal(
      JSON.stringify(limited),
      '{"type":"error","code":"rate_limited","message":"Too many requests","retry_after":12}',
    );
    const refused = errorFrame(new RelayError(401, 'auth_failed', 'Bad signature'));
    assert.equal(
      JSON.stringify(refused),
      '{"type":"error","code":"auth_failed","message":"Bad signature"}',
    );
  });

  it('anything that is not a RelayError is rethrown, not turned into a frame', () => {
    for (const fault of FAULTS) {
      assert.throws(
        () => errorFrame(fault),
        (thrown: unknown) => thrown === fault,
      );
    }
  });
});
