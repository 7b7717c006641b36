// Typed errors: one class, mapped to HTTP responses (http/errors.ts) and WebSocket `error`
// frames (ws/) in one place each.

/** Every error code the relay sends (being narrowed to a union). */
export type ErrorCode = string;

export class RelayError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly retryAfterS?: number,
  ) {
    super(message);
    this.name = 'RelayError';
  }
}

export const badRequest = (code: string, message: string): RelayError =>
  new RelayError(400, code, message);
export const unauthorized = (code: string, message: string): RelayError =>
  new RelayError(401, code, message);
export const forbidden = (code: string, message: string): RelayError =>
  new RelayError(403, code, message);
export const notFound = (message = 'Not found'): RelayError =>
  new RelayError(404, 'not_found', message);
export const conflict = (code: string, message: string): RelayError =>
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

/** `err` as a RelayError; anything else (a bug, not a refusal) is rethrown. */
export function asRelayError(err: unknown): RelayError {
  if (err instanceof RelayError) return err;
  throw err;
}
