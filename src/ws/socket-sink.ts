// Where a session's outbox writes (normalize/outbox.ts FrameSink). A padded frame built as a
// complete WebSocket frame (normalize/padding.ts pad*Frame) is written to the socket as is, in
// ONE write: over TLS one write is one record (up to 16 KiB), so every padded frame leaves as
// one record of the same length (docs/protocol.md §6); on a plain socket it is one send. (ws would
// write a separate header buffer and the payload, corked: the same bytes, with more work per
// frame.) ws still owns the connection — reading, control frames, closing — and frames are only
// written while it is open (the outbox checks readyState), so nothing follows its close frame.
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import type { FrameSink } from '../normalize/traffic-shaper.js';

export class SocketSink implements FrameSink {
  constructor(
    private readonly ws: WebSocket,
    private readonly socket: Duplex,
  ) {}

  get readyState(): number {
    return this.ws.readyState;
  }

  send(data: Buffer, options: { binary: boolean }, cb: (err?: Error | null) => void): void {
    this.ws.send(data, options, cb);
  }

  sendFrame(frame: Buffer, cb: (err?: Error | null) => void): void {
    this.socket.write(frame, cb);
  }
}
