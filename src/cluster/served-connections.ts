// Whether every open connection of a server has reached its first request (or upgrade): a
// worker about to drain waits for this, so that a connection handed over just before the drain
// is answered instead of being cut during its TLS handshake or request head. Counted, not
// paired: a TLS server hands out the raw socket on 'connection' and another object, the TLS
// socket, with each request; each open raw socket has at most one open TLS socket.
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Socket } from 'node:net';

export class ServedConnections {
  private readonly open = new Set<Socket>();
  private readonly served = new Set<Socket>();
  private onChange: (() => void) | undefined;

  constructor(server: HttpServer) {
    server.on('connection', (socket: Socket) => {
      if (socket.destroyed) return;
      this.open.add(socket);
      socket.once('close', () => this.forget(this.open, socket));
    });
    const serve = (req: IncomingMessage): void => {
      const socket = req.socket;
      if (socket.destroyed || this.served.has(socket)) return;
      this.served.add(socket);
      socket.once('close', () => this.forget(this.served, socket));
      this.onChange?.();
    };
    server.on('request', serve);
    server.on('checkExpectation', serve);
    server.on('upgrade', serve);
  }

  private forget(set: Set<Socket>, socket: Socket): void {
    set.delete(socket);
    this.onChange?.();
  }

  /** True when no open connection is still before its first request. */
  get allServed(): boolean {
    return this.open.size <= this.served.size;
  }

  /** Resolves once every open connection has been served (or closed), or after `timeoutMs`. */
  settled(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.onChange = undefined;
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.onChange = () => {
        if (this.allServed) done();
      };
      this.onChange();
    });
  }
}
