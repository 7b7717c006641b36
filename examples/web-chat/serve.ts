// Serves the web chat example on loopback: the page, its script and the browser bundle
// (dist/browser, from `npm run build:browser`). `npm run example:web-chat -- --port 8090`.
import { createReadStream, existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.map': 'application/json',
};

export interface ExampleServer {
  server: Server;
  url: string;
  close(): Promise<void>;
}

/** `bundleDir` holds entropy-relay-client.js (default: dist/browser of this checkout). */
export async function serveExample(
  options: { port?: number; bundleDir?: string } = {},
): Promise<ExampleServer> {
  const bundleDir = options.bundleDir ?? join(here, '../../dist/browser');
  const files: Record<string, string> = {
    '/': join(here, 'index.html'),
    '/index.html': join(here, 'index.html'),
    '/app.js': join(here, 'app.js'),
    '/entropy-relay-client.js': join(bundleDir, 'entropy-relay-client.js'),
    '/entropy-relay-client.js.map': join(bundleDir, 'entropy-relay-client.js.map'),
  };
  const server = createServer((req, res) => {
    const file = files[new URL(req.url ?? '/', 'http://x').pathname];
    if (req.method !== 'GET' || !file || !existsSync(file)) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    res.writeHead(200, {
      'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
      'cache-control': 'no-store',
    });
    createReadStream(file).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    server,
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const i = process.argv.indexOf('--port');
  const port = i > 0 ? Number(process.argv[i + 1]) : 8090;
  const { url } = await serveExample({ port });
  console.log(`web chat example at ${url}/?relay=http://127.0.0.1:8080`);
}
