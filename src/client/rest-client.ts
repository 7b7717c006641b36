// The REST client in Node: the platform-neutral client (core/rest.ts) over node:http(s), which
// takes a CA to trust (a self-signed relay) and a source address; PoW in worker threads.
// `fetch` can replace the transport (options.fetch), e.g. to go through an undici dispatcher.
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { fetchTransport } from './core/fetch-transport.js';
import {
  RelayClientCore,
  type CoreClientOptions,
  type HttpAnswer,
  type HttpRequest,
  type HttpTransport,
} from './core/rest.js';
import { nodeIdentityOps, type Identity } from './identity.js';
import { solvePow } from './pow-solver.js';

export type { Challenge, ChallengeQuery, Solution } from './core/rest.js';

export interface ClientOptions extends CoreClientOptions {
  /** PEM CA (or the relay's self-signed certificate) to trust. */
  ca?: string | Buffer;
  /** Source address for requests (tests use 127.0.0.x to look like distinct clients). */
  localAddress?: string;
  /** Send requests with this fetch instead of node:http(s) (then `ca`/`localAddress` are unused). */
  fetch?: typeof fetch;
}

export class RelayClient extends RelayClientCore<Identity, ClientOptions> {
  constructor(options: ClientOptions) {
    super(options, {
      transport: options.fetch ? fetchTransport(options.fetch) : nodeTransport(options),
      solvePow,
      identity: nodeIdentityOps,
    });
  }
}

/** node:http(s) requests without keep-alive (each request its own connection, as before). */
export function nodeTransport(options: {
  ca?: string | Buffer;
  localAddress?: string;
}): HttpTransport {
  return ({ method, url, headers, body }: HttpRequest) =>
    new Promise<HttpAnswer>((resolve, reject) => {
      const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
      const req = send(
        url,
        { method, ca: options.ca, localAddress: options.localAddress, agent: false, headers },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const retryAfter = res.headers['retry-after'];
            resolve({
              status: res.statusCode ?? 0,
              text: Buffer.concat(chunks).toString('utf8'),
              ...(retryAfter === undefined ? {} : { retryAfter }),
            });
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
}
