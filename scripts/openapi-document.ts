// The OpenAPI document exactly as a relay serves it at GET /openapi.json: a relay on the memory
// store, without TLS or listeners beyond loopback, asked through Fastify's inject.
import { defaultConfig } from '../src/config.js';
import { createLogger } from '../src/log.js';
import { startRelay } from '../src/server.js';

export async function openApiDocument(): Promise<Record<string, unknown>> {
  const config = {
    ...defaultConfig(),
    port: 0,
    addr: '127.0.0.1',
    tls: false,
    metricsAddr: 'off',
    logLevel: 'silent' as const,
  };
  const relay = await startRelay(config, { logger: createLogger('silent') });
  try {
    const reply = await relay.app.inject({ method: 'GET', url: '/openapi.json' });
    if (reply.statusCode !== 200) throw new Error(`GET /openapi.json answered ${reply.statusCode}`);
    return JSON.parse(reply.body) as Record<string, unknown>;
  } finally {
    await relay.close();
  }
}
