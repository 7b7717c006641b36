// What every body and frame the relay sends must be (docs/protocol.md §6).
import assert from 'node:assert/strict';
import { PADDED_SIZE } from '../../src/normalize/padding.js';

/** `data` (a body, a frame, or its length) fills a whole number of PADDED_SIZE blocks, one at least. */
export function assertPadded(data: { length: number }, what = 'body'): void {
  assert.ok(
    data.length > 0 && data.length % PADDED_SIZE === 0,
    `${what} of ${data.length} bytes is not padded to a multiple of ${PADDED_SIZE}`,
  );
}
