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

/** Writes CSPRNG-chosen JSON whitespace into target[start..end). */
function fillWhitespace(target: Buffer, start: number, end: number): void {
  const count = end - start;
  const random = randomBlock(Math.ceil(count / 4));
  for (let i = 0; i < count; i++) {
    const byte = random[i >> 2]!;
    target[start + i] = WHITESPACE[(byte >> ((i & 3) * 2)) & 3]!;
  }
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
