// Padding (docs/protocol.md §6): every JSON document and binary frame the server sends is exactly
// PADDED_SIZE bytes, or the next multiple of it when larger. JSON is padded with whitespace
// drawn from a CSPRNG (fresh for every frame), binary payloads with zero bytes.
//
// The *Frame variants return the padded payload as a complete WebSocket frame (RFC 6455 §5.2:
// final, unmasked as a server sends it, text for JSON and binary for binary), built in one
// buffer, so a socket can write it in one write (over TLS: one record).
import { randomFillSync } from 'node:crypto';

export const PADDED_SIZE = 1536;

const WHITESPACE = [0x20, 0x09, 0x0d, 0x0a]; // space, tab, CR, LF
// Random bytes are drawn in blocks and consumed 2 bits per whitespace byte, so padding a frame
// costs a slice of a shared pool, not a fresh random buffer. Every byte of the pool is used once.
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

// One random byte picks four whitespace bytes at once: 256 precomputed 4-byte words (as bytes,
// and as native 32-bit words to store four at once).
const QUADS = Buffer.alloc(256 * 4);
for (let byte = 0; byte < 256; byte++) {
  for (let i = 0; i < 4; i++) QUADS[byte * 4 + i] = WHITESPACE[(byte >> (i * 2)) & 3]!;
}
const QUAD_WORDS = new Uint32Array(QUADS.buffer, QUADS.byteOffset, 256);

/** Writes CSPRNG-chosen JSON whitespace into target[start..end). */
function fillWhitespace(target: Buffer, start: number, end: number): void {
  // A byte for the head, one per word, one for the tail.
  const random = randomBlock(((end - start) >> 2) + 2);
  let at = start;
  let i = 0;
  // Single bytes up to a 4-byte boundary of the memory, then whole words, then the tail.
  const misaligned = (target.byteOffset + at) & 3;
  if (misaligned !== 0) {
    const quad = random[i++]! * 4;
    for (let k = 0; k < 4 - misaligned && at < end; k++) target[at++] = QUADS[quad + k]!;
  }
  const words = (end - at) >> 2;
  if (words > 0) {
    const view = new Uint32Array(target.buffer, target.byteOffset + at, words);
    for (let w = 0; w < words; w++) view[w] = QUAD_WORDS[random[i++]!]!;
    at += words * 4;
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

// --- As WebSocket frames --------------------------------------------------------------------

const zeroFill = Uint8Array.prototype.fill;
const FIN_TEXT = 0x81;
const FIN_BINARY = 0x82;

/** Length of the header of an unmasked frame with `length` payload bytes. */
export function frameHeaderLength(length: number): number {
  return length < 126 ? 2 : length < 65536 ? 4 : 10;
}

/** A buffer for a frame of `length` payload bytes, its header written; the payload is left to
 *  the caller, from the returned header length on. */
function allocFrame(length: number, opcode: number): { frame: Buffer; header: number } {
  const header = frameHeaderLength(length);
  const frame = Buffer.allocUnsafe(header + length);
  frame[0] = opcode;
  if (header === 2) {
    frame[1] = length;
  } else if (header === 4) {
    frame[1] = 126;
    frame[2] = length >>> 8;
    frame[3] = length & 0xff;
  } else {
    frame[1] = 127;
    frame.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    frame.writeUInt32BE(length >>> 0, 6);
  }
  return { frame, header };
}

/** padJson() as a WebSocket text frame. */
export function padJsonFrame(value: unknown): Buffer {
  return padJsonTextFrame(JSON.stringify(value));
}

/** padJsonText() as a WebSocket text frame. */
export function padJsonTextFrame(json: string): Buffer {
  // Up to 3 bytes per UTF-16 unit: a short text fits the smallest size without counting first.
  const padded =
    json.length * 3 <= PADDED_SIZE ? PADDED_SIZE : paddedLength(Buffer.byteLength(json));
  const { frame, header } = allocFrame(padded, FIN_TEXT);
  const length = frame.write(json, header, 'utf8');
  fillWhitespace(frame, header + length, frame.length);
  return frame;
}

/** The UTF-8 bytes of a fixed JSON document, padded afresh (new random whitespace) each time by
 *  fixedJsonFrame(). */
export function fixedJson(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), 'utf8');
}

/** A fixed JSON document (fixedJson) as a padded WebSocket text frame, its padding fresh. */
export function fixedJsonFrame(json: Buffer): Buffer {
  const { frame, header } = allocFrame(paddedLength(json.length), FIN_TEXT);
  json.copy(frame, header);
  fillWhitespace(frame, header + json.length, frame.length);
  return frame;
}

/** padBinary() as a WebSocket binary frame. */
export function padBinaryFrame(payload: Uint8Array): Buffer {
  const { frame, header } = allocFrame(paddedLength(payload.length), FIN_BINARY);
  frame.set(payload, header);
  // The typed-array fill: Buffer's own validates its arguments at some cost per frame.
  zeroFill.call(frame, 0, header + payload.length);
  return frame;
}
