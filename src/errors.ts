// Typed errors: one class, mapped to HTTP responses (http/error-reply.ts) and WebSocket `error`
// frames (ws/error-frame.ts) in one place each.

/** Every code the relay sends: in HTTP error bodies, WebSocket `error` frames and close reasons. */
export const ERROR_CODES = [
  // Requests and frames
  'bad_request',
  'invalid_json',
  'invalid_request',
  'invalid_message',
  'not_found',
  'method_not_allowed',
  'payload_too_large',
  'message_too_large',
  'headers_too_large',
  'request_timeout',
  'upgrade_required',
  // Identities, keys and proofs
  'invalid_identity_hash',
  'invalid_key',
  'identity_mismatch',
  'signature_missing',
  'invalid_signature',
  'invalid_bundle',
  'too_many_hashes',
  'pow_invalid',
  // Nicknames
  'invalid_nickname',
  'nickname_taken',
  'too_many_names',
  // WebSocket sessions
  'auth_required',
  'auth_failed',
  'auth_timeout',
  'already_authenticated',
  'alias_limit',
  'alias_taken',
  'session_replaced',
  'account_burned',
  'slow_reader',
  // Limits and the server
  'rate_limited',
  'storage_unavailable',
  'server_shutdown',
  'internal_error',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export class RelayError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string,
    readonly retryAfterS?: number,
  ) {
    super(message);
    this.name = 'RelayError';
  }
}

/** `err` as a RelayError, a refusal to report; anything else is a fault and is rethrown. */
export function asRelayError(err: unknown): RelayError {
  if (err instanceof RelayError) return err;
  throw err;
}

export const badRequest = (code: ErrorCode, message: string): RelayError =>
  new RelayError(400, code, message);
export const unauthorized = (code: ErrorCode, message: string): RelayError =>
  new RelayError(401, code, message);
export const forbidden = (code: ErrorCode, message: string): RelayError =>
  new RelayError(403, code, message);
export const notFound = (message = 'Not found'): RelayError =>
  new RelayError(404, 'not_found', message);
export const conflict = (code: ErrorCode, message: string): RelayError =>
  new RelayError(409, code, message);
export const rateLimited = (retryAfterS: number): RelayError =>
  new RelayError(429, 'rate_limited', 'Too many requests', retryAfterS);

/** The store could not be reached; callers answer 503 / `storage_unavailable`. */
export class StoreUnavailableError extends RelayError {
  constructor(cause?: unknown) {
    super(503, 'storage_unavailable', 'Storage is temporarily unavailable');
    if (cause !== undefined) this.cause = cause;
  }
}

/** Returns when `err` is a StoreUnavailableError (the caller answers the outage); rethrows
 *  anything else, a fault. */
export function rethrowUnlessUnavailable(err: unknown): void {
  if (!(err instanceof StoreUnavailableError)) throw err;
}
