// Key bundles (docs/protocol.md §2.3–§2.5): upload with the exact check order, fetch consuming one
// one-time prekey atomically, random identity hashes for decoy traffic.
import Type from 'typebox';
import type { Config } from '../config.js';
import { badRequest, notFound } from '../errors.js';
import { parseIdentityHash } from '../identity/crypto.js';
import { keyOfIdentity } from '../identity/proof.js';
import { identityHash } from '../identity/schemas.js';
import type { PowProof, PowService } from '../pow/pow-service.js';
import { compileCheck } from '../schema-check.js';
import type { Store } from '../store/store.js';
import { DAY_MS } from '../time.js';
import {
  checkBundleSignatures,
  parseBundleShape,
  type FetchedBundle,
  type PreKey,
  type PublicBundle,
} from './bundle.js';

export const MAX_FETCH = 10;

/** The identities one fetch names (docs/protocol.md §2.4). */
export const FetchList = Type.Array(
  identityHash({ errorMessage: 'user must be 64 hex characters' }),
  {
    minItems: 1,
    maxItems: MAX_FETCH,
    description: `1 to ${MAX_FETCH} identity hashes, comma-separated or repeated`,
    errorMessage: {
      minItems: 'user is required',
      maxItems: `At most ${MAX_FETCH} hashes per fetch`,
    },
  },
);
const checkFetchList = compileCheck(FetchList);

export class KeysService {
  constructor(
    private readonly store: Store,
    private readonly pow: PowService,
    private readonly config: Config,
  ) {}

  /** `body` is the parsed JSON object (step 1 of §2.3 is the transport's). */
  async upload(
    body: Record<string, unknown>,
    proof: PowProof,
  ): Promise<{ status: 'success'; prekeys: number }> {
    const identityHash = parseIdentityHash(body.identity_hash);
    await this.pow.verify(proof.seed, proof.nonce, { purpose: 'upload', context: identityHash });
    const identityKey = keyOfIdentity(identityHash, body.identityKey);
    const { bundle, preKeys } = parseBundleShape(body, identityHash);
    checkBundleSignatures(body, identityKey, bundle.signedPreKey);
    const stored = await this.store.putBundle(
      identityHash,
      JSON.stringify(bundle),
      preKeys.map((p) => JSON.stringify(p)),
      this.config.bundleTtlDays * DAY_MS,
    );
    return { status: 'success', prekeys: stored };
  }

  /** One bundle per found identity, each with one one-time prekey consumed. */
  async fetch(hashes: string[]): Promise<Map<string, FetchedBundle>> {
    const failure = checkFetchList(hashes);
    if (failure !== null) {
      const code = failure.keyword === 'maxItems' ? 'too_many_hashes' : 'invalid_identity_hash';
      throw badRequest(code, failure.message);
    }
    const wanted = [...new Set(hashes.map((h) => h.toLowerCase()))];
    const found = new Map<string, FetchedBundle>();
    await Promise.all(
      wanted.map(async (hash) => {
        const stored = await this.store.fetchBundle(hash);
        if (stored === null) return;
        const bundle = JSON.parse(stored.bundle) as PublicBundle;
        found.set(hash, {
          ...bundle,
          preKeys: stored.prekey === null ? [] : [JSON.parse(stored.prekey) as PreKey],
        });
      }),
    );
    return found;
  }

  async fetchOne(hash: string): Promise<FetchedBundle> {
    const bundle = (await this.fetch([hash])).get(hash.toLowerCase());
    if (bundle === undefined) throw notFound('No bundle for this identity');
    return bundle;
  }

  async random(count: number, proof: PowProof): Promise<{ hashes: string[] }> {
    await this.pow.verify(proof.seed, proof.nonce, { purpose: 'random', context: '' });
    const clamped = Math.min(
      MAX_FETCH,
      Math.max(1, Number.isFinite(count) ? Math.trunc(count) : 1),
    );
    return { hashes: await this.store.randomIdentities(clamped) };
  }
}
