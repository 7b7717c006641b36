// Nicknames (docs/protocol.md §2.6, §2.7): unique case-insensitively, one per identity, key-bound
// (compat v1 also accepts a registration on PoW alone).
import Type from 'typebox';
import type { Config } from '../config.js';
import { badRequest, conflict, notFound } from '../errors.js';
import { parseIdentityHash } from '../identity/crypto.js';
import { checkSignature, keyOfIdentity } from '../identity/proof.js';
import type { PowProof, PowService } from '../pow/pow-service.js';
import { compileCheck } from '../schema-check.js';
import type { Store } from '../store/store.js';
import { DAY_MS } from '../time.js';

export const MAX_LOOKUP = 10;

export const Nickname = Type.String({
  pattern: '^[A-Za-z0-9_-]{3,32}$',
  description: 'Unique case-insensitively; served with the case it was registered with',
  examples: ['Alice_1'],
  errorMessage: 'nickname must be 3-32 characters of A-Z a-z 0-9 _ -',
});

/** The names one lookup asks for (docs/protocol.md §2.7). */
export const LookupList = Type.Array(Nickname, {
  minItems: 1,
  maxItems: MAX_LOOKUP,
  description: `1 to ${MAX_LOOKUP} nicknames, comma-separated or repeated`,
  errorMessage: {
    minItems: 'nick is required',
    maxItems: `At most ${MAX_LOOKUP} names per lookup`,
  },
});

const checkNickname = compileCheck(Nickname);
const checkLookupList = compileCheck(LookupList);

export function parseNickname(value: unknown): string {
  const failure = checkNickname(value);
  if (failure !== null) throw badRequest('invalid_nickname', failure.message);
  return value as string;
}

export class NicknameService {
  constructor(
    private readonly store: Store,
    private readonly pow: PowService,
    private readonly config: Config,
  ) {}

  async register(
    body: Record<string, unknown>,
    proof: PowProof,
  ): Promise<{ status: 'success'; nickname: string }> {
    const nickname = parseNickname(body.nickname);
    const identityHash = parseIdentityHash(body.identity_hash);
    const keyless = body.identityKey === undefined && body.signature === undefined;
    if (keyless && this.config.compat !== 'v1') {
      throw badRequest('invalid_key', 'identityKey and signature are required');
    }
    await this.pow.verify(proof.seed, proof.nonce, {
      purpose: 'nickname',
      context: nickname,
      identityHash,
    });
    if (!keyless) {
      const key = keyOfIdentity(identityHash, body.identityKey);
      checkSignature(key, body.signature, [nickname]);
    }
    const result = await this.store.registerNickname(
      identityHash,
      nickname.toLowerCase(),
      nickname,
      this.config.nicknameTtlDays * DAY_MS,
    );
    if (result === 'taken') throw conflict('nickname_taken', 'This nickname is taken');
    return { status: 'success', nickname };
  }

  /** Resolves names; the result is keyed by each name exactly as requested. */
  async lookup(names: string[]): Promise<Map<string, { identity_hash: string; nickname: string }>> {
    const failure = checkLookupList(names);
    if (failure !== null) {
      const code = failure.keyword === 'maxItems' ? 'too_many_names' : 'invalid_nickname';
      throw badRequest(code, failure.message);
    }
    const found = new Map<string, { identity_hash: string; nickname: string }>();
    await Promise.all(
      names.map(async (name) => {
        const record = await this.store.lookupNickname(name.toLowerCase());
        if (record)
          found.set(name, { identity_hash: record.identityHash, nickname: record.nickname });
      }),
    );
    return found;
  }

  async lookupOne(name: string): Promise<{ identity_hash: string; nickname: string }> {
    const record = (await this.lookup([name])).get(name);
    if (record === undefined) throw notFound('No such nickname');
    return record;
  }
}
