// Settings that are valid one by one (the option table checked them) but unwise or
// contradictory together: what a careful reviewer of the configuration would point out.
import { isIP } from 'node:net';
import type { Config } from '../config.js';
import { OPTIONS } from '../config/options.js';
import { parseListenAddress } from '../config/kinds.js';
import { MAX_TARGETS } from '../relay/relay-service.js';
import { redisEndpoint } from '../store/index.js';
import { ok, warn, type CheckResult } from './check.js';

/** A base difficulty from which every client pays 16^d hashes too many (d = 6: ~17 million). */
const POW_BASE_HIGH = 6;
/** A top difficulty clients cannot be expected to reach (d = 10: ~10^12 hashes). */
const POW_MAX_HIGH = 10;

export function configChecks(config: Config): CheckResult[] {
  const results: CheckResult[] = [ok('config', `valid (${OPTIONS.length} settings)`)];
  const note = (check: string, detail: string) => results.push(warn(`config.${check}`, detail));
  if (config.powBase >= POW_BASE_HIGH)
    note(
      'pow',
      `ENTROPY_POW_BASE ${config.powBase}: every challenge costs clients about 16^${config.powBase} ` +
        `(${hashes(config.powBase)}) hashes even without load; 4 is the default`,
    );
  if (config.powMax >= POW_MAX_HIGH)
    note(
      'pow',
      `ENTROPY_POW_MAX ${config.powMax}: under load clients would be asked about ` +
        `${hashes(config.powMax)} hashes per challenge; 8 is the default`,
    );
  if (config.limitMsgSend < MAX_TARGETS)
    note(
      'limits',
      `ENTROPY_LIMIT_MSG_SEND ${config.limitMsgSend} is below the ${MAX_TARGETS} targets a ` +
        `group_multicast may have: larger multicasts can never be sent`,
    );
  if (config.limitQueueBytes < config.maxWsMessageBytes)
    note(
      'limits',
      `ENTROPY_LIMIT_QUEUE_BYTES ${config.limitQueueBytes} is below ENTROPY_MAX_WS_MESSAGE_BYTES ` +
        `${config.maxWsMessageBytes}: a message larger than it can never be queued for an offline recipient`,
    );
  const memoryStore = redisEndpoint(config) === undefined;
  if (memoryStore && config.queueMaxBytes > config.queueTotalBytes)
    note(
      'queues',
      `ENTROPY_QUEUE_MAX_BYTES ${config.queueMaxBytes} exceeds ENTROPY_QUEUE_TOTAL_BYTES ` +
        `${config.queueTotalBytes}: one recipient's queue can take all offline storage`,
    );
  if (config.compat === 'v1')
    note('compat', 'ENTROPY_COMPAT=v1: identities of v1 clients are not bound to their keys');
  if (config.allowedOrigins.includes('*'))
    note(
      'origins',
      'ENTROPY_ALLOWED_ORIGINS has "*": any web page may call the relay from a browser',
    );
  if (config.trustProxy.some((range) => /^(0\.0\.0\.0|::)\/0$/.test(range)))
    note('proxy', 'ENTROPY_TRUST_PROXY trusts every address: any client can forge X-Forwarded-For');
  const metrics = config.metricsAddr === 'off' ? undefined : parseListenAddress(config.metricsAddr);
  if (metrics && !isLoopback(metrics.host))
    note(
      'metrics',
      `ENTROPY_METRICS_ADDR ${config.metricsAddr}: /metrics (no authentication) is open beyond this host`,
    );
  return results;
}

function hashes(difficulty: number): string {
  return (16 ** difficulty).toExponential(1).replace('e+', 'e');
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
}
