// Client address resolution: the TCP peer, or, when the peer is a trusted proxy
// (ENTROPY_TRUST_PROXY), the address it forwarded in X-Forwarded-For.
import type { IncomingMessage } from 'node:http';
import proxyaddr from '@fastify/proxy-addr';

export type TrustFn = (addr: string, hop: number) => boolean;

export function compileTrust(list: string[]): TrustFn {
  return list.length > 0 ? proxyaddr.compile(list) : () => false;
}

export function isTrustedProxy(ip: string, trust: TrustFn): boolean {
  return trust(ip, 0);
}

export function clientIp(req: IncomingMessage, trust: TrustFn): string {
  return proxyaddr(req, trust);
}
