// HTTP upgrade requests on the relay's server (docs/protocol.md §1): every refusal is answered
// here, padded with the security headers, before the WebSocket library sees the request; an
// accepted upgrade is handed on with the client's limit key.
import type { Server as HttpServer, IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { RelayError } from '../errors.js';
import { clientIp, type TrustFn } from '../net/client-ip.js';
import { ipLimitKey } from '../net/ip-limit-key.js';
import { replyAndDestroy } from './raw-reply.js';
import { upgradeRefusal, type UpgradeRefusal } from './upgrade-check.js';

export interface UpgradeTarget {
  /** False once the server is shutting down: upgrades are refused with 503. */
  readonly accepting: boolean;
  accept(req: IncomingMessage, socket: Socket, head: Buffer, ipKey: string): void;
}

const SHUTTING_DOWN: UpgradeRefusal = {
  error: new RelayError(503, 'server_shutdown', 'Server is shutting down'),
};

export function handleUpgrades(
  server: HttpServer,
  options: { tls: boolean; trust: TrustFn; target: UpgradeTarget },
): void {
  const { tls, trust, target } = options;
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const refusal = target.accepting ? upgradeRefusal(req) : SHUTTING_DOWN;
    if (refusal) return replyAndDestroy(socket, refusal.error, tls, refusal.headers);
    target.accept(req, socket as Socket, head, ipLimitKey(clientIp(req, trust)));
  });
}
