// Metrics on their own plain-HTTP listener (docs/protocol.md §2.9), bound where the operator says
// (ENTROPY_METRICS_ADDR, loopback by default), so a reverse proxy in front of the relay cannot
// expose them by accident. GET /metrics answers the Prometheus text; anything else (CONNECT and
// upgrades too) a padded 404.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Registry } from 'prom-client';
import { notFound } from '../errors.js';
import { securityHeaders } from './headers.js';
import { createListener } from '../net/listener.js';
import { clientErrorHandler, paddedError, replyAndDestroy } from './raw-reply.js';

export interface MetricsListener {
  /** e.g. http://127.0.0.1:9464 */
  readonly url: string;
  close(): Promise<void>;
}

async function answer(registry: Registry, req: IncomingMessage, res: ServerResponse) {
  let error: unknown = notFound();
  if (req.method === 'GET' && (req.url ?? '').split('?')[0] === '/metrics') {
    try {
      const text = await registry.metrics();
      res.writeHead(200, { ...securityHeaders(false), 'Content-Type': registry.contentType });
      res.end(text);
      return;
    } catch (err) {
      error = err; // answered 500 internal_error
    }
  }
  const { status, headers, body } = paddedError(error, false);
  res.writeHead(status, headers).end(body);
}

export async function startMetricsListener(
  registry: Registry,
  at: { host: string; port: number },
  timeoutMs: number,
): Promise<MetricsListener> {
  const server = createListener(timeoutMs);
  server.on('clientError', clientErrorHandler(false));
  server.on('request', (req, res) => void answer(registry, req, res));
  // Without listeners Node would drop a CONNECT without a word and leave an upgrade unanswered.
  server.on('connect', (_req, socket: Duplex) => replyAndDestroy(socket, notFound(), false));
  server.on('upgrade', (_req, socket: Duplex) => replyAndDestroy(socket, notFound(), false));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(at.port, at.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { address, port } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;
  return {
    url: `http://${host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
