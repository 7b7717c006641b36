// Issues and verifies proof-of-work challenges (docs/protocol.md §2.1, §2.2). The only PoW check in
// the relay: REST routes and WebSocket auth both call verify().
import { RelayError } from '../errors.js';
import type { Metrics } from '../metrics.js';
import type { ServerSecret } from '../secret.js';
import type { Store } from '../store/store.js';
import { DAY_MS } from '../time.js';
import { leadingZeroNibbles, normaliseNonce, powDigest } from './hash-rule.js';
import { decodeSeed, encodeSeed, type PowPurpose } from './seed.js';

export type { PowPurpose } from './seed.js';

export const SEED_LIFETIME_S = 60;
const MIN_DIFFICULTY = 2;
const ENDPOINT_MINIMUM: Record<PowPurpose, number> = {
  general: 2,
  auth: 2,
  upload: 2,
  burn: 5,
  random: 2,
  nickname: 2,
};
const CHALLENGE_TYPES = new Map<string, PowPurpose>([
  ['auth', 'auth'],
  ['upload', 'upload'],
  ['burn', 'burn'],
  ['decoy', 'random'],
  ['random', 'random'],
  ['nickname', 'nickname'],
]);
/** The values `GET /pow/challenge?type=` takes. */
export const CHALLENGE_TYPE_NAMES: readonly string[] = [...CHALLENGE_TYPES.keys()];
const LOAD_WINDOW_S = 10;
// Instances' clocks differ slightly: keep the spent record a little longer than the seed lives
// so no instance still accepts a seed whose record has already expired.
const SPENT_MARGIN_MS = 2000;

export interface PowServiceOptions {
  secret: ServerSecret;
  store: Store;
  powBase: number;
  powMax: number;
  powLoadThresholds: number[];
  metrics?: Metrics;
  now?: () => number;
}

/** A solution as a request carries it (REST headers X-PoW-Seed / X-PoW-Nonce). */
export interface PowProof {
  seed: unknown;
  nonce: unknown;
}

export interface PowRequest {
  purpose: Exclude<PowPurpose, 'general'>;
  /** What the solution was computed over (identity hash, nickname, '' or alias). */
  context: string;
  /** The identity the request acts for (defaults to `context` for auth, upload and burn). */
  identityHash?: string;
  /** The nickname being registered (defaults to `context` for purpose nickname). */
  nickname?: string;
}

/** Arrivals per second over the last LOAD_WINDOW_S seconds, in one slot per second. */
class ArrivalRate {
  private readonly counts = new Array<number>(LOAD_WINDOW_S).fill(0);
  private readonly seconds = new Array<number>(LOAD_WINDOW_S).fill(-Infinity);

  add(nowMs: number): void {
    const second = Math.floor(nowMs / 1000);
    const slot = second % LOAD_WINDOW_S;
    if (this.seconds[slot] !== second) {
      this.seconds[slot] = second;
      this.counts[slot] = 0;
    }
    this.counts[slot]! += 1;
  }

  perSecond(nowMs: number): number {
    const second = Math.floor(nowMs / 1000);
    let total = 0;
    for (let i = 0; i < LOAD_WINDOW_S; i++) {
      if (this.seconds[i]! > second - LOAD_WINDOW_S) total += this.counts[i]!;
    }
    return total / LOAD_WINDOW_S;
  }
}

function nicknameSurcharge(nickname: string | undefined): number {
  if (nickname === undefined) return 0;
  if (nickname.length <= 5) return 3;
  if (nickname.length <= 7) return 2;
  return nickname.length <= 9 ? 1 : 0;
}

/** The identity whose age discounts the request; /keys/random acts for no identity. */
function identityOf(req: PowRequest): string | undefined {
  if (req.purpose === 'random') return undefined;
  if (req.purpose === 'nickname') return req.identityHash;
  return req.identityHash ?? req.context;
}

function challengePurpose(type: string | undefined, nickname: string | undefined): PowPurpose {
  if (type === undefined) return nickname === undefined ? 'general' : 'nickname';
  const purpose = CHALLENGE_TYPES.get(type);
  if (purpose === undefined) {
    throw new RelayError(400, 'invalid_request', `Unknown challenge type "${type}"`);
  }
  if (purpose === 'nickname' && nickname === undefined) {
    throw new RelayError(400, 'invalid_request', 'A nickname challenge needs a nickname');
  }
  return purpose;
}

export class PowService {
  private readonly secret: ServerSecret;
  private readonly store: Store;
  private readonly powBase: number;
  private readonly powMax: number;
  private readonly powLoadThresholds: number[];
  private readonly metrics: Metrics | undefined;
  private readonly now: () => number;
  private readonly arrivals = new ArrivalRate();

  constructor(opts: PowServiceOptions) {
    this.secret = opts.secret;
    this.store = opts.store;
    this.powBase = opts.powBase;
    this.powMax = opts.powMax;
    this.powLoadThresholds = opts.powLoadThresholds.slice(0, 3);
    this.metrics = opts.metrics;
    this.now = opts.now ?? Date.now;
  }

