// `entropy-relay doctor`: checks a configuration before it goes live, one family of checks per
// module, and reports every check as it completes.
import type { Config } from '../config.js';
import { closeClient, type RedisClient } from '../store/redis/connection.js';
import type { CheckResult } from './check.js';
import { clockChecks } from './clock.js';
import { configChecks } from './config.js';
import { limitChecks } from './limits.js';
import { portChecks } from './port.js';
import { connectRedis, redisChecks, topologyOf } from './redis.js';
import { secretChecks } from './secret.js';
import { tlsChecks } from './tls.js';

export { DEFAULT_EXPECTED_SESSIONS } from './limits.js';
export { formatJson, formatText, type CheckResult, type Verdict } from './check.js';

export interface DoctorOptions {
  expectedSessions: number;
  /** Called with each result as soon as it is known. */
  report?: (result: CheckResult) => void;
}

export async function runDoctor(config: Config, options: DoctorOptions): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const report = (batch: CheckResult[]): void => {
    for (const result of batch) {
      results.push(result);
      options.report?.(result);
    }
  };
  report(configChecks(config));
  report(secretChecks(config));
  report(await limitChecks(options.expectedSessions));
  report(await portChecks(config));
  report(await tlsChecks(config));
  let redis: RedisClient | undefined;
  const topology = topologyOf(config);
  try {
    if (topology) {
      const connected = await connectRedis(topology, config);
      report(connected.results);
      if ('client' in connected) {
        redis = connected.client;
        report(await redisChecks(topology, redis, config));
      }
    }
    report(await clockChecks(redis));
  } finally {
    if (redis) await closeClient(redis);
  }
  return results;
}
