// Padding (PROTOCOL.md §6): every JSON document and binary frame the server sends is exactly
// PADDED_SIZE bytes, or the next multiple of it when larger.
import { randomFillSync } from 'node:crypto';

export const PADDED_SIZE = 1536;

const WHITESPACE = [0x20, 0x09, 0x0d, 0x0a]; // space, tab, CR, LF
// Random bytes are drawn in blocks and consumed 2 bits per whitespace byte, so padding a frame
// costs a slice of a shared pool, not a fresh random buffer.
const POOL_SIZE = 64 * 1024;
const pool = Buffer.allocUnsafe(POOL_SIZE);
let poolOffset = POOL_SIZE;

function randomBlock(length: number): Buffer {
  if (length > POOL_SIZE) return randomFillSync(Buffer.allocUnsafe(length));
  if (poolOffset + length > POOL_SIZE) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const block = pool.subarray(poolOffset, poolOffset + length);
  poolOffset += length;
  return block;
}

export function paddedLength(length: number): number {
  return Math.max(PADDED_SIZE, Math.ceil(length / PADDED_SIZE) * PADDED_SIZE);
}

// One random byte picks four whitespace bytes at once: 256 precomputed 4-byte words.
const QUADS = Buffer.alloc(256 * 4);
for (let byte = 0; byte < 256; byte++) {
  for (let i = 0; i < 4; i++) QUADS[byte * 4 + i] = WHITESPACE[(byte >> (i * 2)) & 3]!;
}

/** Writes CSPRNG-chosen JSON whitespace into target[start..end). */
function fillWhitespace(target: Buffer, start: number, end: number): void {
  const count = end - start;
  const random = randomBlock(Math.ceil(count / 4));
  let at = start;
  let i = 0;
  for (; at + 4 <= end; i++, at += 4) {
    const quad = random[i]! * 4;
    target[at] = QUADS[quad]!;
    target[at + 1] = QUADS[quad + 1]!;
    target[at + 2] = QUADS[quad + 2]!;
    target[at + 3] = QUADS[quad + 3]!;
  }
  if (at < end) for (let quad = random[i]! * 4; at < end; at++, quad++) target[at] = QUADS[quad]!;
}

/** Compact JSON of `value`, followed by random whitespace up to the padded length. */
export function padJson(value: unknown): Buffer {
  return padJsonText(JSON.stringify(value));
}

/** Pads an already serialised JSON text. */
export function padJsonText(json: string): Buffer {
  const length = Buffer.byteLength(json);
  const out = Buffer.allocUnsafe(paddedLength(length));
  out.write(json, 0, 'utf8');
  fillWhitespace(out, length, out.length);
  return out;
}

/** Zero-pads a binary payload. */
export function padBinary(payload: Uint8Array): Buffer {
  const out = Buffer.alloc(paddedLength(payload.length));
  out.set(payload, 0);
  return out;
}
