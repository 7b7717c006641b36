// WebSocket on the relay's own server and port (PROTOCOL.md §1, §4): upgrades on /ws and /,
// checked before `ws` sees them, no permessage-deflate (compression defeats padding), inbound
// messages capped; one Session per socket.
import type { Server as HttpServer, IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { RelayError } from '../errors.js';
import { clientIp, type TrustFn } from '../net/client-ip.js';
import { ipLimitKey } from '../net/ip-limit-key.js';
import { replyAndDestroy } from '../http/raw-reply.js';
import type { TrafficShaper } from '../normalize/traffic-shaper.js';
import type { Router } from '../relay/router.js';
import { withTimeout } from '../time.js';
import { Session, type SessionDeps } from './session.js';
import { upgradeRefusal, type UpgradeRefusal } from './upgrade-check.js';

const KEEPALIVE_MS = 30_000;
const SHUTDOWN_WAIT_MS = 5000;

const SHUTTING_DOWN: UpgradeRefusal = {
  error: new RelayError(503, 'server_shutdown', 'Server is shutting down'),
};

export class WebSocketLayer {
  readonly router: Router;
  readonly shaper: TrafficShaper;
  private readonly wss: WebSocketServer;
  private readonly sessions = new Set<Session>();
  private readonly deps: SessionDeps;
  private accepting = true;

  constructor(server: HttpServer, trust: TrustFn, deps: Omit<SessionDeps, 'onClosed'>) {
    const { config } = deps;
    this.router = deps.router;
    this.shaper = deps.shaper;
    this.deps = { ...deps, onClosed: (s) => this.sessions.delete(s) };
    this.wss = new WebSocketServer({
      noServer: true,
      perMessageDeflate: false,
      maxPayload: config.maxWsMessageBytes,
      clientTracking: false,
    });
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const refusal = this.accepting ? upgradeRefusal(req) : SHUTTING_DOWN;
      if (refusal) return replyAndDestroy(socket, refusal.error, config.tls, refusal.headers);
      const ipKey = ipLimitKey(clientIp(req, trust));
      this.wss.handleUpgrade(req, socket, head, (ws) => this.open(ws, socket as Socket, ipKey));
    });
  }

  /** A new WebSocket: kept apart from the upgrade handler so the request is not retained. */
  private open(ws: WebSocket, socket: Socket, ipKey: string): void {
    socket.setKeepAlive(true, KEEPALIVE_MS);
    socket.setTimeout(this.deps.config.idleTimeoutS * 1000, () => ws.terminate());
    this.sessions.add(new Session(ws, ipKey, this.deps));
  }

  /** Refuses new sockets, closes every session (`server_shutdown`) and waits for their cleanup. */
  async close(): Promise<void> {
    this.accepting = false;
    // Statuses first, so they leave before each session's closing error frame.
    this.router.settlePending();
    for (const session of this.sessions) session.closeWith('server_shutdown');
    const closed = Promise.all([...this.sessions].map((s) => s.closed));
    await withTimeout(closed, SHUTDOWN_WAIT_MS);
  }
}
