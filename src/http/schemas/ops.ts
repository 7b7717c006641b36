// Operations endpoints: GET /health, /ready, /metrics (docs/protocol.md §2.9), and CORS preflights.
import Type from 'typebox';
import { ErrorReply, NoQuery, replies, type RouteSchema } from './common.js';

const Storage = Type.Enum(['memory', 'redis']);

export const healthSchema: RouteSchema = {
  summary: 'Liveness: the process runs',
  tags: ['ops'],
  querystring: NoQuery,
  response: replies(
    Type.Object({
      status: Type.Literal('healthy'),
      storage: Storage,
      tls: Type.Boolean(),
      version: Type.String(),
    }),
  ),
};

export const readySchema: RouteSchema = {
  summary: 'Readiness: the store answers (503 storage_unavailable otherwise)',
  tags: ['ops'],
  querystring: NoQuery,
  response: replies(Type.Object({ status: Type.Literal('ready'), storage: Storage })),
};

export const metricsSchema: RouteSchema = {
  summary: 'Prometheus metrics, for the admin token only (404 otherwise)',
  tags: ['ops'],
  querystring: NoQuery,
  headers: Type.Object({ 'x-admin-token': Type.String({ description: 'ENTROPY_ADMIN_TOKEN' }) }),
  response: {
    200: { content: { 'text/plain': { schema: Type.String() } } },
    default: ErrorReply,
  },
};

export const preflightSchema: RouteSchema = {
  summary: 'CORS preflight, for any path',
  description: 'No body; the CORS headers only for allowed origins.',
  tags: ['ops'],
  response: { 204: Type.Null({ description: 'No body' }) },
};
