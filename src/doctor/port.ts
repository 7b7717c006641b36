// Listeners: the relay's address and port (and the metrics listener's) can be bound now.
import { createServer } from 'node:net';
import type { Config } from '../config.js';
import { parseListenAddress } from '../config/kinds.js';
import { fail, ok, type CheckResult } from './check.js';

export async function portChecks(config: Config): Promise<CheckResult[]> {
  const results = [await bindable('port.main', config.addr, config.port)];
  const metrics = config.metricsAddr === 'off' ? undefined : parseListenAddress(config.metricsAddr);
  if (metrics) results.push(await bindable('port.metrics', metrics.host, metrics.port));
  return results;
}

async function bindable(check: string, host: string, port: number): Promise<CheckResult> {
  const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  if (port === 0) return ok(check, `${where}: any free port (ENTROPY_PORT=0)`);
  const problem = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
    const server = createServer();
    server.once('error', resolve);
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(undefined)));
  });
  if (problem === undefined) return ok(check, `${where} can be bound`);
  const why =
    problem.code === 'EADDRINUSE'
      ? 'already in use (another relay, or another program?)'
      : problem.code === 'EACCES'
        ? `not allowed${port < 1024 ? ' (a port below 1024 needs CAP_NET_BIND_SERVICE)' : ''}`
        : problem.code === 'EADDRNOTAVAIL'
          ? 'this host has no such address'
          : problem.message;
  return fail(check, `${where}: ${why}`);
}
