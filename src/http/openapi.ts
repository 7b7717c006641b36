// The REST API as an OpenAPI 3.1 document, built from the routes the app registers and the
// schemas each carries (http/schemas/): nothing is written twice. Served at GET /openapi.json
// and written to docs/openapi.json by `npm run docs:openapi`; test/docs.test.ts fails when the
// committed file and the routes disagree.
import type { FastifyInstance, RouteOptions } from 'fastify';
import Type from 'typebox';
import type { Json } from '../json.js';
import { ErrorReply, NoQuery, type RouteSchema } from './schemas/common.js';

const METHODS = ['get', 'post', 'put', 'patch', 'delete'] as const;

const DESCRIPTION = [
  [
    'The REST half of the Entropy Relay wire protocol. docs/protocol.md in the repository is the',
    'whole contract (the WebSocket relay on GET /ws, padding, proof of work, rate limits, every',
    'error code); this document describes each route, its input and its replies.',
  ],
  [
    'Every response body, errors included, is JSON followed by random JSON whitespace up to',
    'exactly 1536 bytes, or the next multiple of 1536: any JSON parser reads it. /metrics is the',
    'one text/plain reply. Errors are {"error": text, "code": snake_case} with the HTTP status;',
    'a 429 carries Retry-After (seconds) and retry_after in the body. An OPTIONS preflight to',
    'any path answers 204, with the CORS headers for allowed origins.',
  ],
]
  .map((lines) => lines.join(' '))
  .join('\n\n');

/** A copy of a route schema as JSON, without Ajv's `errorMessage` extension. */
function plain(schema: unknown): Json {
  return JSON.parse(
    JSON.stringify(schema, (key, value: unknown) => (key === 'errorMessage' ? undefined : value)),
  ) as Json;
}

/** The schema, or a reference to the shared error body. */
function schemaOrRef(schema: unknown): Json {
  return schema === ErrorReply ? { $ref: '#/components/schemas/Error' } : plain(schema);
}

/** One OpenAPI parameter per property of an object schema (query or header). */
function parameters(where: 'query' | 'header', schema: unknown): Json[] {
  if (schema === undefined) return [];
  const object = plain(schema) as { properties?: Record<string, Json>; required?: string[] };
  return Object.entries(object.properties ?? {}).map(([name, property]) => {
    const { description, ...rest } = property;
    const parameter: Json = { name, in: where };
    if (typeof description === 'string') parameter.description = description;
    parameter.required = object.required?.includes(name) ?? false;
    // A list is sent as one comma-separated value (the relay also accepts the name repeated).
    if (rest.type === 'array') Object.assign(parameter, { style: 'form', explode: false });
    parameter.schema = rest;
    return parameter;
  });
}

const RETRY_AFTER = {
  description: 'Seconds to wait (429 rate_limited)',
  schema: { type: 'integer', minimum: 0 },
};

function response(status: string, schema: unknown): Json {
  const described = schema as { description?: string; content?: unknown; type?: string };
  if (status === 'default') {
    return {
      description: 'An error: the status and `code` say which (docs/protocol.md lists them all)',
      headers: { 'Retry-After': RETRY_AFTER },
      content: { 'application/json': { schema: schemaOrRef(schema) } },
    };
  }
  const description = described.description ?? (status === '204' ? 'No content' : 'Success');
  if (described.type === 'null') return { description };
  if (described.content !== undefined) return { description, content: plain(described.content) };
  return { description, content: { 'application/json': { schema: schemaOrRef(schema) } } };
}

function operationId(method: string, url: string): string {
  const words = url.split(/[^A-Za-z0-9]+/).filter((w) => w !== '');
  return method + words.map((w) => w[0]!.toUpperCase() + w.slice(1)).join('');
}

function operation(method: string, route: RouteOptions): Json {
  const schema = route.schema as RouteSchema;
  const op: Json = { operationId: operationId(method, route.url), summary: schema.summary };
  if (schema.description !== undefined) op.description = schema.description;
  op.tags = schema.tags;
  const params = [
    ...parameters('query', schema.querystring),
    ...parameters('header', schema.headers),
  ];
  if (params.length > 0) op.parameters = params;
  if (schema.body !== undefined) {
    op.requestBody = {
      required: true,
      description: 'JSON, whatever the Content-Type; at most ENTROPY_MAX_BODY_BYTES (413 above)',
      content: { 'application/json': { schema: plain(schema.body) } },
    };
  }
  const responses = (schema.response ?? {}) as Record<string, unknown>;
  op.responses = Object.fromEntries(
    Object.entries(responses).map(([status, s]) => [status, response(status, s)]),
  );
  return op;
}

/** The OpenAPI 3.1 document of `routes` (routes with a wildcard path, the preflight, are left
 *  out: the description says what they do). */
export function buildOpenApi(routes: readonly RouteOptions[], version: string): Json {
  const paths: Record<string, Json> = {};
  const sorted = [...routes]
    .filter((route) => !route.url.includes('*'))
    .sort((a, b) => a.url.localeCompare(b.url));
  for (const route of sorted) {
    for (const method of [route.method].flat().map((m) => m.toLowerCase())) {
      if (!(METHODS as readonly string[]).includes(method)) continue;
      (paths[route.url] ??= {})[method] = operation(method, route);
    }
  }
  const tags = [...new Set(sorted.flatMap((r) => (r.schema as RouteSchema).tags))].sort();
  return {
    openapi: '3.1.0',
    info: {
      title: 'Entropy Relay',
      version,
      description: DESCRIPTION,
      license: { name: 'AGPL-3.0-only', identifier: 'AGPL-3.0-only' },
    },
    tags: tags.map((name) => ({ name })),
    paths,
    components: { schemas: { Error: plain(ErrorReply) } },
  };
}

const openApiSchema: RouteSchema = {
  summary: 'This document: the REST API as OpenAPI 3.1',
  tags: ['ops'],
  querystring: NoQuery,
  response: {
    200: Type.Object({}, { description: 'An OpenAPI 3.1 document', additionalProperties: true }),
    default: ErrorReply,
  },
};

/**
 * Records every route registered from now on and serves their document at GET /openapi.json.
 * Call it before any route is registered.
 */
export function registerOpenApi(app: FastifyInstance, version: string): void {
  const routes: RouteOptions[] = [];
  app.addHook('onRoute', (route) => {
    routes.push(route);
  });
  let document: Json | undefined;
  app.get('/openapi.json', { schema: openApiSchema }, async () => {
    document ??= buildOpenApi(routes, version);
    return document;
  });
}
