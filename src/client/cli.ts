// `entropy-relay client …`: key generation, bundle upload, a one-shot send and a listener,
// built on the client library. Output is JSON on stdout, diagnostics on stderr.
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { InvalidArgumentError, type Command } from 'commander';
import { RelayClientError } from './errors.js';
import { generateIdentity } from './identity.js';
import { loadIdentity, saveIdentity } from './identity-file.js';
import { Progress } from './progress.js';
import { RelayClient } from './rest-client.js';
import { RelaySession, type Frame } from './ws-client.js';

interface ConnectionOpts {
  url: string;
  identity: string;
  ca?: string;
  insecure?: boolean;
  /** --progress / --no-progress; unset: on when stderr is a terminal. */
  progress?: boolean;
}

export function registerClientCommands(program: Command): Command {
  const client = program
    .command('client')
    .description('Talk to a relay: generate keys, upload a bundle, send, listen');

  client
    .command('keygen')
    .description('Write a new identity (Ed25519 key + identity hash) to a JSON file (mode 0600)')
    .requiredOption('--out <file>', 'identity file to create (never overwritten)')
    .action(
      run(async (opts: { out: string }) => {
        const identity = generateIdentity();
        await saveIdentity(opts.out, identity);
        printJson({ identity_hash: identity.identityHash, file: opts.out });
        return 0;
      }),
    );

  connectionOptions(client.command('upload'))
    .description('Upload a fresh key bundle for the identity')
    .option('--prekeys <n>', 'one-time prekeys in the bundle (1-100)', prekeyCount, 20)
    .action(
      run(async (opts: ConnectionOpts & { prekeys: number }) => {
        const progress = Progress.forStderr(opts.progress);
        const identity = await loadIdentity(opts.identity);
        const rest = new RelayClient({
          url: opts.url,
          ca: await trustedCa(opts),
          onPowProgress: progress.pow,
        });
        progress.stage(`upload: bundle with ${opts.prekeys} prekeys for ${identity.identityHash}`);
        const result = await rest.uploadBundle(identity, {
          preKeys: opts.prekeys,
          onPreKey: progress.preKeys,
        });
        progress.stage(`upload: stored (${result.prekeys} prekeys on the relay)`);
        printJson(result);
        return 0;
      }),
    );

  connectionOptions(client.command('send'))
    .description('Authenticate, relay one message, print its delivery_status')
    .requiredOption('--to <hash>', 'recipient identity hash')
    .requiredOption('--message <text>', 'the envelope to relay')
    .action(
      run(async (opts: ConnectionOpts & { to: string; message: string }) => {
        const session = await openSession(opts, false);
        try {
          const status = await session.send(opts.to, opts.message);
          printJson(status);
          return status.status === 'rejected' ? 1 : 0;
        } finally {
          await session.close();
        }
      }),
    );

  connectionOptions(client.command('listen'))
    .description('Print each received message as one JSON line')
    .option('--count <n>', 'exit after this many messages', positiveInt)
    .option('--timeout <seconds>', 'exit after this many seconds', positiveInt)
    .action(
      run(async (opts: ConnectionOpts & { count?: number; timeout?: number }) => {
        let finish: (code: number) => void = () => {};
        const done = new Promise<number>((resolve) => (finish = resolve));
        let received = 0;
        const print = (line: Record<string, unknown>): void => {
          printJson(line);
          if (opts.count !== undefined && ++received >= opts.count) finish(0);
        };
        const session = await openSession(opts, true, (s) => {
          s.on('message', ({ id, envelope }) => print({ id, envelope }));
          s.on('queued', ({ id, payload }) =>
            print(payload.type === 'msg' ? { id, envelope: payload.envelope } : { id, payload }),
          );
          s.on('relayError', (err) => {
            process.stderr.write(`relay error: ${err.code}: ${err.message}\n`);
            if (err.code === 'session_replaced' || err.code === 'account_burned') finish(1);
          });
          s.on('reconnecting', ({ attempt, delayMs }) =>
            process.stderr.write(`connection lost; reconnect #${attempt} in ${delayMs} ms\n`),
          );
        });
        const timer =
          opts.timeout === undefined
            ? undefined
            : setTimeout(() => finish(opts.count === undefined ? 0 : 1), opts.timeout * 1000);
        const code = await done;
        clearTimeout(timer);
        await session.close();
        return code;
      }),
    );

  return client;
}

function connectionOptions(command: Command): Command {
  return command
    .requiredOption('--url <url>', 'relay base URL, e.g. https://localhost:8080')
    .requiredOption('--identity <file>', 'identity file written by `client keygen`')
    .option('--ca <pem file>', 'CA certificate (or the relay certificate) to trust')
    .option('--insecure', "trust the relay's certificate without verifying it (self-signed)")
    .option('--progress', 'show progress on stderr (default: when stderr is a terminal)')
    .option('--no-progress', 'never show progress');
}

async function openSession(
  opts: ConnectionOpts,
  reconnect: boolean,
  listen?: (session: RelaySession) => void,
): Promise<RelaySession> {
  const progress = Progress.forStderr(opts.progress);
  const identity = await loadIdentity(opts.identity);
  const session = new RelaySession({
    url: opts.url,
    ca: await trustedCa(opts),
    identity,
    reconnect,
    onPowProgress: progress.pow,
  });
  listen?.(session);
  progress.stage(`auth: ${identity.identityHash}`);
  const auth = await session.connect();
  progress.stage(`auth: connected (${auth.prekeys} prekeys on the relay)`);
  return session;
}

/**
 * The CA to trust: --ca, or with --insecure the certificate the relay presents right now
 * (the REST client has no switch to skip verification, so the presented certificate is pinned).
 */
async function trustedCa(opts: ConnectionOpts): Promise<string | undefined> {
  if (opts.ca) return readFile(opts.ca, 'utf8');
  if (!opts.insecure || new URL(opts.url).protocol !== 'https:') return undefined;
  const cert = await presentedCertificate(opts.url);
  process.stderr.write(
    `warning: --insecure: trusting the relay's certificate without verification ` +
      `(SHA-256 ${cert.fingerprint256})\n`,
  );
  return cert.toString();
}

function presentedCertificate(url: string): Promise<X509Certificate> {
  const { hostname, port } = new URL(url);
  const host = hostname.replace(/^\[(.*)\]$/, '$1');
  return new Promise((resolve, reject) => {
    const socket = tlsConnect(
      {
        host,
        port: Number(port || 443),
        servername: isIP(host) ? undefined : host,
        rejectUnauthorized: false,
      },
      () => {
        const raw = socket.getPeerCertificate().raw;
        socket.end();
        if (raw) resolve(new X509Certificate(raw));
        else reject(new Error('The relay presented no certificate'));
      },
    );
    socket.on('error', reject);
  });
}

function run<T>(action: (opts: T) => Promise<number>): (opts: T) => Promise<void> {
  return async (opts) => {
    try {
      process.exitCode = await action(opts);
    } catch (err) {
      const detail =
        err instanceof RelayClientError ? `${err.code}: ${err.message}` : (err as Error).message;
      process.stderr.write(`entropy-relay client: ${detail}\n`);
      process.exitCode = 1;
    }
  };
}

function printJson(value: Frame | Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(value) + '\n');
}

function prekeyCount(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 100)
    throw new InvalidArgumentError('Expected an integer from 1 to 100.');
  return n;
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0)
    throw new InvalidArgumentError('Expected a positive integer.');
  return n;
}
