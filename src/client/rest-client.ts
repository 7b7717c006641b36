// The project's REST client: one method per endpoint, PoW solved off the event loop,
// errors typed (RelayClientError). Used by the tests, the benchmarks and the CLI.
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { RelayClientError } from './errors.js';
import { buildBundle, signMessage, type BundleOptions, type Identity } from './identity.js';
import { solvePow } from './pow-solver.js';

export interface ClientOptions {
  /** Base URL, e.g. https://relay.example:8080 */
  url: string;
  /** PEM CA (or the relay's self-signed certificate) to trust. */
  ca?: string | Buffer;
  /** Source address for requests (tests use 127.0.0.x to look like distinct clients). */
  localAddress?: string;
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

export class RelayClient {
  constructor(readonly options: ClientOptions) {}

  async request(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<Answer> {
    const url = new URL(path, this.options.url);
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const payload =
      body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const { status, text, retryAfter } = await new Promise<{
      status: number;
      text: string;
      retryAfter?: string;
    }>((resolve, reject) => {
      const req = send(
        url,
        {
          method,
          ca: this.options.ca,
          localAddress: this.options.localAddress,
          agent: false,
          headers:
            payload === undefined ? headers : { 'content-type': 'application/json', ...headers },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              text: Buffer.concat(chunks).toString('utf8'),
              retryAfter: res.headers['retry-after'],
            }),
          );
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(payload);
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
      const retry = retryAfter === undefined ? json.retry_after : Number(retryAfter);
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

  /** Fetches a challenge and solves it for `context` in worker threads. */
  async solve(query: ChallengeQuery, context: string): Promise<Solution> {
    const { seed, difficulty } = await this.challenge(query);
    return { seed, nonce: await solvePow(seed, context, difficulty) };
  }

  private powHeaders(solution: Solution): Record<string, string> {
    return { 'x-pow-seed': solution.seed, 'x-pow-nonce': solution.nonce };
  }

  /** Uploads `body` (default: a fresh bundle for `identity`). */
  async uploadBundle(
    identity: Identity,
    options: BundleOptions & { body?: Record<string, unknown>; solution?: Solution } = {},
  ): Promise<{ status: 'success'; prekeys: number }> {
    const body = options.body ?? buildBundle(identity, options);
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
    identity: Identity | null,
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
      body.identityKey = identity.publicKey.toString('base64');
      body.signature = signMessage(identity, nickname);
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
    identity: Identity,
    options: { legacy?: boolean } = {},
  ): Promise<{ status: 'account_purged' }> {
    const h = identity.identityHash;
    const solution = await this.solve({ type: 'burn', identity_hash: h }, h);
    const signature = signMessage(
      identity,
      options.legacy ? `BURN:${h}` : `BURN:${h}:${solution.seed}`,
    );
    const body = {
      identity_hash: h,
      identityKey: identity.publicKey.toString('base64'),
      signature,
    };
    return this.request('POST', '/account/burn', body, this.powHeaders(solution));
  }
}
