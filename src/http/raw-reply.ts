// Answers written straight on a socket, where no HTTP response object exists: requests the HTTP
// parser rejected or timed out, refused WebSocket upgrades. Like every other reply they are padded
// JSON with the security headers (docs/protocol.md §2, §6); then the socket is closed for good.
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { padJson } from '../normalize/padding.js';
import { errorResponse, parserErrorResponse } from './error-reply.js';
import { securityHeaders } from './headers.js';

/** How long a reader that does not take the answer keeps its socket. */
const LINGER_MS = 2000;

export interface PaddedError {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** Status, headers and padded body of an error answer given outside Fastify. */
export function paddedError(
  err: unknown,
  tls: boolean,
  extraHeaders: Record<string, string> = {},
): PaddedError {
  const answer = errorResponse(err);
  const body = padJson(answer.body);
  const headers = {
    ...securityHeaders(tls),
    ...answer.headers,
    ...extraHeaders,
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': String(body.length),
  };
  return { status: answer.status, headers, body };
}

/** Writes the answer, ends the socket and destroys it once written, or after LINGER_MS at most. */
export function replyAndDestroy(
  socket: Duplex,
  err: unknown,
  tls: boolean,
  extraHeaders: Record<string, string> = {},
): void {
  // The HTTP server no longer watches this socket: a late error must not go unhandled.
  socket.on('error', () => socket.destroy());
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const { status, headers, body } = paddedError(err, tls, { ...extraHeaders, Connection: 'close' });
  const head =
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n` +
    Object.entries(headers)
      .map(([name, value]) => `${name}: ${value}\r\n`)
      .join('') +
    '\r\n';
  const timer = setTimeout(() => socket.destroy(), LINGER_MS).unref();
  socket.once('close', () => clearTimeout(timer));
  socket.once('finish', () => socket.destroy());
  socket.end(Buffer.concat([Buffer.from(head, 'latin1'), body]));
}

/**
 * Handler for a server's 'clientError' (Node emits TLS errors there too): answers what can be
 * answered, and always destroys the socket, so nothing is left half-open.
 */
export function clientErrorHandler(tls: boolean) {
  return (err: NodeJS.ErrnoException, socket: Duplex): void => {
    // TLS failures (handshake timeout included) and socket errors: no HTTP conversation to answer.
    const answerable = parserErrorResponse(err.code) !== undefined;
    // As Node does: never write into a response that has already started.
    const started = (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage
      ?.headersSent;
    if (!answerable || started === true) socket.destroy();
    else replyAndDestroy(socket, err, tls);
  };
}
