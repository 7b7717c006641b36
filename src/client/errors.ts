/** An error answer of the relay, typed by its `code` (docs/protocol.md §2 error shape). */
export class RelayClientError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Seconds, from Retry-After / retry_after, when rate limited. */
    readonly retryAfter?: number,
  ) {
    super(message);
    this.name = 'RelayClientError';
  }
}
