// What a WebSocket client is told about an error (docs/protocol.md §4.6): the `error` frame, and
// the close code when the socket is closed for it.
import { asRelayError, type ErrorCode } from '../errors.js';

/**
 * The close code for each reason a socket is closed (4xxx: the relay's own, RFC 6455 §7.4.2).
 * Not every such error closes: one refused frame (`rate_limited`, `message_too_large`) does not.
 */
export const CLOSE_CODES = {
  auth_required: 4001,
  auth_failed: 4001,
  auth_timeout: 4001,
  session_replaced: 4002,
  account_burned: 4003,
  slow_reader: 4004,
  /** A jailed socket, or too many authentication attempts. */
  rate_limited: 1008,
  /** An inbound message over ENTROPY_MAX_WS_MESSAGE_BYTES: closed by ws itself, no error frame. */
  message_too_large: 1009,
  server_shutdown: 1001,
  storage_unavailable: 1011,
} as const satisfies Partial<Record<ErrorCode, number>>;

export interface ErrorFrame {
  type: 'error';
  code: ErrorCode;
  message: string;
  retry_after?: number;
}

/** The `error` frame telling the client about a refusal; anything but a RelayError is rethrown. */
export function errorFrame(err: unknown): ErrorFrame {
  const { code, message, retryAfterS } = asRelayError(err);
  const frame: ErrorFrame = { type: 'error', code, message };
  if (retryAfterS !== undefined) frame.retry_after = retryAfterS;
  return frame;
}

/** The close code a session ends with after an error frame of this code: 1008 (policy) unless
 *  the code has its own. */
export function closeCodeFor(code: ErrorCode): number {
  return (CLOSE_CODES as Partial<Record<ErrorCode, number>>)[code] ?? 1008;
}
