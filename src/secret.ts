// The server secret (docs/protocol.md §7): keys PoW seeds, session-token hashes and the per-IP
// bucket keys. Fixed by ENTROPY_SECRET_SALT, or random and shared through the store, in which
// case it is only known once the store has answered: until then `value` throws
// StoreUnavailableError and callers answer 503 `storage_unavailable`.
import { createHmac, randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { StoreUnavailableError, rethrowUnlessUnavailable } from './errors.js';
import type { Store } from './store/store.js';

const RETRY_MS = 500;
/** ENTROPY_SECRET_SALT shorter than this is warned about (and failed by `doctor`). */
export const MIN_SECRET_LENGTH = 32;

export class ServerSecret {
  #value: string | undefined;

  constructor(fixed?: string) {
    this.#value = fixed;
  }

  get known(): boolean {
    return this.#value !== undefined;
  }

  /** The secret; throws StoreUnavailableError while it is not known yet. */
  get value(): string {
    if (this.#value === undefined) throw new StoreUnavailableError();
    return this.#value;
  }

  set(value: string): void {
    this.#value = value;
  }

  /** Learns the secret shared through a ready store (a random one if none is set yet), retrying
   *  while the store does not answer; gives up (StoreUnavailableError) once `stopped()`. */
  async learnFrom(store: Store, stopped: () => boolean): Promise<void> {
    const candidate = randomBytes(32).toString('hex');
    while (!stopped()) {
      try {
        this.set(await store.sharedSecret(candidate));
        return;
      } catch (err) {
        rethrowUnlessUnavailable(err);
        await sleep(RETRY_MS, undefined, { ref: false });
      }
    }
    throw new StoreUnavailableError();
  }

  /** HMAC-SHA-256 under the secret, hex; `label` separates the uses of the one secret. */
  mac(label: string, data: string): string {
    return createHmac('sha256', this.value).update(label).update('\0').update(data).digest('hex');
  }
}
