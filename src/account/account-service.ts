// Forensic burn (docs/protocol.md §2.8): a signed, PoW-gated request deletes every trace of an
// identity and closes its live sessions on every instance.
import type { Config } from '../config.js';
import { parseIdentityHash } from '../identity/crypto.js';
import { checkSignature, keyOfIdentity } from '../identity/proof.js';
import type { PowProof, PowService } from '../pow/pow-service.js';
import type { RateLimiter } from '../ratelimit/limiter.js';
import type { Store } from '../store/store.js';

/** Closes an identity's live sessions everywhere (the relay's router). */
export type SessionCloser = (identityHash: string, reason: 'account_burned') => Promise<void>;

export class AccountService {
  constructor(
    private readonly store: Store,
    private readonly pow: PowService,
    private readonly limiter: RateLimiter,
    private readonly config: Config,
    private readonly closeSessions: SessionCloser,
  ) {}

  async burn(
    body: Record<string, unknown>,
    proof: PowProof,
  ): Promise<{ status: 'account_purged' }> {
    const identityHash = parseIdentityHash(body.identity_hash);
    await this.pow.verify(proof.seed, proof.nonce, { purpose: 'burn', context: identityHash });
    const key = keyOfIdentity(identityHash, body.identityKey);
    const messages = [`BURN:${identityHash}:${String(proof.seed)}`];
    if (this.config.compat === 'v1') messages.push(`BURN:${identityHash}`);
    checkSignature(key, body.signature, messages);
    await this.store.burnIdentity(identityHash);
    this.limiter.forgetIdentity(identityHash);
    await this.closeSessions(identityHash, 'account_burned');
    // Unknown identities answer the same: no existence oracle.
    return { status: 'account_purged' };
  }
}
