// Traffic across two relay instances while a Redis master is killed: what the replicated-Redis
// suites share. Senders on one instance write to recipients that are offline (their messages are
// queued in Redis); recipients then connect to the other instance and must receive every
// message the relay confirmed (queued or delivered), once; refused ones must say why.
import assert from 'node:assert/strict';
import { generateIdentity } from '../../src/client/identity.js';
import { RelaySession, type DeliveryStatus } from '../../src/client/ws-client.js';
import type { TestRelay } from './relay.js';
import { waitFor } from './wait.js';
import { withBundle } from './ws.js';

export const FAILOVER_LIMITS = {
  powLimit: 10_000,
  limitGlobal: 100_000,
  limitMsgSend: 100_000,
  limitMsgReceive: 100_000,
  limitWsFrames: 100_000,
  limitWsAuth: 10_000,
  limitWsAuthIdentity: 10_000,
  limitKeysUpload: 1000,
  jitterMs: [1, 5] as [number, number],
};

/** How long a failover may take in these suites (detection, election, reconnection). */
export const FAILOVER_TIMEOUT_MS = 30_000;

export interface Pair {
  sender: RelaySession;
  recipient: RelaySession;
  to: string;
  /** Envelopes the recipient's application was handed, in order. */
  got: string[];
}

export interface Outcome {
  envelope: string;
  pair: Pair;
  /** undefined: the send failed (no delivery_status: socket closed or timed out). */
  status?: DeliveryStatus;
  error?: string;
}

export class Traffic {
  readonly sessions: RelaySession[] = [];
  readonly outcomes: Outcome[] = [];

  session(relay: TestRelay, identity = generateIdentity()): RelaySession {
    const session = new RelaySession({
      url: relay.relay.url,
      ca: relay.relay.tls!.cert,
      identity,
      acks: true,
      timeoutMs: 10_000,
      backoff: { minMs: 20, maxMs: 500 },
    });
    this.sessions.push(session);
    return session;
  }

  /** `n` senders connected to `from`, each with a recipient (bundle uploaded, not connected)
   *  that will connect to `to`. */
  async pairs(n: number, from: TestRelay, to: TestRelay): Promise<Pair[]> {
    return Promise.all(
      Array.from({ length: n }, async () => {
        const sender = this.session(from);
        const recipient = this.session(to);
        await withBundle(to.relay, recipient.identity);
        const got: string[] = [];
        recipient.on('message', (m) => got.push(m.envelope));
        recipient.on('queued', (q) => got.push(String(q.payload.envelope)));
        await sender.connect();
        return { sender, recipient, to: recipient.identity.identityHash, got };
      }),
    );
  }

  /** One message from every sender to its recipient, tagged `tag`. */
  async round(pairs: Pair[], tag: string): Promise<Outcome[]> {
    const outcomes = await Promise.all(
      pairs.map(async (pair, i): Promise<Outcome> => {
        const envelope = `${tag}-p${i}`;
        try {
          return { envelope, pair, status: await pair.sender.send(pair.to, envelope) };
        } catch (err) {
          return { envelope, pair, error: err instanceof Error ? err.message : String(err) };
        }
      }),
    );
    this.outcomes.push(...outcomes);
    return outcomes;
  }

  /**
   * Every recipient connects; resolves once each has every confirmed message, and checks that
   * none arrived twice and that every refusal says `storage_unavailable`.
   */
  async deliverAll(pairs: Pair[]): Promise<{ confirmed: number; refused: number; failed: number }> {
    await Promise.all(pairs.map((p) => connectRetrying(p.recipient)));
    const mine = this.outcomes.filter((o) => pairs.includes(o.pair));
    const confirmed = mine.filter(
      (o) => o.status?.status === 'queued' || o.status?.status === 'delivered',
    );
    await waitFor(() => confirmed.every((o) => o.pair.got.includes(o.envelope)), {
      timeoutMs: FAILOVER_TIMEOUT_MS,
      what: `every confirmed message arrives (missing: ${confirmed
        .filter((o) => !o.pair.got.includes(o.envelope))
        .map((o) => o.envelope)
        .slice(0, 5)
        .join(', ')}…)`,
    });
    for (const pair of pairs) {
      assert.equal(new Set(pair.got).size, pair.got.length, `duplicates: ${pair.got.join(',')}`);
    }
    const refused = mine.filter((o) => o.status?.status === 'rejected');
    assert.deepEqual(
      [...new Set(refused.map((o) => o.status!.reason))].filter((r) => r !== 'storage_unavailable'),
      [],
    );
    const failed = mine.filter((o) => o.status === undefined).length;
    return { confirmed: confirmed.length, refused: refused.length, failed };
  }

  async close(): Promise<void> {
    await Promise.all(this.sessions.map((s) => s.close()));
  }
}

/** Connects `session`, trying again while the relay answers 503 (Redis still recovering). */
export async function connectRetrying(session: RelaySession): Promise<void> {
  let lastError: unknown;
  await waitFor(
    () =>
      session.connect().then(
        () => true,
        (err: unknown) => {
          lastError = err;
          return false;
        },
      ),
    { timeoutMs: FAILOVER_TIMEOUT_MS, what: 'a session connects' },
  ).catch((err: Error) => {
    throw new Error(`${err.message} (last error: ${String(lastError)})`);
  });
}

/** Resolves once every relay's store answers PING again. */
export async function storesAnswer(relays: TestRelay[]): Promise<void> {
  await waitFor(
    async () => {
      const answers = await Promise.all(
        relays.map((r) =>
          r.relay.store.ping().then(
            () => true,
            (e: { cause?: Error; message: string }) => {
              if (process.env.DEBUG_FAILOVER) console.log('ping', e.cause?.message ?? e.message);
              return false;
            },
          ),
        ),
      );
      return answers.every(Boolean);
    },
    { timeoutMs: FAILOVER_TIMEOUT_MS, what: 'every relay reaches Redis again' },
  );
}

/**
 * Sends rounds from `pairs` while `disrupt` runs and until a round is fully queued again after
 * it (the relays recovered by themselves); resolves to the number of rounds sent.
 */
export async function trafficThrough(
  traffic: Traffic,
  pairs: Pair[],
  tag: string,
  disrupt: () => Promise<void>,
): Promise<number> {
  let done = false;
  let rounds = 0;
  const sending = (async () => {
    while (!done) await traffic.round(pairs, `${tag}${rounds++}`);
  })();
  try {
    await disrupt();
    const after = rounds;
    await waitFor(
      () => {
        const last = traffic.outcomes.slice(-pairs.length);
        return rounds > after + 1 && last.every((o) => o.status?.status === 'queued');
      },
      { timeoutMs: FAILOVER_TIMEOUT_MS, what: 'messages are queued again after the failover' },
    );
  } finally {
    done = true;
    await sending;
  }
  return rounds;
}
