// Connections the primary accepted while no worker serves (all restarting): each is held until
// a worker is ready, or closed at the handshake deadline; beyond a bound, new ones are refused.
import type { Socket } from 'node:net';
import type { Arrival } from '../net/front-door.js';

/** Connections held at most at once. */
const MAX_HELD = 1024;

interface Held {
  socket: Socket;
  arrival: Arrival;
  timer: NodeJS.Timeout;
}

export class HeldConnections {
  private readonly held = new Set<Held>();

  /** `timeoutMs`: how long one connection is held (the handshake deadline). */
  constructor(private readonly timeoutMs: number) {}

  /** Holds the connection; false (and it is not held) when the bound is reached. */
  hold(socket: Socket, arrival: Arrival): boolean {
    if (this.held.size >= MAX_HELD) return false;
    const entry: Held = {
      socket,
      arrival,
      timer: setTimeout(() => {
        this.held.delete(entry);
        socket.destroy();
      }, this.timeoutMs),
    };
    this.held.add(entry);
    socket.on('error', () => undefined);
    socket.once('close', () => {
      clearTimeout(entry.timer);
      this.held.delete(entry);
    });
    return true;
  }

  /** Lets go of every held connection, handing each still open to `route`. */
  release(route: (socket: Socket, arrival: Arrival) => void): void {
    for (const entry of [...this.held]) {
      clearTimeout(entry.timer);
      this.held.delete(entry);
      if (!entry.socket.destroyed) route(entry.socket, entry.arrival);
    }
  }

  destroyAll(): void {
    for (const entry of this.held) entry.socket.destroy();
  }
}
