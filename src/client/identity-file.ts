// An identity on disk: JSON with the Ed25519 private key (PKCS#8 PEM) and its identity hash,
// written owner-only. The hash is re-derived on load, so a file whose hash and key disagree is refused.
import { createHash, createPrivateKey, createPublicKey } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import type { Identity } from './identity.js';

export interface IdentityFile {
  identity_hash: string;
  /** PKCS#8 PEM. */
  private_key: string;
}

export function identityToJson(identity: Identity): IdentityFile {
  return {
    identity_hash: identity.identityHash,
    private_key: identity.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
  };
}

export function identityFromJson(json: unknown): Identity {
  const file = json as Partial<IdentityFile> | null;
  if (typeof file?.private_key !== 'string') throw new Error('Identity file has no private_key');
  const privateKey = createPrivateKey(file.private_key);
  if (privateKey.asymmetricKeyType !== 'ed25519')
    throw new Error('Identity file: private_key is not an Ed25519 key');
  const publicKey = createPublicKey(privateKey)
    .export({ format: 'der', type: 'spki' })
    .subarray(-32);
  const identityHash = createHash('sha256').update(publicKey).digest('hex');
  if (file.identity_hash !== undefined && file.identity_hash.toLowerCase() !== identityHash)
    throw new Error('Identity file: identity_hash does not match the private key');
  return { identityHash, publicKey, privateKey };
}

/** Writes `identity` to a new file readable by its owner only; never overwrites a key. */
export async function saveIdentity(file: string, identity: Identity): Promise<void> {
  const text = JSON.stringify(identityToJson(identity), null, 2) + '\n';
  await writeFile(file, text, { mode: 0o600, flag: 'wx' });
}

export async function loadIdentity(file: string): Promise<Identity> {
  return identityFromJson(JSON.parse(await readFile(file, 'utf8')));
}
