// How the WebSocket transport answers an error (PROTOCOL.md §4.6): one `error` frame shape, and
// the close code of each error that ends a session.
import type { ErrorCode, RelayError } from '../errors.js';
import type { Json } from '../json.js';

/** `{"type":"error","code","message","retry_after"?}` for a refusal. */
export function errorFrame(err: RelayError): Json {
  const frame: Json = { type: 'error', code: err.code, message: err.message };
  if (err.retryAfterS !== undefined) frame.retry_after = err.retryAfterS;
  return frame;
}

const CLOSE_CODES: Partial<Record<ErrorCode, number>> = {
  auth_required: 4001,
  auth_failed: 4001,
  auth_timeout: 4001,
  session_replaced: 4002,
  account_burned: 4003,
  slow_reader: 4004,
  server_shutdown: 1001,
  storage_unavailable: 1011,
};

/** The close code a session ends with after an error frame of this code: 1008 (policy) unless
 *  the code has its own. */
export function closeCodeFor(code: ErrorCode): number {
  return CLOSE_CODES[code] ?? 1008;
}
