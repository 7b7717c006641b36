// TLS: the certificate and key files (readable, parsable, matching), the days left before the
// certificate expires, and a real TLS 1.3 handshake against the relay's own listener settings.
import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:tls';
import type { Config } from '../config.js';
import { createListener } from '../net/listener.js';
import { DAY_MS } from '../time.js';
import {
  generateSelfSigned,
  inspectTlsMaterial,
  TlsMaterialError,
  type CertificateInfo,
  type TlsMaterial,
} from '../tls.js';
import { errorText, fail, ok, warn, type CheckResult } from './check.js';

/** Fewer days left than this: renew soon. */
export const EXPIRY_WARN_DAYS = 30;
const HANDSHAKE_TIMEOUT_MS = 5000;

export async function tlsChecks(config: Config, now = Date.now()): Promise<CheckResult[]> {
  if (!config.tls) {
    return [
      warn(
        'tls',
        'off (--no-tls): plain HTTP/WS, only for a relay behind a TLS-terminating proxy on the same host or network',
      ),
    ];
  }
  if (config.tlsCert === undefined || config.tlsKey === undefined) {
    const results = [
      warn(
        'tls.certificate',
        'none given (ENTROPY_TLS_CERT/ENTROPY_TLS_KEY): a self-signed certificate for localhost ' +
          'is generated at every start, so clients must pin a new fingerprint after each restart',
      ),
    ];
    results.push(await handshakeCheck(await generateSelfSigned()));
    return results;
  }
  const results: CheckResult[] = [];
  const files = await readBoth(config.tlsCert, config.tlsKey);
  if ('problem' in files) return [fail('tls.files', files.problem)];
  results.push(ok('tls.files', `${config.tlsCert} and ${config.tlsKey} readable`));

  let info: CertificateInfo;
  try {
    info = inspectTlsMaterial(files.cert, files.key);
  } catch (err) {
    if (!(err instanceof TlsMaterialError)) throw err;
    const file = err.part === 'key' ? config.tlsKey : config.tlsCert;
    if (err.part !== 'match') return [...results, fail('tls.parse', `${file}: ${err.message}`)];
    results.push(ok('tls.parse', 'certificate and private key parse'));
    return [...results, fail('tls.key-match', err.message)];
  }
  const { certificate } = info;
  const names = certificate.subjectAltName ?? `no subjectAltName, subject ${certificate.subject}`;
  results.push(
    ok(
      'tls.parse',
      `${names}; ${info.count === 1 ? 'no chain' : `chain of ${info.count - 1}`}; ` +
        `SHA-256 ${certificate.fingerprint256}`,
    ),
  );
  results.push(
    ok('tls.key-match', `the ${info.privateKey.asymmetricKeyType} key is the certificate's`),
  );
  results.push(expiryCheck(info, now));
  results.push(
    await handshakeCheck({
      cert: files.cert,
      key: files.key,
      fingerprint: certificate.fingerprint256,
      selfSigned: false,
    }),
  );
  return results;
}

async function readBoth(
  certFile: string,
  keyFile: string,
): Promise<{ cert: string; key: string } | { problem: string }> {
  const read = (file: string) =>
    readFile(file, 'utf8').then(
      (text) => ({ text }),
      (err: unknown) => ({ problem: errorText(err) }),
    );
  const [cert, key] = await Promise.all([read(certFile), read(keyFile)]);
  const problems = [cert, key].flatMap((r) => ('problem' in r ? [r.problem] : []));
  if ('text' in cert && 'text' in key) return { cert: cert.text, key: key.text };
  return { problem: problems.join('; ') };
}

export function expiryCheck(
  info: Pick<CertificateInfo, 'validFrom' | 'validTo'>,
  now: number,
): CheckResult {
  const until = info.validTo.toISOString();
  if (info.validFrom.getTime() > now)
    return fail('tls.expiry', `not valid yet: valid from ${info.validFrom.toISOString()}`);
  const msLeft = info.validTo.getTime() - now;
  if (msLeft <= 0) return fail('tls.expiry', `expired on ${until}`);
  const days = Math.floor(msLeft / DAY_MS);
  const detail = `valid until ${until} (${days} day${days === 1 ? '' : 's'} left)`;
  return days < EXPIRY_WARN_DAYS
    ? warn('tls.expiry', `${detail}: renew it (warned below ${EXPIRY_WARN_DAYS} days)`)
    : ok('tls.expiry', detail);
}

/** A TLS 1.3 handshake with a listener built as the relay builds its own (TLS 1.3 only). */
async function handshakeCheck(material: TlsMaterial): Promise<CheckResult> {
  let server;
  try {
    server = createListener(HANDSHAKE_TIMEOUT_MS, material);
  } catch (err) {
    return fail(
      'tls.handshake',
      `the listener refuses this certificate and key: ${errorText(err)}`,
    );
  }
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', resolve);
    });
    const { port } = server.address() as AddressInfo;
    const protocol = await new Promise<string | null>((resolve, reject) => {
      const socket = connect({
        host: '127.0.0.1',
        port,
        servername: 'localhost',
        rejectUnauthorized: false,
        minVersion: 'TLSv1.3',
        timeout: HANDSHAKE_TIMEOUT_MS,
      });
      socket.once('secureConnect', () => {
        const version = socket.getProtocol();
        const cipher = socket.getCipher().standardName;
        socket.destroy();
        resolve(`${version} (${cipher})`);
      });
      socket.once('timeout', () => {
        socket.destroy();
        reject(new Error('no handshake within 5 s'));
      });
      socket.once('error', reject);
    });
    return ok('tls.handshake', `${protocol} with the relay's listener settings`);
  } catch (err) {
    return fail('tls.handshake', `TLS 1.3 handshake failed: ${errorText(err)}`);
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}
