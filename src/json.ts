/** A JSON object as parsed from, or sent to, a client. */
export type Json = Record<string, unknown>;
