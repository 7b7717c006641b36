// Messages between the benchmark orchestrator (bench/relay.ts) and the load generator
// (bench/load-generator.ts), which runs in its own process and talks over the fork IPC channel.

export type TargetKind = 'relay' | 'baseline';
export type Format = 'binary' | 'json';

export interface Target {
  kind: TargetKind;
  /** http://127.0.0.1:PORT or https://127.0.0.1:PORT */
  url: string;
  tls: boolean;
}

export interface SetupArgs {
  target: Target;
  /** Sessions to open; consecutive sessions 2i (sender) and 2i+1 (recipient) form pair i. */
  sessions: number;
  /** Sessions being opened at once. */
  concurrency: number;
  /** Local addresses to spread client sockets over (empty: the OS default). */
  localAddresses: string[];
  /** Give up on the whole setup after this long. */
  timeoutMs: number;
}

export interface SetupResult {
  connected: number;
  /** Sessions that were tried (twice) and did not connect. */
  failed: number;
  /** Sessions not tried because the setup deadline passed. */
  notAttempted: number;
  firstError: string | undefined;
  ms: number;
}

export interface TrafficArgs {
  format: Format;
  /** Bytes of payload per message (binary: after the 64-hex recipient; JSON: envelope length). */
  payloadBytes: number;
  /** closed: a fixed window of messages in flight per pair; open: a fixed total send rate. */
  mode: 'closed' | 'open';
  window?: number;
  rate?: number;
  /** Pairs used (default: all). */
  pairs?: number;
}

/** Counters of the load generator at one instant. */
export interface Snapshot {
  /** performance.now() of the load generator, ms. */
  at: number;
  sent: number;
  /** Messages received by their recipient. */
  delivered: number;
  /** delivery_status frames received by senders (relay only). */
  statuses: number;
  rejected: number;
  errors: number;
  dummies: number;
  /** Text frames of any other kind. */
  other: number;
  /** Open-loop sends that were skipped because the generator fell behind or a socket was full. */
  skipped: number;
  outOfOrder: number;
  unexpectedCloses: number;
  /** process.cpuUsage() of the load generator, µs. */
  cpuUserUs: number;
  cpuSystemUs: number;
}

export interface LatencyStats {
  count: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

export interface StopResult {
  /** End-to-end latency (send → receipt, both in the load generator) of recorded messages, ms. */
  latency: LatencyStats | null;
  /** Messages sent but not received when the drain wait ended. */
  undelivered: number;
  final: Snapshot;
  errorSamples: string[];
}

export interface PokeResult {
  /** Sessions whose message to themselves came back. */
  delivered: number;
  ms: number;
}

export type Command =
  | { cmd: 'setup'; args: SetupArgs }
  | { cmd: 'start'; args: TrafficArgs }
  | { cmd: 'mark'; args: { record: boolean } }
  | { cmd: 'stop'; args: { drainMs: number } }
  | { cmd: 'poke'; args: { timeoutMs: number } }
  | { cmd: 'close'; args: Record<string, never> };

export type Request = Command & { id: number };

export type Response =
  { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string };
