// Writes the client hears about ("queued", a stored bundle, a session token…) can wait until
// `replicas` replicas hold them (WAIT): Redis replication is asynchronous, so without this a
// master lost right after a write loses it with it. WAIT covers every earlier write of the
// connection it is sent on, so it goes on the connection that made the write: in the same
// pipeline as the write where that matters most (the offline queue), right after it otherwise.
// WAIT blocks its connection until it returns (up to the timeout when a replica is missing), so
// these writes have a connection of their own: the main one keeps serving everything else.
import type { Logger } from '../../log.js';
import {
  closeClient,
  createClient,
  untilReady,
  watchConnection,
  type RedisClient,
  type RedisEndpoint,
} from './connection.js';
import { defineScripts, type ScriptName } from './scripts.js';

type PipelineCall = (...args: (string | number)[]) => unknown;

/** Fewer replicas than required acknowledged a write within the timeout. */
export class ReplicationTimeoutError extends Error {
  constructor(required: number, acked: number, timeoutMs: number) {
    super(
      `Only ${acked} of ${required} Redis replicas acknowledged the write within ${timeoutMs} ms ` +
        '(ENTROPY_REDIS_WAIT_REPLICAS): refused',
    );
  }
}

export class Replication {
  /** The connection for writes that wait for replicas (the main one when none are awaited). */
  readonly client: RedisClient;
  private readonly own: boolean;

  constructor(
    endpoint: RedisEndpoint,
    main: RedisClient,
    /** 0: no waiting. */
    readonly replicas: number,
    private readonly timeoutMs: number,
    logger: Logger,
  ) {
    this.own = replicas > 0;
    if (!this.own) {
      this.client = main;
      return;
    }
    this.client = createClient(endpoint, false);
    defineScripts(this.client);
    watchConnection(this.client, 'replicated-write', logger);
  }

  connect(): void {
    if (this.own) this.client.connect().catch(() => undefined);
  }

  ready(): Promise<void> {
    return this.own ? untilReady(this.client) : Promise.resolve();
  }

  async close(): Promise<void> {
    if (this.own) await closeClient(this.client);
  }

  get enabled(): boolean {
    return this.replicas > 0;
  }

  /** Runs a script and then WAIT in one pipeline (one connection: the master of the keys'
   *  slot); resolves to the script's reply and the number of replicas that acknowledged. */
  async scriptThenWait<T>(
    name: ScriptName,
    keys: string[],
    args: (string | number)[],
  ): Promise<{ reply: T; acked: number }> {
    const pipeline = this.client.pipeline();
    (pipeline as unknown as Record<ScriptName, PipelineCall>)[name].call(
      pipeline,
      ...keys,
      ...args,
    );
    pipeline.wait(this.replicas, this.timeoutMs);
    const results = (await pipeline.exec()) ?? [];
    const [scriptErr, reply] = results[0] ?? [new Error('empty pipeline reply')];
    if (scriptErr) throw scriptErr;
    const [waitErr, acked] = results[1] ?? [new Error('no WAIT reply')];
    if (waitErr) throw waitErr;
    return { reply: reply as T, acked: Number(acked) };
  }

  /** After a write on `key`'s slot: throws ReplicationTimeoutError when fewer than `replicas`
   *  replicas acknowledged it within the timeout. */
  async confirm(key: string): Promise<void> {
    if (!this.enabled) return;
    // EXISTS only routes the pipeline to the connection of the key's slot (on a cluster).
    const results =
      (await this.client.pipeline().exists(key).wait(this.replicas, this.timeoutMs).exec()) ?? [];
    const [waitErr, acked] = results[1] ?? [new Error('no WAIT reply')];
    if (waitErr) throw waitErr;
    this.check(Number(acked));
  }

  check(acked: number): void {
    if (acked < this.replicas)
      throw new ReplicationTimeoutError(this.replicas, acked, this.timeoutMs);
  }
}
