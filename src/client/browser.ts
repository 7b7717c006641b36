// The client library for browsers (package export `entropy-relay/client` under the "browser"
// condition, and the prebuilt bundle of `npm run build:browser`): the same classes and functions
// as the Node entry (index.ts), with fetch, the global WebSocket, Web Workers and @noble crypto.
// Nothing here imports a Node module.
import { fetchTransport } from './core/fetch-transport.js';
import type { PowSolver } from './core/pow.js';
import { RelayClientCore, type CoreClientOptions } from './core/rest.js';
import { RelaySessionCore, type CoreSessionOptions, type SessionEvents } from './core/session.js';
import { webIdentityOps, type WebIdentity } from './web-identity.js';
import { solvePow } from './web-pow.js';
import { whatwgSocket, type WebSocketConstructor } from './web-socket.js';

export { RelayClientError } from './errors.js';
export {
  buildBundle,
  generateIdentity,
  generatePreKeys,
  identityFromJson,
  identityFromSecretKey,
  identityHashOf,
  identityToJson,
  signMessage,
  verifySignature,
  type BundleOptions,
  type IdentityJson,
  type WebIdentity as Identity,
  type WebPreKeyPair as PreKeyPair,
} from './web-identity.js';
export {
  createWebPowSolver,
  setPowWorkerSource,
  solvePow,
  type PowWorker,
  type PowWorkerFactory,
  type WebPowSolverOptions,
} from './web-pow.js';
export { solvePowSyncWeb as solvePowSync } from './web-pow-search.js';
export type { PowProgress, PowSolveOptions, PowSolver } from './core/pow.js';
export type { Challenge, ChallengeQuery, Solution } from './core/rest.js';
export {
  backoffDelay,
  webSocketUrl,
  type AuthSuccess,
  type DeliveryStatus,
  type Frame,
  type MulticastTarget,
  type RelayErrorFrame,
  type SessionState,
} from './core/session.js';
export { fromBase64, fromUtf8, toBase64, toHex, utf8 } from './core/bytes.js';
export type { WebSocketConstructor, WhatwgWebSocket } from './web-socket.js';

export interface ClientOptions extends CoreClientOptions {
  /** Default: the global fetch. */
  fetch?: typeof fetch;
}

export class RelayClient extends RelayClientCore<WebIdentity, ClientOptions> {
  constructor(options: ClientOptions) {
    super(options, {
      transport: fetchTransport(options.fetch ?? globalThis.fetch.bind(globalThis)),
      solvePow,
      identity: webIdentityOps,
    });
  }
}

export interface RelaySessionOptions extends CoreSessionOptions<WebIdentity> {
  /** Default: the global fetch (for the PoW challenge). */
  fetch?: typeof fetch;
  /** Default: the global WebSocket. */
  WebSocket?: WebSocketConstructor;
  /** Default: Web Workers (solvePow). */
  powSolver?: PowSolver;
}

export type RelaySessionEvents = SessionEvents<Uint8Array>;

/**
 * One identity's session with the relay, across reconnections. Attach listeners before
 * connect(): the offline queue is delivered right after `auth_success`.
 */
export class RelaySession extends RelaySessionCore<WebIdentity, Uint8Array, RelaySessionOptions> {
  constructor(options: RelaySessionOptions) {
    super(options, {
      rest: new RelayClient({ url: options.url, fetch: options.fetch }),
      openSocket: (url, handlers) => whatwgSocket(url, handlers, options.WebSocket),
      solvePow,
      sign: webIdentityOps.sign,
    });
  }
}
