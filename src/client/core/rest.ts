// The relay's REST API, one method per endpoint, on any platform: the HTTP transport, the PoW
// solver and the identity's signing are the platform's (Node: node:https, worker threads,
// node:crypto; browsers: fetch, Web Workers, @noble). Errors are typed (RelayClientError).
import { RelayClientError } from '../errors.js';
import { toBase64, utf8 } from './bytes.js';
import type { BundleOptions, PublicIdentity } from './bundle.js';
import type { PowProgress, PowSolver } from './pow.js';

export interface HttpRequest {
  method: string;
  url: URL;
  headers: Record<string, string>;
  body?: string;
}

export interface HttpAnswer {
  status: number;
  text: string;
  /** The Retry-After header, when there is one. */
  retryAfter?: string | null;
}

export type HttpTransport = (request: HttpRequest) => Promise<HttpAnswer>;

export interface CoreClientOptions {
  /** Base URL, e.g. https://relay.example:8080 */
  url: string;
  /** The solver for the PoW of uploads, nicknames, burns… (default: the platform's workers). */
  powSolver?: PowSolver;
  /** Progress of each PoW search (attempts, elapsed), for a person who waits. */
  onPowProgress?: (progress: PowProgress) => void;
}

/** How a platform signs with and builds bundles for its identity type. */
export interface IdentityOps<I extends PublicIdentity> {
  sign(identity: I, message: Uint8Array): Uint8Array;
  buildBundle(identity: I, options?: BundleOptions): Record<string, unknown>;
}

export interface ClientPlatform<I extends PublicIdentity> {
  transport: HttpTransport;
  solvePow: PowSolver;
  identity: IdentityOps<I>;
}

export interface Challenge {
  seed: string;
  difficulty: number;
  expires_in: number;
}

export interface ChallengeQuery {
  type?: 'auth' | 'upload' | 'burn' | 'decoy' | 'random' | 'nickname';
  identity_hash?: string;
  nickname?: string;
}

export interface Solution {
  seed: string;
  nonce: string;
}

/** A parsed answer of the relay, left untyped for callers. */
type Answer = any; // eslint-disable-line @typescript-eslint/no-explicit-any

export class RelayClientCore<
  I extends PublicIdentity,
  O extends CoreClientOptions = CoreClientOptions,
> {
  constructor(
    readonly options: O,
    protected readonly platform: ClientPlatform<I>,
  ) {}

  async request(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<Answer> {
    const url = new URL(path, this.options.url);
    const payload =
      body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const { status, text, retryAfter } = await this.platform.transport({
      method,
      url,
      headers: payload === undefined ? headers : { 'content-type': 'application/json', ...headers },
      body: payload,
    });
    let json: Answer;
    try {
      json = JSON.parse(text);
    } catch {
      throw new RelayClientError(
        status,
        'invalid_response',
        `Relay answered ${status} with a non-JSON body`,
      );
    }
    if (status >= 400) {
      const retry = retryAfter == null ? json.retry_after : Number(retryAfter);
      throw new RelayClientError(
        status,
        String(json.code ?? 'unknown'),
        String(json.error ?? 'error'),
        retry,
      );
    }
    return json;
  }

  challenge(query: ChallengeQuery = {}): Promise<Challenge> {
    const params = new URLSearchParams(query as Record<string, string>);
    const qs = params.toString();
    return this.request('GET', `/pow/challenge${qs ? `?${qs}` : ''}`);
  }

  /** Fetches a challenge and solves it for `context` off the main thread. */
  async solve(query: ChallengeQuery, context: string): Promise<Solution> {
    const { seed, difficulty } = await this.challenge(query);
    const solver = this.options.powSolver ?? this.platform.solvePow;
    const onProgress = this.options.onPowProgress;
    return { seed, nonce: await solver(seed, context, difficulty, onProgress && { onProgress }) };
  }

  private powHeaders(solution: Solution): Record<string, string> {
    return { 'x-pow-seed': solution.seed, 'x-pow-nonce': solution.nonce };
  }

  /** Uploads `body` (default: a fresh bundle for `identity`). */
  async uploadBundle(
    identity: I,
    options: BundleOptions & { body?: Record<string, unknown>; solution?: Solution } = {},
  ): Promise<{ status: 'success'; prekeys: number }> {
    const body = options.body ?? this.platform.identity.buildBundle(identity, options);
    const solution =
      options.solution ??
      (await this.solve(
        { type: 'upload', identity_hash: identity.identityHash },
        identity.identityHash,
      ));
    return this.request('POST', '/keys/upload', body, this.powHeaders(solution));
  }

  fetchBundle(identityHash: string): Promise<Answer> {
    return this.request('GET', `/keys/fetch?user=${encodeURIComponent(identityHash)}`);
  }

  fetchBundles(identityHashes: string[]): Promise<Record<string, Answer>> {
    return this.request(
      'GET',
      `/keys/fetch?user=${identityHashes.map(encodeURIComponent).join(',')}`,
    );
  }

  async randomHashes(count: number): Promise<string[]> {
    const solution = await this.solve({ type: 'random' }, '');
    const res = await this.request(
      'GET',
      `/keys/random?count=${count}`,
      undefined,
      this.powHeaders(solution),
    );
    return res.hashes;
  }

  async registerNickname(
    identity: I | null,
    nickname: string,
    identityHash?: string,
  ): Promise<Answer> {
    const hash = identity?.identityHash ?? identityHash!;
    const solution = await this.solve(
      { type: 'nickname', nickname, identity_hash: hash },
      nickname,
    );
    const body: Record<string, unknown> = { nickname, identity_hash: hash };
    if (identity) {
      body.identityKey = toBase64(identity.publicKey);
      body.signature = this.signText(identity, nickname);
    }
    return this.request('POST', '/nickname/register', body, this.powHeaders(solution));
  }

  lookupNickname(
    nickname: string,
    param: 'nick' | 'name' = 'nick',
  ): Promise<{ identity_hash: string; nickname: string }> {
    return this.request('GET', `/nickname/lookup?${param}=${encodeURIComponent(nickname)}`);
  }

  lookupNicknames(names: string[]): Promise<Record<string, string>> {
    return this.request('GET', `/nickname/lookup?name=${names.map(encodeURIComponent).join(',')}`);
  }

  /** Burns the identity: signs `BURN:<H>:<seed>` (or v1's `BURN:<H>` with legacy: true). */
  async burn(
    identity: I,
    options: { legacy?: boolean } = {},
  ): Promise<{ status: 'account_purged' }> {
    const h = identity.identityHash;
    const solution = await this.solve({ type: 'burn', identity_hash: h }, h);
    const signature = this.signText(
      identity,
      options.legacy ? `BURN:${h}` : `BURN:${h}:${solution.seed}`,
    );
    const body = { identity_hash: h, identityKey: toBase64(identity.publicKey), signature };
    return this.request('POST', '/account/burn', body, this.powHeaders(solution));
  }

  /** Base64 Ed25519 signature of the UTF-8 of `text` by the identity key. */
  protected signText(identity: I, text: string): string {
    return toBase64(this.platform.identity.sign(identity, utf8(text)));
  }
}
