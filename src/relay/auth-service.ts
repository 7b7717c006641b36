// WebSocket authentication (docs/protocol.md §4.2): PoW + Ed25519 signature over `AUTH:<H>:<seed>`,
// or a session token. Tokens are 256-bit random, stored only as HMACs under the server secret,
// at most ENTROPY_MAX_SESSION_TOKENS live per identity (each auth issues one, revoking the oldest).
import { createHmac, randomBytes } from 'node:crypto';
import type { Config } from '../config.js';
import { RelayError } from '../errors.js';
import { decodeBase64 } from '../identity/crypto.js';
import { checkSignature, keyOfIdentity } from '../identity/proof.js';
import type { PowService } from '../pow/pow-service.js';
import type { RateLimiter } from '../ratelimit/limiter.js';
import type { ServerSecret } from '../secret.js';
import type { Store } from '../store/store.js';
import { addressRule, isLegacyName, parseAddress } from './addresses.js';

export interface AuthResult {
  identity: string;
  token: string;
  keysMissing: boolean;
  prekeys: number;
  acks: boolean;
}

const failed = (message: string) => new RelayError(401, 'auth_failed', message);
// Auth cannot work without the store anyway: its limits fail closed (storage_unavailable).
const LIMITED = { failClosed: true };

export class AuthService {
  constructor(
    private readonly store: Store,
    private readonly pow: PowService,
    private readonly limiter: RateLimiter,
    private readonly config: Config,
    private readonly secret: ServerSecret,
  ) {}

  private tokenHash(token: string): string {
    return createHmac('sha256', this.secret.value).update(token).digest('hex');
  }

  /**
   * Throws RelayError `auth_failed`, `rate_limited` (the IP's `ws_auth` bucket, taken before the
   * payload is read, or the identity's, taken once the proof holds) or `storage_unavailable`.
   */
  async authenticate(payload: unknown, ipKey: string): Promise<AuthResult> {
    await this.limiter.takeIp(ipKey, 'ws_auth', LIMITED);
    if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
      throw failed('auth payload must be an object');
    }
    const fields = payload as Record<string, unknown>;
    const identity = parseAddress(fields.identity_hash, this.config.compat);
    if (identity === null) throw failed(`identity_hash must be ${addressRule(this.config.compat)}`);
    if (fields.session_token !== undefined) {
      const token = fields.session_token;
      if (
        typeof token !== 'string' ||
        !(await this.store.hasSessionToken(identity, this.tokenHash(token)))
      ) {
        throw failed('Session token invalid or expired');
      }
    } else {
      await this.proveByWork(identity, fields);
    }
    // Taken only once the proof holds: a bucket anyone could drain would let them lock a user out.
    await this.limiter.takeIdentity(identity, 'ws_auth', LIMITED);
    const token = randomBytes(32).toString('base64url');
    await this.store.addSessionToken(
      identity,
      this.tokenHash(token),
      this.config.sessionTtlS * 1000,
      this.config.maxSessionTokens,
    );
    const prekeys = await this.store.prekeyCount(identity);
    return {
      identity,
      token,
      keysMissing: prekeys === null,
      prekeys: prekeys ?? 0,
      acks: fields.acks === true,
    };
  }

  private async proveByWork(identity: string, payload: Record<string, unknown>): Promise<void> {
    try {
      await this.pow.verify(payload.seed, payload.nonce, { purpose: 'auth', context: identity });
    } catch (err) {
      if (err instanceof RelayError && err.code === 'pow_invalid') throw failed(err.message);
      throw err;
    }
    const keyless = payload.signature === undefined && payload.public_key === undefined;
    // [v1] PoW-only authentication, and legacy names, which have no key to prove.
    if (this.config.compat === 'v1' && (keyless || isLegacyName(identity))) return;
    let key: unknown = payload.public_key;
    if (key === undefined) {
      const bundle = await this.store.bundleOf(identity);
      if (bundle === null)
        throw failed('public_key is required: no bundle is stored for this identity');
      key = (JSON.parse(bundle) as { identityKey: string }).identityKey;
    }
    try {
      if (decodeBase64(key) === null) throw failed('public_key must be standard base64');
      const raw = keyOfIdentity(identity, key);
      checkSignature(raw, payload.signature, [`AUTH:${identity}:${String(payload.seed)}`]);
    } catch (err) {
      if (err instanceof RelayError && err.code !== 'auth_failed') throw failed(err.message);
      throw err;
    }
  }
}
