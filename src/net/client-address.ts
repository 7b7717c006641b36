// The real client of a connection. Behind a load balancer speaking the PROXY protocol the TCP peer
// is the balancer; the client is the address its header named (front-door.ts). The relay records
// that address on the socket when it adopts it, so that everything reading `remoteAddress` — the
// per-IP connection cap, the X-Forwarded-For resolution (client-ip.ts), Fastify's `request.ip`,
// the rate-limit buckets — sees the client, not the balancer.
import { isIP, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';

interface ClientAddress {
  address: string;
  port: number;
}

const clients = new WeakMap<Socket, ClientAddress>();

/** Makes `socket` report `address`:`port` as its remote end from now on. */
export function setClientAddress(socket: Socket, address: string, port: number): void {
  const client = { address, port };
  clients.set(socket, client);
  reportAs(socket, client);
}

/** The client recorded for `socket` (or for the TCP socket under a TLS socket), if any. */
export function clientAddressOf(socket: Socket): ClientAddress | undefined {
  return clients.get(socket) ?? clients.get(tcpUnder(socket) ?? socket);
}

/** A TLS socket made over an adopted TCP socket reports the client recorded for that socket (call
 *  it as soon as the TLS socket exists: the TLS server's 'secureConnection'). */
export function inheritClientAddress(tlsSocket: TLSSocket): void {
  const client = clientAddressOf(tlsSocket);
  if (client) {
    clients.set(tlsSocket, client);
    reportAs(tlsSocket, client);
  }
}

function tcpUnder(socket: Socket): Socket | undefined {
  // Node keeps the socket a server-side TLSSocket was made over in `_parent`.
  const parent = (socket as { _parent?: unknown })._parent;
  return parent !== null && typeof parent === 'object' ? (parent as Socket) : undefined;
}

function reportAs(socket: Socket, client: ClientAddress): void {
  // Own properties shadow net.Socket's getters (which ask the kernel for the TCP peer).
  Object.defineProperties(socket, {
    remoteAddress: { value: client.address, configurable: true },
    remotePort: { value: client.port, configurable: true },
    remoteFamily: { value: isIP(client.address) === 6 ? 'IPv6' : 'IPv4', configurable: true },
  });
}
