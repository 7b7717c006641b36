// Per-IP concurrent connection cap (docs/protocol.md §1), applied to the raw TCP socket when the
// relay adopts it (server.ts), before TLS or HTTP parsing, by its real client (the PROXY header's
// when there is one). IPv6 clients are counted per /64 (ip-limit-key.ts).
import type { Socket } from 'node:net';
import type { Metrics } from '../metrics.js';
import { isTrustedProxy, type TrustFn } from './client-ip.js';
import { ipLimitKey } from './ip-limit-key.js';

export class ConnectionCap {
  private readonly open = new Map<string, number>();

  constructor(
    private readonly maxPerIp: number,
    private readonly trust: TrustFn,
    private readonly metrics: Metrics,
  ) {}

  /** Counts `socket` against `client` until it closes, or destroys it when `client` is at the
   *  cap. False when the socket was destroyed. */
  admit(socket: Socket, client: string): boolean {
    if (socket.destroyed) return false;
    this.metrics.openSockets.inc();
    socket.once('close', () => this.metrics.openSockets.dec());
    // A trusted reverse proxy carries many clients; their limits apply by forwarded address.
    if (isTrustedProxy(client, this.trust)) return true;
    const key = ipLimitKey(client);
    const count = this.open.get(key) ?? 0;
    if (count >= this.maxPerIp) {
      this.metrics.connectionsRefused.inc();
      socket.destroy();
      return false;
    }
    this.open.set(key, count + 1);
    socket.once('close', () => {
      const left = (this.open.get(key) ?? 1) - 1;
      if (left <= 0) this.open.delete(key);
      else this.open.set(key, left);
    });
    return true;
  }
}
