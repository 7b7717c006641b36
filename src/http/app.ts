// The HTTP layer: one Fastify instance on the relay's server. Everything a client can receive
// from it — routes, 404s, 413s, 429s, framework and parser errors — leaves padded (§6).
import type { Server as HttpServer, IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
} from 'fastify';
import { RelayError, badRequest, notFound } from '../errors.js';
import { padJson, padJsonText } from '../normalize/padding.js';
import type { RelayContext } from '../context.js';
import { errorResponse, sendError } from './error-reply.js';
import { registerCors, registerSecurityHeaders, securityHeaders } from './headers.js';
import { registerHostCheck } from './host-header.js';
import { registerOpenApi } from './openapi.js';
import { clientErrorHandler, replyAndDestroy } from './raw-reply.js';
import { registerRateLimits } from './rate-limit-hook.js';
import { registerRouteSchemas } from './route-schemas.js';
import { registerOpsRoutes } from './routes/ops.js';

const CONNECT_REFUSED = new RelayError(405, 'method_not_allowed', 'CONNECT is not supported');

export function buildHttpApp(
  ctx: RelayContext,
  server: HttpServer,
  routes: Array<(app: FastifyInstance, ctx: RelayContext) => void> = [],
): FastifyInstance {
  const { config, logger, metrics, blinder } = ctx;
  const app: FastifyInstance = Fastify({
    serverFactory: (handler: (req: IncomingMessage, res: ServerResponse) => void) => {
      server.on('request', handler);
      // An unknown Expect would get Node's own empty 417: serve the request as if it were absent.
      server.on('checkExpectation', handler);
      // Without a listener Node drops a CONNECT without a word: refuse it like any other method.
      server.on('connect', (_req: IncomingMessage, socket: Duplex) =>
        replyAndDestroy(socket, CONNECT_REFUSED, config.tls, { Allow: 'GET, POST, OPTIONS' }),
      );
      return server;
    },
    loggerInstance: logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.maxBodyBytes,
    trustProxy: ctx.trust,
    exposeHeadRoutes: false,
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    clientErrorHandler: clientErrorHandler(config.tls),
    // Framework errors (e.g. a malformed URL) skip the hooks: headers and padding here.
    frameworkErrors: (error, _request, reply) => {
      const { status, body } = errorResponse(
        badRequest('bad_request', `Malformed request: ${error.message}`),
      );
      void (reply as FastifyReply)
        .headers(securityHeaders(config.tls))
        .code(status)
        .type('application/json; charset=utf-8')
        .send(padJson(body));
    },
  });

  // Bodies are parsed by the routes (a bad body is a 400 `invalid_json` from the route), whatever
  // the Content-Type: v1 clients are not consistent about it.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));
  registerRouteSchemas(app);
  registerOpenApi(app, ctx.version);

  registerSecurityHeaders(app, config.tls);
  registerHostCheck(app);
  registerCors(app, config.allowedOrigins);
  registerRateLimits(app, ctx.limiter);

  // Padding: the last step before any JSON leaves.
  app.addHook('onSend', async (_request, reply, payload) => {
    if (ctx.lifecycle.closing) reply.header('Connection', 'close');
    const type = String(reply.getHeader('content-type') ?? '');
    if (!type.startsWith('application/json')) return payload;
    if (typeof payload === 'string') return padJsonText(payload);
    if (Buffer.isBuffer(payload)) return padJsonText(payload.toString('utf8'));
    return payload;
  });

  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.httpRequests.inc({ route, status: String(reply.statusCode) });
    metrics.httpDuration.observe({ route }, reply.elapsedTime / 1000);
    // The route pattern only: URLs carry identity hashes and nicknames, which are never logged.
    request.log.debug(
      {
        ip: blinder.tag(request.ip),
        method: request.method,
        route,
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime),
      },
      'request',
    );
  });

  app.setErrorHandler((err, request, reply) => {
    const response = errorResponse(err);
    if (response.status >= 500) request.log.error({ err }, 'request failed');
    return sendError(reply, err);
  });
  app.setNotFoundHandler((_request, reply) => sendError(reply, notFound()));

  registerOpsRoutes(app, ctx);
  for (const register of routes) register(app, ctx);
  return app;
}
