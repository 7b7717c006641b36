// What the transports hand to the domain: built once at start-up by server.ts.
import type { Config } from './config.js';
import type { TrustFn } from './net/client-ip.js';
import type { IpBlinder, Logger } from './log.js';
import type { Metrics } from './metrics.js';
import type { RateLimiter } from './ratelimit/limiter.js';
import type { AccountService } from './account/account-service.js';
import type { KeysService } from './keys/keys-service.js';
import type { NicknameService } from './nickname/nickname-service.js';
import type { PowService } from './pow/pow-service.js';
import type { ServerSecret } from './secret.js';
import type { Store } from './store/store.js';

export interface RelayContext {
  config: Config;
  logger: Logger;
  metrics: Metrics;
  blinder: IpBlinder;
  store: Store;
  trust: TrustFn;
  version: string;
  /** Server secret keying PoW seeds and session tokens (shared by all instances). */
  secret: ServerSecret;
  limiter: RateLimiter;
  /** Set when shutdown starts: responses then close their connection. */
  lifecycle: { closing: boolean };
  services: {
    pow: PowService;
    keys: KeysService;
    nicknames: NicknameService;
    accounts: AccountService;
  };
}
