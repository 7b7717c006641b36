// Per-IP concurrent connection cap (PROTOCOL.md §1), applied to the raw TCP socket when it is
// accepted, before TLS or HTTP parsing. IPv6 clients are counted per /64.
import { isIPv4, isIPv6, type Socket } from 'node:net';
import type { Metrics } from '../metrics.js';
import { isTrustedProxy, type TrustFn } from './client-ip.js';

/** The address a limit applies to: the IPv4 address, or the /64 prefix of an IPv6 address. */
export function ipLimitKey(ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return mapped[1]!;
  if (isIPv4(ip) || !isIPv6(ip)) return ip;
  return expandIPv6(ip).slice(0, 4).join(':') + '::/64';
}

function expandIPv6(ip: string): string[] {
  const [head = '', tail] = ip.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const last = right.length ? right[right.length - 1]! : left[left.length - 1];
  if (last?.includes('.')) {
    // Embedded IPv4 in the last 32 bits.
    const octets = last.split('.').map(Number);
    const words = [
      ((octets[0]! << 8) | octets[1]!).toString(16),
      ((octets[2]! << 8) | octets[3]!).toString(16),
    ];
    if (right.length) right.splice(-1, 1, ...words);
    else left.splice(-1, 1, ...words);
  }
  const fill = tail === undefined ? [] : new Array(8 - left.length - right.length).fill('0');
  return [...left, ...fill, ...right].map((w) => parseInt(w, 16).toString(16));
}

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
