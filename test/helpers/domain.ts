// The relay domain without a socket: the real MemoryStore, Router, RateLimiter and RelayService,
// and small sessions that implement the ports the domain defines (Endpoint, SenderSession) by
// recording what they are handed. Waits are on those recordings, each with a deadline.
import { randomBytes, randomUUID } from 'node:crypto';
import { defaultConfig, type Config } from '../../src/config.js';
import type { Json } from '../../src/json.js';
import { Metrics } from '../../src/metrics.js';
import { PowService } from '../../src/pow/pow-service.js';
import { IpSalt } from '../../src/ratelimit/ip-salt.js';
import { RateLimiter } from '../../src/ratelimit/limiter.js';
import type { CloseReason } from '../../src/relay/channel.js';
import type { Delivery, DeliveryStatus, RejectReason } from '../../src/relay/deliveries.js';
import type { Carried, Endpoint, Notify } from '../../src/relay/endpoint.js';
import { RelayService, type SenderSession } from '../../src/relay/relay-service.js';
import { Router } from '../../src/relay/router.js';
import { ServerSecret } from '../../src/secret.js';
import { MemoryStore } from '../../src/store/memory/memory-store.js';
import { DAY_MS } from '../../src/time.js';
import { silentLogger } from './logs.js';
import { within } from './wait.js';

export const SECRET = 'unit-test-secret-of-at-least-32-characters';
/** A fixed start for injected clocks: 2025-01-01T00:00:00Z. */
export const T0 = Date.UTC(2025, 0, 1);
const WAIT_MS = 5000;

/** A random identity hash. */
export const newHash = (): string => randomBytes(32).toString('hex');

/** The defaults, with `overrides`. */
export const domainConfig = (overrides: Partial<Config> = {}): Config => ({
  ...defaultConfig(),
  ...overrides,
});

/** Values in the order they were recorded; `reach(n)` waits until there are at least n. */
export class Recording<T> {
  readonly items: T[] = [];
  private readonly waiters: Array<{ n: number; resolve: () => void }> = [];

  add(item: T): void {
    this.items.push(item);
    for (const w of [...this.waiters]) {
      if (this.items.length < w.n) continue;
      this.waiters.splice(this.waiters.indexOf(w), 1);
      w.resolve();
    }
  }

  get length(): number {
    return this.items.length;
  }

  async reach(n: number, what = `${n} recorded`): Promise<T[]> {
    if (this.items.length < n) {
      const reached = new Promise<void>((resolve) => this.waiters.push({ n, resolve }));
      await within(reached, WAIT_MS, what);
    }
    return this.items;
  }
}

/** A sender's statuses, as a Notify records them. */
export function statusRecorder(): { notify: Notify; statuses: Recording<string> } {
  const statuses = new Recording<string>();
  const notify: Notify = (status: DeliveryStatus, reason?: RejectReason) =>
    statuses.add(reason === undefined ? status : `${status} ${reason}`);
  return { notify, statuses };
}

/** A live session as the router sees it: records every push and close. */
export class FakeEndpoint implements Endpoint {
  readonly pushed = new Recording<{ delivery: Delivery; carried?: Carried }>();
  readonly closes = new Recording<CloseReason>();
  /** Pushes it takes before refusing, as a session over its byte cap does. */
  limit = Number.POSITIVE_INFINITY;
  refused = 0;

  constructor(
    readonly sessionId: string = randomUUID(),
    readonly authAt = 0,
    readonly acks = false,
  ) {}

  push(delivery: Delivery, carried?: Carried): boolean {
    if (this.pushed.length >= this.limit) {
      this.refused += 1;
      return false;
    }
    this.pushed.add({ delivery, carried });
    return true;
  }

  closeWith(reason: CloseReason): void {
    this.closes.add(reason);
  }

  /** The JSON of each push (binary deliveries as `{binary: <hex>}`). */
  get values(): unknown[] {
    return this.pushed.items.map(({ delivery }) =>
      delivery.kind === 'json' ? delivery.value : { binary: delivery.data.toString('hex') },
    );
  }

  /** The carried message of each push that has one. */
  get carried(): Carried[] {
    return this.pushed.items.flatMap(({ carried }) => (carried ? [carried] : []));
  }
}

/** An authenticated session that sends: records its status and control frames. */
export class FakeSender extends FakeEndpoint implements SenderSession {
  readonly statuses = new Recording<Json>();
  readonly controls = new Recording<Json>();
  readonly aliases = new Set<string>();
  authenticated = true;

  constructor(
    readonly identity: string = newHash(),
    readonly ipKey = '198.51.100.7',
  ) {
    super();
  }

  sendStatus(frame: Json): void {
    this.statuses.add(frame);
  }

  sendControl(frame: Json): void {
    this.controls.add(frame);
  }
}

/** One relay instance's domain, on `store`, with an injectable clock for the limiter and PoW. */
export interface Domain {
  config: Config;
  store: MemoryStore;
  metrics: Metrics;
  router: Router;
  limiter: RateLimiter;
  pow: PowService;
  relay: RelayService;
  stop(): Promise<void>;
}

export async function startDomain(
  overrides: Partial<Config> = {},
  options: { store?: MemoryStore; now?: () => number; acrossInstances?: boolean } = {},
): Promise<Domain> {
  const config = domainConfig(overrides);
  const now = options.now ?? Date.now;
  const store = options.store ?? new MemoryStore(now);
  const metrics = new Metrics();
  const logger = silentLogger();
  const secret = new ServerSecret(SECRET);
  const limiter = new RateLimiter(config, store, metrics, logger, new IpSalt(store, now), now);
  const pow = new PowService({
    secret,
    store,
    powBase: config.powBase,
    powMax: config.powMax,
    powLoadThresholds: config.powLoadThresholds,
    metrics,
    now,
  });
  const router = new Router(store, metrics, logger, config, {
    acrossInstances: options.acrossInstances,
    admitOffered: (address) => limiter.takeOfferedRecipient(address),
  });
  await router.start();
  const relay = new RelayService(router, limiter, pow, config);
  return { config, store, metrics, router, limiter, pow, relay, stop: () => router.stop() };
}

/** Gives `identity` a key bundle (default mode queues only for identities that have one). */
export async function withBundleIn(store: MemoryStore, identity: string): Promise<void> {
  await store.putBundle(identity, '{}', [], 30 * DAY_MS);
}

/** The value of a counter (with these labels) in `metrics`. */
export async function counterValue(
  counter: { get(): Promise<{ values: Array<{ labels: object; value: number }> }> },
  labels: Record<string, string> = {},
): Promise<number> {
  const { values } = await counter.get();
  const match = values.find((v) =>
    Object.entries(labels).every(([k, l]) => (v.labels as Record<string, unknown>)[k] === l),
  );
  return match?.value ?? 0;
}
