// Starts a real relay (real sockets, TLS by default) for a test, with its logs captured.
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { defaultConfig, type Config } from '../../src/config.js';
import { startRelay, type Relay } from '../../src/server.js';
import type { Store } from '../../src/store/store.js';
import { captureLogs } from './logs.js';

export interface TestRelay {
  relay: Relay;
  /** Every log line the relay wrote, as raw JSON text. */
  logs: string[];
  request(path: string, options?: RequestOptions): Promise<HttpResult>;
  /** GET /metrics on the relay's metrics listener. */
  metrics(): Promise<HttpResult>;
  close(): Promise<void>;
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  localAddress?: string;
}

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  /** The body parsed as JSON (undefined when it is not JSON). */
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

export function testConfig(overrides: Partial<Config> = {}): Config {
  return {
    ...defaultConfig(),
    port: 0,
    addr: '127.0.0.1',
    metricsAddr: '127.0.0.1:0',
    logLevel: 'debug',
    ...overrides,
  };
}

/** `waitReady: false` returns as soon as the relay listens, before its store is ready. */
export async function startTestRelay(
  overrides: Partial<Config> = {},
  options: { store?: Store; waitReady?: boolean } = {},
): Promise<TestRelay> {
  const config = testConfig(overrides);
  const { logger, logs } = captureLogs(config.logLevel);
  const relay = await startRelay(config, { logger, store: options.store });
  if (options.waitReady !== false) {
    await relay.ready.catch(async (err: unknown) => {
      await relay.close();
      throw err;
    });
  }
  return {
    relay,
    logs,
    request: (path, opts) => requestRelay(relay, path, opts),
    metrics: () => requestRelay(relay, new URL('/metrics', relay.metricsUrl).href),
    close: () => relay.close(),
  };
}

export function requestRelay(
  relay: Relay,
  path: string,
  options: RequestOptions = {},
): Promise<HttpResult> {
  const url = new URL(path, relay.url);
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(
      url,
      {
        method: options.method ?? 'GET',
        headers: options.headers,
        localAddress: options.localAddress,
        agent: false,
        ca: relay.tls?.cert,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          let json: unknown;
          try {
            json = JSON.parse(body.toString('utf8'));
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}
