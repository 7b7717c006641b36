// A worker process of `entropy-relay serve --workers N`: one relay that binds nothing. The
// primary sends it the configuration, then client connections (socket handles) it accepted; the
// worker serves them like a single-process relay would, reports its metrics when asked, and on
// `drain` (or SIGTERM/SIGINT, or losing the primary) finishes what it has and exits 0.
import type { Socket } from 'node:net';
import { pino } from 'pino';
import { createLogger, type Logger } from '../log.js';
import type { Arrival } from '../net/front-door.js';
import { startRelay, type Relay } from '../server.js';
import { isMessage, type FromWorker, type ToWorker } from './messages.js';
import { ServedConnections } from './served-connections.js';

function send(message: FromWorker): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send || !process.connected) return resolve();
    process.send(message, undefined, {}, () => resolve());
  });
}

function startMessage(): Promise<Extract<ToWorker, { type: 'entropy:start' }>> {
  return new Promise((resolve) => {
    const onMessage = (message: unknown): void => {
      if (isMessage<ToWorker>(message) && message.type === 'entropy:start') {
        process.off('message', onMessage);
        resolve(message);
      }
    };
    process.on('message', onMessage);
  });
}

export async function runWorker(): Promise<void> {
  // Until the relay runs, a signal or a lost primary simply ends the process.
  const early = (): void => process.exit(0);
  process.once('SIGTERM', early);
  process.once('SIGINT', early);
  process.once('disconnect', early);
  // The primary replaces workers on SIGHUP; a hangup of the terminal must not kill them.
  process.on('SIGHUP', () => undefined);
  const started = startMessage();
  await send({ type: 'entropy:hello' });
  const { slot, config, tls } = await started;
  const logger: Logger = createLogger(config.logLevel, pino.destination({ sync: true })).child({
    worker: slot,
    pid: process.pid,
  });
  let relay: Relay;
  try {
    relay = await startRelay(config, { logger, tls, listen: false });
  } catch (err) {
    logger.fatal({ err }, 'failed to start');
    process.exit(1);
  }
  process.off('SIGTERM', early);
  process.off('SIGINT', early);
  process.off('disconnect', early);
  const served = new ServedConnections(relay.server);

  let draining: Promise<void> | undefined;
  const drain = (why: string, settle = false): Promise<void> => {
    draining ??= (async () => {
      logger.info({ why }, 'draining');
      // When replaced (SIGHUP), connections handed over just before the drain may still be in
      // their TLS handshake or request head: let them reach their request (bounded by the
      // handshake deadline) so that none is turned away; then shut down as a single process does.
      if (settle) await served.settled(config.handshakeTimeoutMs);
      await relay.close();
      await send({
        type: 'entropy:drained',
        metrics: await relay.ctx.metrics.registry.getMetricsAsJSON(),
      });
      logger.flush();
      process.exit(0);
    })();
    return draining;
  };

  process.on('message', (message: unknown, handle: unknown) => {
    if (!isMessage<ToWorker>(message)) return;
    switch (message.type) {
      case 'entropy:connection': {
        const socket = handle as Socket | undefined;
        if (!socket) return;
        const arrival: Arrival = {
          clientAddress: message.clientAddress,
          clientPort: message.clientPort,
          leftover: Buffer.from(message.leftover, 'base64'),
        };
        relay.adopt(socket, arrival);
        return;
      }
      case 'entropy:drain':
        void drain('asked by the primary', message.settle);
        return;
      case 'entropy:metrics':
        void relay.ctx.metrics.registry
          .getMetricsAsJSON()
          .then((metrics) => send({ type: 'entropy:metrics', id: message.id, metrics }));
        return;
      default:
        return;
    }
  });
  process.once('SIGTERM', () => void drain('SIGTERM'));
  process.once('SIGINT', () => void drain('SIGINT'));
  process.once('disconnect', () => void drain('the primary is gone'));

  relay.ready.then(
    () => void send({ type: 'entropy:ready' }),
    (err: unknown) => {
      if (draining) return;
      void send({ type: 'entropy:refused', reason: String((err as Error)?.message ?? err) })
        .then(() => relay.close())
        .finally(() => {
          logger.flush();
          process.exit(1);
        });
    },
  );
}
