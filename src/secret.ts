// The server secret (PROTOCOL.md §7): keys PoW seeds, session-token hashes and the per-IP
// bucket keys. Fixed by ENTROPY_SECRET_SALT, or random and shared through the store, in which
// case it is only known once the store has answered: until then `value` throws
// StoreUnavailableError and callers answer 503 `storage_unavailable`.
import { createHmac } from 'node:crypto';
import { StoreUnavailableError } from './errors.js';

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

  /** HMAC-SHA-256 under the secret, hex; `label` separates the uses of the one secret. */
  mac(label: string, data: string): string {
    return createHmac('sha256', this.value).update(label).update('\0').update(data).digest('hex');
  }
}
