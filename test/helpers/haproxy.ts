// Starts a throwaway HAProxy (Debian's haproxy) in TCP mode in front of test relays: free loopback
// ports, own temp dir, each frontend sending the PROXY protocol (v1 `send-proxy` or v2
// `send-proxy-v2`) to its relay, optionally terminating TLS itself.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './redis-server.js';
import { waitFor } from './wait.js';

export const HAPROXY = '/usr/sbin/haproxy';
const START_TIMEOUT_MS = 10_000;

export interface FrontendSpec {
  name: string;
  /** The relay's port on 127.0.0.1. */
  backendPort: number;
  proxyProtocol: 'v1' | 'v2';
  /** Certificate and key (PEM): HAProxy terminates TLS 1.3 with them. Without: TCP passthrough. */
  tls?: { cert: string; key: string };
}

export interface TestHaproxy {
  /** The frontend's port on 127.0.0.1. */
  port(name: string): number;
  /** Everything HAProxy wrote to stdout and stderr. */
  output(): string;
  stop(): Promise<void>;
}

export async function startHaproxy(frontends: FrontendSpec[]): Promise<TestHaproxy> {
  const dir = mkdtempSync(join(tmpdir(), 'entropy-haproxy-'));
  const ports = new Map<string, number>();
  const sections: string[] = [];
  for (const f of frontends) {
    const port = await freePort();
    ports.set(f.name, port);
    let bind = `bind 127.0.0.1:${port}`;
    if (f.tls) {
      const pem = join(dir, `${f.name}.pem`);
      writeFileSync(pem, `${f.tls.cert}\n${f.tls.key}\n`);
      bind += ` ssl crt ${pem} ssl-min-ver TLSv1.3 alpn http/1.1`;
    }
    const send = f.proxyProtocol === 'v1' ? 'send-proxy' : 'send-proxy-v2';
    sections.push(
      `frontend ${f.name}`,
      `  ${bind}`,
      `  default_backend ${f.name}_relay`,
      `backend ${f.name}_relay`,
      `  server relay 127.0.0.1:${f.backendPort} ${send}`,
    );
  }
  const config = join(dir, 'haproxy.cfg');
  writeFileSync(
    config,
    [
      'global',
      '  maxconn 1000',
      'defaults',
      '  mode tcp',
      '  timeout connect 5s',
      '  timeout client 60s',
      '  timeout server 60s',
      ...sections,
      '',
    ].join('\n'),
  );
  let out = '';
  // -db: stay in the foreground, so that the test owns the process.
  const child: ChildProcess = spawn(HAPROXY, ['-db', '-f', config], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (c) => (out += c));
  child.stderr!.on('data', (c) => (out += c));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  let gone = false;
  void exited.then(() => (gone = true));
  const killOnExit = (): void => void child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const stop = async (): Promise<void> => {
    if (!gone) child.kill('SIGTERM');
    await exited;
    process.removeListener('exit', killOnExit);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (const port of ports.values()) {
      await waitFor(
        async () => {
          if (gone) throw new Error(`haproxy exited: ${out}`);
          return accepts(port);
        },
        { timeoutMs: START_TIMEOUT_MS, what: `haproxy listens on ${port}` },
      );
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    port: (name) => {
      const port = ports.get(name);
      if (port === undefined) throw new Error(`no frontend ${name}`);
      return port;
    },
    output: () => out,
    stop,
  };
}

/** Whether a TCP connection to 127.0.0.1:`port` is accepted (it is closed at once). */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
