// HTTP/1.1 requests must name their Host (RFC 9112 §3.2). Node's own check would answer an empty,
// unpadded 400, so it is off (listener.ts): requests are refused by the Fastify hook
// (http/host-header.ts) and upgrades by http/upgrade-check.ts, both with this test.
import type { IncomingMessage } from 'node:http';

export function lacksHost(req: IncomingMessage): boolean {
  return req.headers.host === undefined && req.httpVersion === '1.1';
}