  /** For GET /pow/challenge. `type` decoy means random; a nickname without a type means nickname. */
  async issue(q: {
    type?: string;
    identityHash?: string;
    nickname?: string;
  }): Promise<{ seed: string; difficulty: number; expires_in: number }> {
    // An empty query parameter (`?type=`) counts as absent.
    const nickname = q.nickname === '' ? undefined : q.nickname;
    const purpose = challengePurpose(q.type === '' ? undefined : q.type, nickname);
    // /keys/random acts for no identity, so its floor has no age discount: do not offer one.
    const identity = purpose === 'random' ? undefined : q.identityHash;
    const difficulty = this.difficulty(
      purpose,
      await this.ageDiscount(identity),
      purpose === 'nickname' ? nickname : undefined,
      this.loadIncrement(),
    );
    const expiresAt = Math.floor(this.now() / 1000) + SEED_LIFETIME_S;
    const seed = encodeSeed({ expiresAt, difficulty, purpose }, this.secret.value);
    return { seed, difficulty, expires_in: SEED_LIFETIME_S };
  }

  /** The difficulty a general challenge asks right now (base, load, cap; no discount): metrics. */
  currentDifficulty(): number {
    return this.difficulty('general', 0, undefined, this.loadIncrement());
  }

  /** Throws RelayError 401 `pow_invalid` unless the solution is valid, unspent and hard enough
   *  for this request; spends the seed the moment it verifies. */
  async verify(seedInput: unknown, nonceInput: unknown, req: PowRequest): Promise<void> {
    const nonce = normaliseNonce(nonceInput);
    if (typeof seedInput !== 'string' || nonce === null) {
      throw this.reject('invalid', 'Proof of work seed or nonce missing or malformed');
    }
    const seed = decodeSeed(seedInput, this.secret.value, this.now());
    if (seed === 'expired') throw this.reject('expired', 'Proof of work seed expired');
    if (seed === 'bad_mac') throw this.reject('invalid', 'Proof of work seed not issued here');
    if (seed === 'malformed') throw this.reject('invalid', 'Proof of work seed malformed');
    if (seed.purpose !== 'general' && seed.purpose !== req.purpose) {
      throw this.reject('invalid', `Proof of work seed is for ${seed.purpose}, not ${req.purpose}`);
    }
    // The work must meet both the seed's difficulty and the request's own floor; a solution may
    // exceed what its seed asked (v1 clients solve a general seed to 5 for a burn).
    const work = leadingZeroNibbles(powDigest(seedInput, req.context, nonce));
    if (work < seed.difficulty) {
      throw this.reject('invalid', 'Proof of work does not meet the difficulty');
    }
    const floor = await this.floor(req, work);
    if (work < floor) {
      throw this.reject(
        'invalid',
        `Proof of work difficulty too low for this request: it needs ${floor}`,
      );
    }
    const remainingMs = Math.max(0, seed.expiresAt * 1000 - this.now());
    if (!(await this.store.spendSeed(seedInput, remainingMs + SPENT_MARGIN_MS))) {
      throw this.reject('replay', 'Proof of work seed already used');
    }
    this.arrivals.add(this.now());
    this.metrics?.powVerifications.inc({ result: 'ok' });
  }

  private difficulty(
    purpose: PowPurpose,
    ageDiscount: number,
    nickname: string | undefined,
    load: number,
  ): number {
    const wanted = this.powBase + load - ageDiscount + nicknameSurcharge(nickname);
    const capped = Math.min(Math.max(MIN_DIFFICULTY, wanted), this.powMax);
    return Math.max(capped, ENDPOINT_MINIMUM[purpose]);
  }

  /**
   * This request's difficulty at zero load: endpoint minimum, nickname surcharge and the age
   * discount of the identity it acts for. The discount costs a store read, made only when `work`
   * falls short of the undiscounted floor.
   */
  private async floor(req: PowRequest, work: number): Promise<number> {
    const nickname = req.purpose === 'nickname' ? (req.nickname ?? req.context) : undefined;
    const undiscounted = this.difficulty(req.purpose, 0, nickname, 0);
    if (work >= undiscounted) return undiscounted;
    return this.difficulty(req.purpose, await this.ageDiscount(identityOf(req)), nickname, 0);
  }

  private async ageDiscount(identityHash: string | undefined): Promise<number> {
    if (identityHash === undefined) return 0;
    const firstSeen = await this.store.firstSeen(identityHash);
    if (firstSeen === null) return 0;
    const ageMs = this.now() - firstSeen;
    if (ageMs > 180 * DAY_MS) return 2;
    return ageMs > 30 * DAY_MS ? 1 : 0;
  }

  /** +1/+2/+3 as the rate of verified solutions passes each threshold: unpaid requests do not count. */
  private loadIncrement(): number {
    const rate = this.arrivals.perSecond(this.now());
    return this.powLoadThresholds.filter((threshold) => rate > threshold).length;
  }

  private reject(result: 'invalid' | 'replay' | 'expired', reason: string): RelayError {
    this.metrics?.powVerifications.inc({ result });
    return new RelayError(401, 'pow_invalid', reason);
  }
}
