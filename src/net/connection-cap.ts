// Per-IP concurrent connection cap (PROTOCOL.md §1), applied to the raw TCP socket when it is
// accepted, before TLS or HTTP parsing. IPv6 clients are counted per /64 (ip-limit-key.ts).
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

  /** Handler for the server's 'connection' event. */
  readonly onConnection = (socket: Socket): void => {
    const ip = socket.remoteAddress;
    if (ip === undefined) {
      socket.destroy();
      return;
    }
    this.metrics.openSockets.inc();
    socket.once('close', () => this.metrics.openSockets.dec());
    // A trusted reverse proxy carries many clients; their limits apply by forwarded address.
    if (isTrustedProxy(ip, this.trust)) return;
    const key = ipLimitKey(ip);
    const count = this.open.get(key) ?? 0;
    if (count >= this.maxPerIp) {
      this.metrics.connectionsRefused.inc();
      socket.destroy();
      return;
    }
    this.open.set(key, count + 1);
    socket.once('close', () => {
      const left = (this.open.get(key) ?? 1) - 1;
      if (left <= 0) this.open.delete(key);
      else this.open.set(key, left);
    });
  };
}
