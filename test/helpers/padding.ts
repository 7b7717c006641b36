// What every body and frame the relay sends must be (docs/protocol.md §6).
import assert from 'node:assert/strict';
import { PADDED_SIZE } from '../../src/normalize/padding.js';

/** `length` is a whole number of PADDED_SIZE blocks, one at least. */
export const isPadded = (length: number): boolean => length > 0 && length % PADDED_SIZE === 0;

/** `data` (a body, a frame, or its length) fills a whole number of PADDED_SIZE blocks, one at least. */
export function assertPadded(data: { length: number }, what = 'body'): void {
  assert.ok(
    isPadded(data.length),
    `${what} of ${data.length} bytes is not padded to a multiple of ${PADDED_SIZE}`,
  );
}
