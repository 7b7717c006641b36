// What an HTTP client is told about an error, decided here for every listener: relay errors,
// Fastify's own errors and those of Node's HTTP parser. Anything else is a 500 `internal_error`
// whose cause is logged, never sent.
import type { FastifyReply } from 'fastify';
import { RelayError, type ErrorCode } from '../errors.js';

export interface ErrorBody {
  error: string;
  code: ErrorCode;
  retry_after?: number;
}

export interface ErrorResponse {
  status: number;
  body: ErrorBody;
  /** Retry-After, when the client is told to wait. */
  headers: Record<string, string>;
}

const response = (status: number, code: ErrorCode, error: string): ErrorResponse => ({
  status,
  body: { error, code },
  headers: {},
});

/** Errors of Node's HTTP parser worth an answer; undefined for anything else (TLS, sockets). */
export function parserErrorResponse(code: string | undefined): ErrorResponse | undefined {
  if (code === 'HPE_HEADER_OVERFLOW')
    return response(431, 'headers_too_large', 'Request headers too large');
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT')
    return response(408, 'request_timeout', 'Request head not received in time');
  if (code?.startsWith('HPE_')) return response(400, 'bad_request', 'Malformed HTTP request');
  return undefined;
}

function fastifyErrorResponse(code: unknown, status: unknown): ErrorResponse | undefined {
  if (code === 'FST_ERR_CTP_BODY_TOO_LARGE')
    return response(413, 'payload_too_large', 'Request body too large');
  if (code === 'FST_ERR_CTP_INVALID_CONTENT_LENGTH')
    return response(400, 'bad_request', 'Invalid Content-Length');
  if (typeof status === 'number' && status >= 400 && status < 500)
    return response(status, 'bad_request', 'Bad request');
  return undefined;
}

/** Maps any error to the status, body and headers the client sees. */
export function errorResponse(err: unknown): ErrorResponse {
  if (err instanceof RelayError) {
    const { status, body, headers } = response(err.status, err.code, err.message);
    if (err.retryAfterS !== undefined) {
      body.retry_after = err.retryAfterS;
      headers['Retry-After'] = String(err.retryAfterS);
    }
    return { status, body, headers };
  }
  const { code, statusCode } =
    typeof err === 'object' && err !== null
      ? (err as { code?: unknown; statusCode?: unknown })
      : {};
  return (
    (typeof code === 'string' ? parserErrorResponse(code) : undefined) ??
    fastifyErrorResponse(code, statusCode) ??
    response(500, 'internal_error', 'Internal server error')
  );
}

/** Answers `err` on a Fastify reply (padded by the app's onSend hook). */
export function sendError(reply: FastifyReply, err: unknown): FastifyReply {
  const { status, body, headers } = errorResponse(err);
  return reply.code(status).headers(headers).type('application/json; charset=utf-8').send(body);
}
