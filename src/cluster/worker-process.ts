// The primary's handle on one forked worker: its state, when it became ready, how it exited,
// its last metrics, and sending it messages (and sockets) over the IPC channel.
import type { Worker } from 'node:cluster';
import type { Socket } from 'node:net';
import type { MetricsSnapshot, ToWorker } from './messages.js';

export type WorkerState = 'starting' | 'serving' | 'draining' | 'exited';

export class WorkerProcess {
  state: WorkerState = 'starting';
  readyAt = 0;
  /** Its last metrics answer, and its final one (sent once drained). */
  lastMetrics: MetricsSnapshot | undefined;
  finalMetrics: MetricsSnapshot | undefined;
  readonly ready: Promise<void>;
  readonly exited: Promise<{ code: number | null; signal: string | null }>;
  markReady!: () => void;
  markFailed!: (err: Error) => void;

  constructor(
    readonly worker: Worker,
    readonly slot: number,
  ) {
    this.ready = new Promise<void>((resolve, reject) => {
      this.markReady = resolve;
      this.markFailed = reject;
    });
    this.ready.catch(() => undefined);
    this.exited = new Promise((resolve) =>
      worker.once('exit', (code: number | null, signal: string | null) =>
        resolve({ code, signal }),
      ),
    );
  }

  get pid(): number | undefined {
    return this.worker.process.pid;
  }

  send(message: ToWorker, handle?: Socket): Promise<void> {
    return new Promise((resolve, reject) => {
      if (!this.worker.isConnected()) return reject(new Error('worker is not connected'));
      this.worker.send(message, handle, (err: Error | null) => (err ? reject(err) : resolve()));
    });
  }
}
