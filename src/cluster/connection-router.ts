// Where the primary sends each connection it accepts: to the worker that serves the client's
// address (rendezvous hashing, rendezvous.ts), so that every connection of one client IP lands in
// one process and the in-process per-IP limits hold as they do in a single process. While no
// worker serves, connections wait (held-connections.ts).
import type { Socket } from 'node:net';
import type { Counter } from 'prom-client';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { compileTrust, isTrustedProxy, type TrustFn } from '../net/client-ip.js';
import { FrontDoor, type Arrival } from '../net/front-door.js';
import { ipLimitKey } from '../net/ip-limit-key.js';
import { HeldConnections } from './held-connections.js';
import type { ToWorker } from './messages.js';
import { Rendezvous } from './rendezvous.js';
import type { WorkerProcess } from './worker-process.js';

/** One of the primary's slots: the worker its share of clients goes to, if one serves now. */
export interface ServingSlot {
  readonly index: number;
  readonly serving: WorkerProcess | undefined;
}

export class ConnectionRouter {
  private readonly rendezvous = new Rendezvous();
  private readonly trust: TrustFn;
  private readonly held: HeldConnections;
  private door: FrontDoor | undefined;
  private closed = false;

  constructor(
    private readonly config: Config,
    private readonly logger: Logger,
    private readonly slots: readonly ServingSlot[],
    private readonly metrics: { proxyHeadersRefused: Counter<'reason'> },
  ) {
    this.trust = compileTrust(config.trustProxy);
    this.held = new HeldConnections(config.handshakeTimeoutMs);
  }

  /** Accepts connections on the configured address; resolves with the port. */
  async listen(): Promise<number> {
    // The socket is read here only for a PROXY protocol header; what follows it goes with the
    // socket to its worker.
    this.door = new FrontDoor({
      trust: (address) => isTrustedProxy(address, this.trust),
      proxyProtocol: this.config.proxyProtocol,
      headerTimeoutMs: this.config.handshakeTimeoutMs,
      metrics: this.metrics,
      onArrival: (socket, arrival) => this.route(socket, arrival),
    });
    return (await this.door.listen(this.config.port, this.config.addr)).port;
  }

  /** A worker started serving: the held connections go to their workers. */
  releaseHeld(): void {
    this.held.release((socket, arrival) => this.route(socket, arrival));
  }

  /** Stops accepting and closes the held connections; resolves once the listener is closed. */
  close(): Promise<void> {
    this.closed = true;
    const doorClosed = this.door?.close() ?? Promise.resolve();
    this.held.destroyAll();
    return doorClosed;
  }

  /** The slot that serves a client: by its limit address (IPv6: its /64). A trusted proxy
   *  without PROXY protocol carries many clients, whose limits apply by forwarded address
   *  after the HTTP head: its connections are spread by port instead. */
  private slotFor(arrival: Arrival): number | undefined {
    const live = this.slots.filter((s) => s.serving).map((s) => s.index);
    const client = isTrustedProxy(arrival.clientAddress, this.trust)
      ? `${arrival.clientAddress}#${arrival.clientPort}`
      : ipLimitKey(arrival.clientAddress);
    return this.rendezvous.pick(client, live);
  }

  private route(socket: Socket, arrival: Arrival): void {
    const slot = this.slotFor(arrival);
    const target = slot === undefined ? undefined : this.slots[slot]!.serving;
    if (!target) {
      // No worker serves right now (all restarting): keep the connection until one does.
      if (this.closed || !this.held.hold(socket, arrival)) socket.destroy();
      return;
    }
    socket.on('error', () => undefined);
    const message: ToWorker = {
      type: 'entropy:connection',
      clientAddress: arrival.clientAddress,
      clientPort: arrival.clientPort,
      leftover: arrival.leftover.toString('base64'),
    };
    target.send(message, socket).catch((err: unknown) => {
      this.logger.warn({ err, worker: target.slot }, 'could not hand a connection to its worker');
      socket.destroy();
    });
  }
}
