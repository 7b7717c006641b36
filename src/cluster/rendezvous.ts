// Rendezvous (highest-random-weight) hashing: which worker slot serves a client. Every client key
// (the address a per-IP limit applies to) is weighed against every slot under a key drawn at
// start-up, and the heaviest live slot wins. One client always lands on the same slot; when a
// slot has no live worker its clients spread over the others, and come back once it has one
// again; nobody else moves. The key is secret and per process, so a client cannot choose
// addresses that pile onto one worker.
import { createHmac, randomBytes } from 'node:crypto';

export class Rendezvous {
  constructor(private readonly key: Buffer = randomBytes(32)) {}

  /** The weight of `slot` for `client`: the first 48 bits of HMAC-SHA-256(key, slot, client). */
  weight(slot: number, client: string): number {
    return createHmac('sha256', this.key).update(`${slot}\0${client}`).digest().readUIntBE(0, 6);
  }

  /** The slot among `slots` that serves `client`; undefined when `slots` is empty. */
  pick(client: string, slots: Iterable<number>): number | undefined {
    let best: number | undefined;
    let bestWeight = -1;
    for (const slot of slots) {
      const w = this.weight(slot, client);
      if (w > bestWeight || (w === bestWeight && slot < best!)) {
        best = slot;
        bestWeight = w;
      }
    }
    return best;
  }
}
