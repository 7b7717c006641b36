// WebSocket on the relay's own server and port (PROTOCOL.md §1, §4): upgrades on /ws and /,
// no permessage-deflate (compression defeats padding), inbound messages capped.
import type { Server as HttpServer, IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import type { RelayContext } from '../context.js';
import { RelayError } from '../errors.js';
import { clientIp } from '../net/client-ip.js';
import { ipLimitKey } from '../net/ip-limit-key.js';
import { replyAndDestroy } from '../http/raw-reply.js';
import { drawJitterMs } from '../normalize/jitter.js';
import { TrafficShaper } from '../normalize/traffic-shaper.js';
import { AuthService } from '../relay/auth-service.js';
import { Router } from '../relay/router.js';
import { withTimeout } from '../time.js';
import { Session } from './session.js';
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
  private accepting = true;
  private readonly auth: AuthService;

  constructor(
    private readonly ctx: RelayContext,
    server: HttpServer,
  ) {
    const { config, store, metrics, logger, secret, services } = ctx;
    this.router = new Router(store, metrics, logger, config);
    this.shaper = new TrafficShaper({
      jitterMs: config.jitterMs,
      pacingMs: config.pacingMs,
      pacingIdleMs: config.pacingIdleMs,
      maxBufferedBytes: config.maxSocketBufferBytes,
      stallGraceMs: config.slowReaderGraceMs,
      onLateness: (ms) => metrics.schedulingLateness.observe(ms / 1000),
      drawJitterMs: (min, max) => {
        const ms = drawJitterMs(min, max);
        metrics.deliveryJitter.observe(ms / 1000);
        return ms;
      },
    });
    metrics.outboxBytes = () => ({
      held: this.shaper.heldBytes,
      peak: this.shaper.peakOutboxBytes,
    });
    this.auth = new AuthService(store, services.pow, ctx.limiter, config, secret);
    this.wss = new WebSocketServer({
      noServer: true,
      perMessageDeflate: false,
      maxPayload: config.maxWsMessageBytes,
      clientTracking: false,
    });
    services.accounts.onBurn((identity, reason) => this.router.closeEverywhere(identity, reason));

    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const refusal = this.accepting ? upgradeRefusal(req) : SHUTTING_DOWN;
      if (refusal) return replyAndDestroy(socket, refusal.error, config.tls, refusal.headers);
      const ipKey = ipLimitKey(clientIp(req, ctx.trust));
      this.wss.handleUpgrade(req, socket, head, (ws) => this.open(ws, socket as Socket, ipKey));
    });
  }

  /** A new WebSocket: kept apart from the upgrade handler so the request is not retained. */
  private open(ws: WebSocket, socket: Socket, ipKey: string): void {
    socket.setKeepAlive(true, KEEPALIVE_MS);
    socket.setTimeout(this.ctx.config.idleTimeoutS * 1000, () => ws.terminate());
    const session = new Session(ws, ipKey, {
      ctx: this.ctx,
      router: this.router,
      auth: this.auth,
      shaper: this.shaper,
      onClosed: (s) => this.sessions.delete(s),
    });
    this.sessions.add(session);
  }

  async start(): Promise<void> {
    await this.router.start();
  }

  /** Refuses new sockets, closes every session (`server_shutdown`) and waits for their cleanup. */
  async close(): Promise<void> {
    this.accepting = false;
    // Statuses first, so they leave before each session's closing error frame.
    this.router.settlePending();
    for (const session of this.sessions) session.closeWith('server_shutdown');
    const closed = Promise.all([...this.sessions].map((s) => s.closed));
    await withTimeout(closed, SHUTDOWN_WAIT_MS);
    await this.router.stop();
    this.shaper.stop();
  }
}
