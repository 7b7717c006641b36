// The node:http(s) servers the relay listens with (docs/protocol.md §1, §9): TLS 1.3 only, and a
// connection must finish its TLS handshake, then its request head, each within `timeoutMs`.
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { TlsMaterial } from '../tls.js';

const REQUEST_TIMEOUT_MS = 30_000;
const KEEP_ALIVE_TIMEOUT_MS = 30_000;

export function createListener(timeoutMs: number, tls?: TlsMaterial): HttpServer {
  // Both deadlines are absolute (the handshake's from accept, a head's from the end of the handshake
  // or from its first byte): a client dribbling bytes does not extend them. Idle keep-alive
  // connections are closed after KEEP_ALIVE_TIMEOUT_MS.
  const options = {
    headersTimeout: timeoutMs,
    requestTimeout: Math.max(REQUEST_TIMEOUT_MS, timeoutMs),
    // How often Node checks the two above (its default, 30 s, would triple a 10 s deadline).
    connectionsCheckingInterval: Math.min(1000, Math.max(50, Math.floor(timeoutMs / 10))),
    // Node would answer a missing Host itself with an empty, unpadded 400: the app answers it.
    requireHostHeader: false,
  };
  const server: HttpServer = tls
    ? (createHttpsServer({
        ...options,
        handshakeTimeout: timeoutMs,
        cert: tls.cert,
        key: tls.key,
        minVersion: 'TLSv1.3',
        maxVersion: 'TLSv1.3',
      }) as unknown as HttpServer)
    : createHttpServer(options);
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  return server;
}
