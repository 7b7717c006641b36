// The messages between the primary and its workers, over the cluster's IPC channel. Each
// channel delivers in order: a connection sent before `drain` reaches the worker before it.
import type { MetricObjectWithValues, MetricValue } from 'prom-client';
import type { Config } from '../config.js';
import type { TlsMaterial } from '../tls.js';

export type MetricsSnapshot = MetricObjectWithValues<MetricValue<string>>[];

/** Primary → worker. */
export type ToWorker =
  /** The first message: what to serve with. */
  | { type: 'entropy:start'; slot: number; config: Config; tls: TlsMaterial | undefined }
  /** Sent with a socket handle: a client connection the primary accepted. `leftover` (base64)
   *  holds bytes already read from it (after a PROXY protocol header). */
  | {
      type: 'entropy:connection';
      clientAddress: string;
      clientPort: number;
      leftover: string;
    }
  /** No more connections will come: finish what is open, then exit 0. With `settle`, first let
   *  the connections just handed over reach their first request. */
  | { type: 'entropy:drain'; settle: boolean }
  | { type: 'entropy:metrics'; id: number };

/** Worker → primary. */
export type FromWorker =
  /** The worker listens for messages: the primary may send `entropy:start`. */
  | { type: 'entropy:hello' }
  /** The relay is ready to serve (its store answered). */
  | { type: 'entropy:ready' }
  /** The store refuses to run (e.g. a persistent Redis with ENTROPY_REQUIRE_VOLATILE). */
  | { type: 'entropy:refused'; reason: string }
  | { type: 'entropy:metrics'; id: number; metrics: MetricsSnapshot }
  /** Sent once drained, just before exiting: the worker's final metrics. */
  | { type: 'entropy:drained'; metrics: MetricsSnapshot };

export function isMessage<T extends { type: string }>(value: unknown): value is T {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { type?: unknown }).type === 'string' &&
    (value as { type: string }).type.startsWith('entropy:')
  );
}
