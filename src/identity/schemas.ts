// JSON schemas of identity material as the REST API carries it (docs/protocol.md §2): identity
// hashes, base64 keys and signatures. Their patterns are the ones the checks use, so a schema says
// exactly what is accepted.
import Type, { type TStringOptions } from 'typebox';
import { IDENTITY_HASH_RE } from './crypto.js';

// An example identity, consistent across the document: the hash is hex(SHA-256(the key)).
export const EXAMPLE = {
  identityHash: 'b157fd61d95cab317bb55fdf2cdfb9a904d22504e73ec32dc2a4d87403242903',
  identityKey: '4eJI2AwgZuy5wJCYP+U+rP3/PvjgJJPbk9/ARl/lvYk=',
  x25519Key: 'tZGEt+F8/3Ezu9MApiFPf46BMfC+pRgXLiTllcR/Uww=',
  signature:
    'mC0oQl8F3v+Sw2YQsIplhSvQt0jRXM+fS8sXMdrDQuPGUV6u4Z4zLJ/36IjpFFuB1a3rEh7bOQV8BARrBhvlCw==',
} as const;

const CHAR = '[A-Za-z0-9+/]';
// What may follow the full 4-character groups, by the number of bytes it carries.
const TAILS = ['', `${CHAR}{2}==`, `${CHAR}{3}=`];

/**
 * A pattern for standard padded base64 of `minBytes`..`maxBytes` bytes: exactly the strings
 * decodeBase64 (identity/crypto.ts) decodes to that many bytes.
 */
export function base64Pattern(minBytes: number, maxBytes: number): string {
  const alternatives = TAILS.flatMap((tail, tailBytes) => {
    const least = Math.max(0, Math.ceil((minBytes - tailBytes) / 3));
    const most = Math.floor((maxBytes - tailBytes) / 3);
    if (least > most) return [];
    return [`(?:${CHAR}{4}){${least === most ? least : `${least},${most}`}}${tail}`];
  });
  return `^(?:${alternatives.join('|')})$`;
}

/** Standard padded base64 of `minBytes`..`maxBytes` bytes. */
export function base64(minBytes: number, maxBytes: number, options: TStringOptions = {}) {
  return Type.String({
    pattern: base64Pattern(minBytes, maxBytes),
    contentEncoding: 'base64',
    ...options,
  });
}

export function identityHash(options: TStringOptions = {}) {
  return Type.String({
    pattern: IDENTITY_HASH_RE.source,
    description: 'hex(SHA-256(raw Ed25519 identity key)): 64 hex characters, any case',
    examples: [EXAMPLE.identityHash],
    ...options,
  });
}

export function identityKey(options: TStringOptions = {}) {
  return base64(32, 32, {
    description:
      'The raw 32-byte Ed25519 identity public key, base64; it must hash to identity_hash',
    examples: [EXAMPLE.identityKey],
    ...options,
  });
}

export function x25519Key(options: TStringOptions = {}) {
  return base64(32, 32, {
    description: 'A raw 32-byte X25519 public key, base64',
    examples: [EXAMPLE.x25519Key],
    ...options,
  });
}

export function signature(options: TStringOptions = {}) {
  return base64(64, 64, {
    description: 'A 64-byte Ed25519 signature by the identity key, base64',
    examples: [EXAMPLE.signature],
    ...options,
  });
}
