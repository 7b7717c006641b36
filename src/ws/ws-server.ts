// WebSocket on the relay's own server and port (docs/protocol.md §1, §4): upgrades the HTTP layer
// accepted become sockets with no permessage-deflate (compression defeats padding) and capped
// inbound messages; one Session per socket.
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Router } from '../relay/router.js';
import { SECOND_MS, withTimeout } from '../time.js';
import { Session, type SessionDeps } from './session.js';

const KEEPALIVE_MS = 30_000;
const SHUTDOWN_WAIT_MS = 5000;

export class WebSocketLayer {
  private readonly wss: WebSocketServer;
  private readonly sessions = new Set<Session>();
  private readonly deps: SessionDeps;
  private readonly router: Router;
  accepting = true;

  constructor(deps: Omit<SessionDeps, 'onClosed'>) {
    this.router = deps.router;
    this.deps = { ...deps, onClosed: (s) => this.sessions.delete(s) };
    this.wss = new WebSocketServer({
      noServer: true,
      perMessageDeflate: false,
      maxPayload: deps.config.maxWsMessageBytes,
      clientTracking: false,
    });
  }

  /** An upgrade request the HTTP layer checked: completes the handshake and opens a session. */
  accept(req: IncomingMessage, socket: Socket, head: Buffer, ipKey: string): void {
    this.wss.handleUpgrade(req, socket, head, (ws) => this.open(ws, socket, ipKey));
  }

  /** A new WebSocket: kept apart from the upgrade handler so the request is not retained. */
  private open(ws: WebSocket, socket: Socket, ipKey: string): void {
    socket.setKeepAlive(true, KEEPALIVE_MS);
    socket.setTimeout(this.deps.config.idleTimeoutS * SECOND_MS, () => ws.terminate());
    this.sessions.add(new Session(ws, socket, ipKey, this.deps));
  }

  /** Refuses new sockets, closes every session (`server_shutdown`) and waits for their cleanup. */
  async close(): Promise<void> {
    this.accepting = false;
    // Statuses first (offers still unanswered are queued first), so they leave before each
    // session's closing error frame.
    await withTimeout(this.router.settlePending(), SHUTDOWN_WAIT_MS);
    for (const session of this.sessions) session.closeWith('server_shutdown');
    await withTimeout(Promise.all([...this.sessions].map((s) => s.closed)), SHUTDOWN_WAIT_MS);
  }
}
