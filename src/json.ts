/** A JSON object as parsed from the wire or about to be written: fields are checked before use. */
export type Json = Record<string, unknown>;
