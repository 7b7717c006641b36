// A relay run as `entropy-relay serve --workers N` in real processes, for the workers tests:
// its log lines, the pid of each worker, which worker holds a client's connection (/proc), and
// small HTTP/TLS probes.
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { promisify } from 'node:util';
import { onLines } from './logs.js';
import { waitFor } from './wait.js';

export const CLI = new URL('../../src/cli.ts', import.meta.url).pathname;
export const run = promisify(execFile);
/** Start-up of three processes under tsx on a busy machine takes a while. */
export const START_MS = 90_000;
export const LONG = { timeoutMs: 60_000 };

export const LIMITS: Record<string, string> = {
  ENTROPY_POW_BASE: '2',
  ENTROPY_POW_LIMIT: '10000',
  ENTROPY_LIMIT_GLOBAL: '10000',
  ENTROPY_LIMIT_MSG_SEND: '10000',
  ENTROPY_LIMIT_MSG_RECEIVE: '10000',
  ENTROPY_LIMIT_WS_FRAMES: '100000',
  ENTROPY_LIMIT_WS_AUTH: '10000',
  ENTROPY_LIMIT_WS_AUTH_IDENTITY: '10000',
  ENTROPY_LIMIT_KEYS_UPLOAD: '1000',
  ENTROPY_JITTER_MS: '0-5',
};

export interface LogLine {
  msg?: string;
  [key: string]: unknown;
}

export class Cluster {
  readonly lines: LogLine[] = [];
  readonly raw: string[] = [];
  readonly exited: Promise<number | null>;
  port = 0;
  url = '';
  metricsUrl = '';

  constructor(readonly child: ChildProcess) {
    this.exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
    onLines(child.stdout!, (line) => {
      this.raw.push(line);
      try {
        this.lines.push(JSON.parse(line) as LogLine);
      } catch {
        this.lines.push({ msg: `unparsable: ${line}` });
      }
    });
    child.stderr!.on('data', (chunk: Buffer) => this.raw.push(chunk.toString()));
  }

  static async start(env: Record<string, string>, flags: string[] = []): Promise<Cluster> {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'serve', ...flags], {
      env: {
        PATH: process.env.PATH,
        ENTROPY_PORT: '0',
        ENTROPY_ADDR: '127.0.0.1',
        ENTROPY_METRICS_ADDR: '127.0.0.1:0',
        ENTROPY_WORKERS: '2',
        ...LIMITS,
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const cluster = new Cluster(child);
    let code: number | null | undefined;
    void cluster.exited.then((c) => (code = c));
    await waitFor(() => code !== undefined || cluster.logged('Entropy relay listening'), {
      timeoutMs: START_MS,
      what: 'the relay listens',
    });
    if (code !== undefined) throw new Error(`exited with ${code}:\n${cluster.raw.join('\n')}`);
    const listening = cluster.lines.find((l) => l.msg === 'Entropy relay listening')!;
    cluster.port = listening.port as number;
    cluster.url = listening.url as string;
    const metricsAt = cluster.lines.find((l) => l.msg?.startsWith('Metrics at '))!;
    cluster.metricsUrl = metricsAt.msg!.slice('Metrics at '.length);
    return cluster;
  }

  logged(msg: string, from = 0): boolean {
    return this.lines.slice(from).some((l) => l.msg === msg);
  }

  /** Pid of every worker that said it is ready, by slot, latest first wins. */
  workerPids(): Map<number, number> {
    const pids = new Map<number, number>();
    for (const l of this.lines) {
      if (l.msg === 'worker ready') pids.set(l.worker as number, l.pid as number);
    }
    return pids;
  }

  async metrics(): Promise<string> {
    const { status, body } = await httpGet(this.metricsUrl);
    assert.equal(status, 200);
    return body;
  }

  async stop(): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    return this.exited;
  }
}

export function httpGet(
  url: string,
  localAddress?: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { agent: false, localAddress }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** The value of one sample of the Prometheus text (0 when absent). */
export function sample(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

/** IPv4 "127.0.0.2" as /proc/net/tcp writes it: "0200007F". */
export function procHex(ip: string): string {
  return ip
    .split('.')
    .reverse()
    .map((b) => Number(b).toString(16).padStart(2, '0'))
    .join('')
    .toUpperCase();
}

/** Which of `pids` holds an established connection from `clientIp` to `port`. */
export function ownerOf(pids: number[], clientIp: string, port: number): number | undefined {
  const want = `${procHex(clientIp)}:`;
  const inodes = new Set<string>();
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    const [local, remote, state, inode] = [f[1]!, f[2]!, f[3]!, f[9]!];
    const localPort = parseInt(local.split(':')[1]!, 16);
    if (state === '01' && localPort === port && remote.startsWith(want)) inodes.add(inode);
  }
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m && inodes.has(m[1]!)) return pid;
      } catch {
        // closed meanwhile
      }
    }
  }
  return undefined;
}

/** Opens a TCP connection from `ip` and returns the worker pid that got it. */
export async function workerOf(cluster: Cluster, ip: string): Promise<number> {
  const socket = netConnect({ host: '127.0.0.1', port: cluster.port, localAddress: ip });
  socket.on('error', () => undefined);
  try {
    let owner: number | undefined;
    const pids = [...cluster.workerPids().values()];
    await waitFor(() => (owner = ownerOf(pids, ip, cluster.port)) !== undefined, {
      what: `a worker holds the connection from ${ip}`,
    });
    return owner!;
  } finally {
    socket.destroy();
  }
}

/** Two loopback addresses served by different workers (which ones depends on the primary's
 *  random rendezvous key). */
export async function ipsOnDifferentWorkers(cluster: Cluster, from = 2): Promise<[string, string]> {
  const first = `127.0.0.${from}`;
  const firstOwner = await workerOf(cluster, first);
  for (let i = from + 1; i < from + 40; i++) {
    const ip = `127.0.0.${i}`;
    if ((await workerOf(cluster, ip)) !== firstOwner) return [first, ip];
  }
  throw new Error('every address landed on one worker');
}

export interface TlsAttempt {
  accepted: boolean;
  cert?: string;
  close(): void;
}

/** A TLS handshake from `ip`: accepted, or closed by the relay before it completed. */
export function tlsAttempt(port: number, ip: string): Promise<TlsAttempt> {
  return new Promise((resolve) => {
    const socket = tlsConnect({
      socket: netConnect({ host: '127.0.0.1', port, localAddress: ip }),
      servername: 'localhost',
      rejectUnauthorized: false,
    });
    const close = () => socket.destroy();
    socket.once('secureConnect', () => {
      const der = socket.getPeerCertificate(true).raw;
      const pem = `-----BEGIN CERTIFICATE-----\n${der
        .toString('base64')
        .replace(/(.{64})/g, '$1\n')
        .replace(/\n$/, '')}\n-----END CERTIFICATE-----\n`;
      resolve({ accepted: true, cert: pem, close });
    });
    socket.once('error', () => resolve({ accepted: false, close }));
    socket.once('close', () => resolve({ accepted: false, close }));
  });
}
