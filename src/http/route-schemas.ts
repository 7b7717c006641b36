// Every route describes its input and its replies as JSON schemas (http/schemas/): that is the
// API's document. Fastify neither validates nor serializes with them: bodies are checked where
// docs/protocol.md §2.3 puts each check (the domain compiles the same schemas), so a request must
// reach its route unrefused; and replies leave as JSON.stringify writes them, as without a schema.
import type { FastifyInstance, RouteOptions } from 'fastify';

/** What a route's schema lacks; a route without its description is a programming error. */
function schemaGaps(route: RouteOptions): string[] {
  const schema = route.schema as
    { body?: unknown; querystring?: unknown; response?: Record<string, unknown> } | undefined;
  const gaps: string[] = [];
  if (schema?.response?.[200] === undefined && schema?.response?.[204] === undefined) {
    gaps.push('a success response');
  }
  const methods = [route.method].flat();
  if (methods.includes('POST') && schema?.body === undefined) gaps.push('body');
  if (methods.includes('GET') && schema?.querystring === undefined) gaps.push('querystring');
  return gaps;
}

export function registerRouteSchemas(app: FastifyInstance): void {
  app.setValidatorCompiler(() => () => true);
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  app.addHook('onRoute', (route) => {
    const gaps = schemaGaps(route);
    if (gaps.length > 0) {
      throw new Error(`${String(route.method)} ${route.url}: its schema lacks ${gaps.join(', ')}`);
    }
  });
}
