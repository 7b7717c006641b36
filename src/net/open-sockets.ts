// The server's connections, so that shutdown can end the ones nothing else would: once the server
// closes, Node no longer enforces request-head deadlines, and Fastify only closes idle keep-alive
// connections.
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Socket } from 'node:net';
import { once } from 'node:events';
import { Server as TlsServer } from 'node:tls';
import { withTimeout } from '../time.js';

export class OpenSockets {
  /** Every accepted TCP socket. */
  private readonly accepted = new Set<Socket>();
  /** Sockets the HTTP parser reads (after TLS), until they close. */
  private readonly parsed = new Set<Socket>();
  /** Sockets that carried a request or an upgrade. */
  private readonly served = new WeakSet<Socket>();

  constructor(server: HttpServer) {
    const track = (set: Set<Socket>) => (socket: Socket) => {
      if (socket.destroyed) return;
      set.add(socket);
      socket.once('close', () => set.delete(socket));
    };
    server.on('connection', track(this.accepted));
    server.on(server instanceof TlsServer ? 'secureConnection' : 'connection', track(this.parsed));
    const serve = (req: IncomingMessage): void => void this.served.add(req.socket);
    server.on('request', serve);
    server.on('checkExpectation', serve);
    server.on('upgrade', serve);
  }

  /** Resolves once every accepted connection has closed. */
  async allClosed(): Promise<void> {
    while (this.accepted.size > 0) {
      await Promise.all([...this.accepted].map((s) => once(s, 'close').catch(() => undefined)));
    }
  }

  /** Destroys the connections that never sent a whole request head (silent or slow clients). */
  destroyUnserved(): void {
    for (const socket of this.parsed) if (!this.served.has(socket)) socket.destroy();
  }

  /** Waits for `closed` up to `graceMs`, then destroys every connection still open (those still
   *  in their TLS handshake included). */
  async destroyAfter(closed: Promise<unknown>, graceMs: number): Promise<void> {
    await withTimeout(closed, graceMs);
    for (const socket of this.accepted) socket.destroy();
  }
}
