// The client library's entry point (package.json "main"): REST, WebSocket sessions, identities
// and proof of work, as used by the tests, the benchmarks and `entropy-relay client`.
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
export { loadIdentity, saveIdentity, type IdentityFile } from './identity-file.js';
export { solvePow, solvePowSync } from './pow-solver.js';
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
