// Start-up and shutdown of one relay instance: store, TLS, one server for REST and WebSocket,
// and the metrics listener. The relay listens at once; what needs the store answers 503 until
// the store is ready.
import type { Server as HttpServer } from 'node:http';
import type { Socket } from 'node:net';
import { Server as TlsServer, type TLSSocket } from 'node:tls';
import type { FastifyInstance } from 'fastify';
import type { Config } from './config.js';
import { parseListenAddress } from './config/kinds.js';
import type { RelayContext } from './context.js';
import { buildHttpApp } from './http/app.js';
import { registerIdentityRoutes } from './http/routes/identity.js';
import { startMetricsListener, type MetricsListener } from './http/metrics-listener.js';
import { inheritClientAddress, setClientAddress } from './net/client-address.js';
import { compileTrust, isTrustedProxy } from './net/client-ip.js';
import { ConnectionCap } from './net/connection-cap.js';
import { FrontDoor, type Arrival } from './net/front-door.js';
import { createListener } from './net/listener.js';
import { OpenSockets } from './net/open-sockets.js';
import { IpBlinder, createLogger, type Logger } from './log.js';
import { Metrics } from './metrics.js';
import { RateLimiter } from './ratelimit/limiter.js';
import { AccountService } from './account/account-service.js';
import { KeysService } from './keys/keys-service.js';
import { NicknameService } from './nickname/nickname-service.js';
import { PowService } from './pow/pow-service.js';
import { createStore } from './store/index.js';
import type { Store } from './store/store.js';
import { IpSalt } from './ratelimit/ip-salt.js';
import { MIN_SECRET_LENGTH, ServerSecret } from './secret.js';
import { generateSelfSigned, loadTlsMaterial, type TlsMaterial } from './tls.js';
import { withTimeout } from './time.js';
import { VERSION } from './version.js';
import { WebSocketLayer } from './ws/ws-server.js';
import { handleUpgrades } from './http/upgrades.js';
import { drawJitterMs } from './normalize/jitter.js';
import { TrafficShaper } from './normalize/traffic-shaper.js';
import { AuthService } from './relay/auth-service.js';
import { RelayService } from './relay/relay-service.js';
import { Router } from './relay/router.js';

export interface Relay {
  readonly ctx: RelayContext;
  readonly app: FastifyInstance;
  readonly server: HttpServer;
  readonly store: Store;
  readonly port: number;
  /** Base URL, e.g. https://127.0.0.1:8080 */
  readonly url: string;
  /** Base URL of the metrics listener, e.g. http://127.0.0.1:9464; undefined when off. */
  readonly metricsUrl: string | undefined;
  readonly tls: TlsMaterial | undefined;
  readonly ws: WebSocketLayer;
  /** The scheduler of every outbound WebSocket frame. */
  readonly shaper: TrafficShaper;
  readonly router: Router;
  /**
   * Serves a TCP connection accepted by a FrontDoor (src/net/front-door.ts), here or in another
   * process that sent the socket over IPC: records its real client, applies the per-IP cap, puts
   * back the bytes read after the PROXY header and hands it to the HTTP/TLS server.
   */
  adopt(socket: Socket, arrival: Arrival): void;
  /**
   * Resolves once everything can be served: the store answered and passed its start-up checks,
   * the server secret is known, this instance's channel is subscribed. Rejects when the store
   * refuses to run (a persistent or evicting Redis with ENTROPY_REQUIRE_VOLATILE): the relay
   * then answers 503 to what needs the store, and its caller should close it and exit non-zero.
   */
  readonly ready: Promise<void>;
  /** Stops accepting, closes sessions, gives in-flight requests SHUTDOWN_GRACE_MS, destroys
   *  every connection left, closes the metrics listener and the store. Idempotent. */
  close(): Promise<void>;
}

export interface StartOptions {
  logger?: Logger;
  store?: Store;
  /** False: bind nothing (a cluster worker): connections arrive through `adopt`, from the
   *  process that owns the port, and the metrics are read through ctx.metrics by the process
   *  serving them (no metrics listener either). */
  listen?: boolean;
  /** The TLS certificate and key to serve (default: from the config, or self-signed). */
  tls?: TlsMaterial;
}

