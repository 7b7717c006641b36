// The relay's TCP listener. It accepts connections paused, reads the PROXY protocol header when
// ENTROPY_PROXY_PROTOCOL is on (only from ENTROPY_TRUST_PROXY peers), and hands each connection
// on with its real client and the bytes that followed the header: in one process to
// `relay.adopt`, in a cluster primary to a worker, which calls `relay.adopt` there.
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Counter } from 'prom-client';
import { readProxyHeader } from './proxy-header.js';

export interface Arrival {
  /** The client: the header's source address, or the TCP peer. */
  clientAddress: string;
  clientPort: number;
  /** Bytes received after the header, to be read before anything else the socket receives. */
  leftover: Buffer;
}

export type RefusalReason =
  /** A peer outside ENTROPY_TRUST_PROXY connected to a PROXY-protocol listener. */
  | 'untrusted_peer'
  /** The first bytes are not a PROXY header. */
  | 'missing'
  /** They start like one but are not a valid header. */
  | 'malformed'
  /** The header was not complete within the deadline. */
  | 'timeout'
  /** The peer closed after part of a header. */
  | 'incomplete';

export interface FrontDoorOptions {
  /** Whether a TCP peer may speak for clients (the compiled ENTROPY_TRUST_PROXY). */
  trust: (address: string) => boolean;
  /** ENTROPY_PROXY_PROTOCOL: every connection starts with a PROXY header (v1 or v2). */
  proxyProtocol: boolean;
  /** How long a connection has to send its whole header. */
  headerTimeoutMs: number;
  metrics?: { proxyHeadersRefused: Counter<'reason'> };
  /** Takes the connection (paused, reading nothing) from here on. */
  onArrival(socket: Socket, arrival: Arrival): void;
}

const NOTHING = Buffer.alloc(0);

export class FrontDoor {
  private readonly server: Server;
  /** Connections whose header is still being read. */
  private readonly reading = new Set<Socket>();

  constructor(private readonly options: FrontDoorOptions) {
    // Half-open connections and Nagle are the relay's servers' business: allow the one (the HTTP
    // server answers a client that half-closed after its request) and turn off the other, as
    // node:http does.
    this.server = createServer({ pauseOnConnect: true, allowHalfOpen: true, noDelay: true }, (s) =>
      this.accept(s),
    );
  }

  listen(port: number, host: string): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  /** Stops accepting and drops the connections still sending their header; the connections
   *  already handed on are their owner's. */
  close(): Promise<void> {
    for (const socket of this.reading) socket.destroy();
    if (!this.server.listening) return Promise.resolve();
    this.server.close();
    return new Promise((resolve) => setImmediate(resolve));
  }

  private accept(socket: Socket): void {
    const peer = socket.remoteAddress;
    if (peer === undefined) {
      socket.destroy(); // already gone
      return;
    }
    const peerPort = socket.remotePort ?? 0;
    if (!this.options.proxyProtocol) {
      this.options.onArrival(socket, {
        clientAddress: peer,
        clientPort: peerPort,
        leftover: NOTHING,
      });
      return;
    }
    if (!this.options.trust(peer)) {
      this.refuse(socket, 'untrusted_peer');
      return;
    }
    this.readHeader(socket, peer, peerPort);
  }

  private readHeader(socket: Socket, peer: string, peerPort: number): void {
    let received: Buffer = NOTHING;
    const done = (): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('error', onError);
      socket.off('close', done);
      this.reading.delete(socket);
    };
    const refuse = (reason: RefusalReason): void => {
      done();
      this.refuse(socket, reason);
    };
    const onData = (chunk: Buffer): void => {
      received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
      const read = readProxyHeader(received);
      if (read.kind === 'incomplete') return;
      if (read.kind !== 'header') {
        refuse(read.kind);
        return;
      }
      done();
      stopReading(socket);
      this.options.onArrival(socket, {
        clientAddress: read.client?.address ?? peer,
        clientPort: read.client?.port ?? peerPort,
        leftover: received.subarray(read.length),
      });
    };
    // A peer that leaves without a byte (a TCP health check) was refused nothing.
    const leave = (): void => {
      done();
      socket.destroy();
    };
    const onEnd = (): void => (received.length > 0 ? refuse('incomplete') : leave());
    const onError = leave;
    const timer = setTimeout(() => refuse('timeout'), this.options.headerTimeoutMs);
    this.reading.add(socket);
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('error', onError);
    socket.once('close', done);
    socket.resume();
  }

  private refuse(socket: Socket, reason: RefusalReason): void {
    this.options.metrics?.proxyHeadersRefused.inc({ reason });
    socket.destroy();
  }
}

/** Pauses `socket` and stops its handle reading, the state a `pauseOnConnect` server hands a
 *  socket in: nothing more is taken from the kernel until the socket is resumed, and the socket
 *  can be sent to another process without losing bytes. (`pause()` alone only stops 'data'
 *  events; the handle would go on reading into the stream's buffer.) */
function stopReading(socket: Socket): void {
  socket.pause();
  const handle = (socket as unknown as { _handle?: { reading?: boolean; readStop?: () => number } })
    ._handle;
  if (handle?.reading === true && typeof handle.readStop === 'function') {
    handle.reading = false;
    handle.readStop();
  }
}
