// Stateless PoW seeds (docs/protocol.md §2.1). A seed carries everything needed to verify it,
// authenticated by a truncated HMAC under the server secret, so issuing one stores nothing.
//
// Layout, 32 bytes sent as 64 lowercase hex:
//   0..3   expiry, uint32 big-endian unix seconds
//   4      difficulty
//   5      purpose (index into POW_PURPOSES)
//   6..15  random (makes every seed unique, hence a unique spent-seed record)
//   16..31 HMAC-SHA-256(secret, label ‖ bytes 0..15), truncated to 16 bytes
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const POW_PURPOSES = ['general', 'auth', 'upload', 'burn', 'random', 'nickname'] as const;
export type PowPurpose = (typeof POW_PURPOSES)[number];

export interface SeedData {
  /** Unix time in seconds from which the seed is refused. */
  expiresAt: number;
  difficulty: number;
  purpose: PowPurpose;
}

export type SeedRejection = 'malformed' | 'bad_mac' | 'expired';

const SEED_BYTES = 32;
const RANDOM_OFFSET = 6;
const MAC_OFFSET = 16;
export const SEED_HEX = /^[0-9a-f]{64}$/;
// Session tokens are keyed by the same secret: the label keeps the two MAC domains apart.
const MAC_LABEL = 'entropy-relay pow seed v1\0';

function seedMac(secret: string, body: Uint8Array): Buffer {
  return createHmac('sha256', secret)
    .update(MAC_LABEL)
    .update(body)
    .digest()
    .subarray(0, SEED_BYTES - MAC_OFFSET);
}

export function encodeSeed(data: SeedData, secret: string): string {
  if (!Number.isInteger(data.expiresAt) || data.expiresAt < 0 || data.expiresAt > 0xffffffff) {
    throw new RangeError('expiresAt must be unix seconds fitting in a uint32');
  }
  if (!Number.isInteger(data.difficulty) || data.difficulty < 0 || data.difficulty > 0xff) {
    throw new RangeError('difficulty must fit in a byte');
  }
  const seed = Buffer.alloc(SEED_BYTES);
  seed.writeUInt32BE(data.expiresAt, 0);
  seed[4] = data.difficulty;
  seed[5] = POW_PURPOSES.indexOf(data.purpose);
  randomBytes(MAC_OFFSET - RANDOM_OFFSET).copy(seed, RANDOM_OFFSET);
  seedMac(secret, seed.subarray(0, MAC_OFFSET)).copy(seed, MAC_OFFSET);
  return seed.toString('hex');
}

/** The seed's issue data, or why it is refused. `nowMs` is milliseconds since the epoch. */
export function decodeSeed(hex: string, secret: string, nowMs: number): SeedData | SeedRejection {
  // Lower case only: a seed is spent under its text, so each seed must have one spelling.
  if (!SEED_HEX.test(hex)) return 'malformed';
  const seed = Buffer.from(hex, 'hex');
  const expected = seedMac(secret, seed.subarray(0, MAC_OFFSET));
  if (!timingSafeEqual(expected, seed.subarray(MAC_OFFSET))) return 'bad_mac';
  const purpose = POW_PURPOSES[seed[5]!];
  if (purpose === undefined) return 'malformed';
  const expiresAt = seed.readUInt32BE(0);
  if (nowMs >= expiresAt * 1000) return 'expired';
  return { expiresAt, difficulty: seed[4]!, purpose };
}
