// The client library's Node entry point (package exports `entropy-relay` and, under the "node"
// condition, `entropy-relay/client`): REST, WebSocket sessions, identities and proof of work, as
// used by the tests, the benchmarks and `entropy-relay client`. Browsers get browser.ts: the same
// classes over fetch, the global WebSocket, Web Workers and @noble crypto.
export { RelayClientError } from './errors.js';
export {
  buildBundle,
  generateIdentity,
  generatePreKeys,
  signMessage,
  type BundleOptions,
  type Identity,
  type PreKeyPair,
} from './identity.js';
export {
  identityFromJson,
  identityToJson,
  loadIdentity,
  saveIdentity,
  type IdentityFile,
} from './identity-file.js';
export {
  solvePow,
  solvePowSync,
  type PowProgress,
  type PowSolveOptions,
  type PowSolver,
} from './pow-solver.js';
export {
  RelayClient,
  type Challenge,
  type ChallengeQuery,
  type ClientOptions,
  type Solution,
} from './rest-client.js';
export {
  RelaySession,
  type AuthSuccess,
  type DeliveryStatus,
  type Frame,
  type MulticastTarget,
  type RelayErrorFrame,
  type RelaySessionEvents,
  type RelaySessionOptions,
  type SessionState,
} from './ws-client.js';
