// `entropy-relay serve --workers N`: the number of workers, and running the primary as a process
// (signals, exit status). See primary.ts for what the primary does, worker.ts for a worker.
import { availableParallelism } from 'node:os';
import { ConfigError, type Config } from '../config.js';
import { pino } from 'pino';
import { createLogger } from '../log.js';
import { redisEndpoint } from '../store/index.js';
import { Primary } from './primary.js';

/** Whether the relays would share a store (more than one worker needs one). */
function sharedStore(config: Config): boolean {
  return redisEndpoint(config) !== undefined;
}

/** How many workers to run ("auto": one per core); throws a ConfigError when more than one is
 *  asked for without Redis: each would have its own memory store, and clients on different
 *  workers could not reach each other. */
export function workerCount(config: Config, cores = availableParallelism()): number {
  const workers = config.workers === 'auto' ? cores : config.workers;
  if (workers > 1 && !sharedStore(config)) {
    throw new ConfigError(
      `ENTROPY_WORKERS=${config.workers} (${workers} workers) needs a shared store: set ENTROPY_REDIS_URL, ENTROPY_REDIS_CLUSTER or ENTROPY_REDIS_SENTINELS, or run one worker`,
    );
  }
  return workers;
}

/** Runs the primary until SIGTERM/SIGINT have drained every worker; exits the process with 0
 *  when every worker drained cleanly, 1 otherwise (or when start-up failed). */
export async function serveWithWorkers(config: Config, workers: number): Promise<void> {
  // Written line by line: the workers write to the same output.
  const logger = createLogger(config.logLevel, pino.destination({ sync: true }));
  const primary = new Primary(config, logger, workers);
  const exit = (code: number): never => {
    logger.flush();
    process.exit(code);
  };
  process.once('SIGTERM', () => void primary.stop('SIGTERM'));
  process.once('SIGINT', () => void primary.stop('SIGINT'));
  process.on('SIGHUP', () => {
    logger.info({ signal: 'SIGHUP' }, 'signal received');
    void primary.reload();
  });
  try {
    await primary.start();
  } catch (err) {
    logger.fatal({ err }, 'failed to start');
    exit(1);
  }
  exit(await primary.done);
}