/** How long requests still in flight at shutdown may take before their sockets are destroyed. */
const SHUTDOWN_GRACE_MS = 5000;

/** The scheduler of every outbound WebSocket frame, reporting to the metrics. */
function createShaper(config: Config, metrics: Metrics): TrafficShaper {
  const shaper = new TrafficShaper({
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
  metrics.outboxBytes = () => ({ held: shaper.heldBytes, peak: shaper.peakOutboxBytes });
  return shaper;
}

export async function tlsMaterial(config: Config): Promise<TlsMaterial> {
  if (config.tlsCert !== undefined && config.tlsKey !== undefined) {
    return loadTlsMaterial(config.tlsCert, config.tlsKey);
  }
  return generateSelfSigned();
}

export async function startRelay(config: Config, options: StartOptions = {}): Promise<Relay> {
  const logger = options.logger ?? createLogger(config.logLevel);
  if (config.compat === 'v1') {
    logger.warn(
      'compat mode v1: identities are NOT key-bound for v1 clients (PoW-only auth and nickname registration are accepted)',
    );
  }
  if (config.secretSalt !== undefined && config.secretSalt.length < MIN_SECRET_LENGTH) {
    logger.warn(`ENTROPY_SECRET_SALT is shorter than ${MIN_SECRET_LENGTH} characters`);
  }

  const store = options.store ?? (await createStore(config, logger));
  await store.connect();
  const secret = new ServerSecret(config.secretSalt);

  const tls = config.tls ? (options.tls ?? (await tlsMaterial(config))) : undefined;
  const server = createListener(config.handshakeTimeoutMs, tls);

  const metrics = new Metrics();
  const blinder = new IpBlinder();
  const ipSalt = new IpSalt(store);
  ipSalt.start();
  const limiter = new RateLimiter(config, store, metrics, logger, ipSalt);
  const pow = new PowService({
    secret,
    store,
    powBase: config.powBase,
    powMax: config.powMax,
    powLoadThresholds: config.powLoadThresholds,
    metrics,
  });
  const router = new Router(store, metrics, logger, config, {
    admitOffered: (address) => limiter.takeOfferedRecipient(address),
  });
  /** How long the metrics wait for the store's answer to a ping. */
  const STORE_PROBE_MS = 1000;
  metrics.probes = {
    powDifficulty: () => pow.currentDifficulty(),
    storeUp: async () => {
      if (!secret.known) return false;
      const answered = store.ping().then(
        () => true,
        () => false,
      );
      return withTimeout(answered, STORE_PROBE_MS, () => false);
    },
    storageUse: () => store.storageUse?.(),
  };
  const shaper = createShaper(config, metrics);
  const ctx: RelayContext = {
    config,
    logger,
    metrics,
    blinder,
    store,
    trust: compileTrust(config.trustProxy),
    version: VERSION,
    secret,
    limiter,
    lifecycle: { closing: false },
    services: {
      pow,
      keys: new KeysService(store, pow, config),
      nicknames: new NicknameService(store, pow, config),
      accounts: new AccountService(store, pow, limiter, config, (identity, reason) =>
        router.closeEverywhere(identity, reason),
      ),
    },
  };

  const cap = new ConnectionCap(config.maxConnsPerIp, ctx.trust, ctx.metrics);
  const sockets = new OpenSockets(server);
  // Connections are accepted by the FrontDoor and emitted on the server (adopt): the server itself
  // never listens, so start what Node starts on 'listening' (its request-head deadline checks).
  server.emit('listening');
  if (server instanceof TlsServer) {
    server.on('secureConnection', (tlsSocket: TLSSocket) => inheritClientAddress(tlsSocket));
  }
  const adopt = (socket: Socket, arrival: Arrival): void => {
    if (socket.destroyed) return;
    if (ctx.lifecycle.closing) {
      socket.destroy();
      return;
    }
    setClientAddress(socket, arrival.clientAddress, arrival.clientPort);
    if (!cap.admit(socket, arrival.clientAddress)) return;
    if (arrival.leftover.length > 0) socket.unshift(arrival.leftover);
    // As the server's own accept would have made it (node:http allows half-open, node:https not).
    socket.allowHalfOpen = (server as unknown as { allowHalfOpen: boolean }).allowHalfOpen;
    server.emit('connection', socket);
    // A TLS socket reads through the TCP handle itself; the HTTP parser needs the stream flowing.
    if (!tls) socket.resume();
  };

  const app = buildHttpApp(ctx, server, [registerIdentityRoutes]);
  const ws = new WebSocketLayer({
    config,
    logger,
    metrics,
    blinder,
    limiter,
    router,
    shaper,
    auth: new AuthService(store, pow, limiter, config, secret),
    relay: new RelayService(router, limiter, pow, config),
  });
  handleUpgrades(server, { tls: config.tls, trust: ctx.trust, target: ws });
  const ready = Promise.all([
    store
      .ready()
      .then(() =>
        secret.known ? undefined : secret.learnFrom(store, () => ctx.lifecycle.closing),
      ),
    // Today's IP salt ahead of the first request (a failure: learnt with that request instead).
    store.ready().then(() => ipSalt.refresh().catch(() => undefined)),
    router.start(),
  ]).then(() => undefined);
  ready.then(
    () => logger.info('Entropy relay ready'),
    (err: unknown) => {
      if (!ctx.lifecycle.closing) logger.fatal({ err }, 'the store refuses to run');
    },
  );
  const frontDoor = new FrontDoor({
    trust: (address) => isTrustedProxy(address, ctx.trust),
    proxyProtocol: config.proxyProtocol,
    headerTimeoutMs: config.handshakeTimeoutMs,
    metrics,
    onArrival: adopt,
  });
  let listening: { port: number } | undefined;
  const metricsAt = options.listen === false ? undefined : parseListenAddress(config.metricsAddr);
  let metricsListener: MetricsListener | undefined;
  try {
    if (metricsAt) {
      metricsListener = await startMetricsListener(
        metrics.registry,
        metricsAt,
        config.handshakeTimeoutMs,
      );
    }
    await app.ready();
    if (options.listen !== false) listening = await frontDoor.listen(config.port, config.addr);
  } catch (err) {
    await frontDoor.close();
    server.close(() => undefined);
    await metricsListener?.close();
    await app.close();
    await ws.close();
    await router.stop();
    shaper.stop();
    ipSalt.stop();
    await store.close();
    throw err;
  }
  const port = listening?.port ?? 0;
  const host =
    config.addr === '0.0.0.0'
      ? '127.0.0.1'
      : config.addr.includes(':')
        ? `[${config.addr}]`
        : config.addr;
  const url = `${tls ? 'https' : 'http'}://${host}:${port}`;

  if (tls) {
    logger.info(
      { fingerprint: tls.fingerprint, selfSigned: tls.selfSigned },
      tls.selfSigned
        ? 'TLS 1.3 with an ephemeral self-signed certificate for localhost'
        : 'TLS 1.3',
    );
  } else {
    logger.warn('TLS is OFF: plain HTTP/WebSocket; only run this behind a TLS-terminating proxy');
  }
  if (metricsListener) logger.info(`Metrics at ${metricsListener.url}/metrics`);
  if (listening) {
    logger.info(
      { port, url, storage: store.kind, version: VERSION, proxyProtocol: config.proxyProtocol },
      'Entropy relay listening',
    );
  }

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      logger.info('shutting down');
      // Stop accepting at once; in-flight requests finish while sessions are closed. Connections
      // without a request have nothing to finish (and Node no longer times out their heads).
      ctx.lifecycle.closing = true;
      await frontDoor.close();
      // The server never listened (adopt): Fastify leaves it alone, so close its idle keep-alive
      // connections and stop its deadline checks here (the callback only says it was not listening).
      server.close(() => undefined);
      const httpClosed = Promise.all([app.close(), sockets.allClosed()]);
      sockets.destroyUnserved();
      const metricsClosed = metricsListener?.close();
      await ws.close();
      await router.stop();
      shaper.stop();
      ipSalt.stop();
      await sockets.destroyAfter(httpClosed, SHUTDOWN_GRACE_MS);
      await httpClosed;
      await metricsClosed;
      await store.close();
      logger.info('stopped');
    })();
    return closing;
  };

  const metricsUrl = metricsListener?.url;
  return {
    ctx,
    app,
    server,
    store,
    port,
    url,
    metricsUrl,
    tls,
    ws,
    shaper,
    router,
    ready,
    adopt,
    close,
  };
}
