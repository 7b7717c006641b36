// TLS material: the operator's PEM files, or an ephemeral self-signed ECDSA P-256 certificate
// for localhost generated at start-up (its SHA-256 fingerprint is logged so clients can pin it).
import {
  createPrivateKey,
  randomBytes,
  webcrypto,
  X509Certificate,
  type KeyObject,
} from 'node:crypto';
import { readFile } from 'node:fs/promises';
import 'reflect-metadata'; // required by @peculiar/x509's dependency injection
import * as x509 from '@peculiar/x509';
import { DAY_MS, MINUTE_MS } from './time.js';

export interface TlsMaterial {
  cert: string;
  key: string;
  /** SHA-256 of the DER certificate, colon-separated upper-case hex. */
  fingerprint: string;
  selfSigned: boolean;
}

export function fingerprintOf(certPem: string): string {
  return new X509Certificate(certPem).fingerprint256;
}

/** A certificate or key that cannot be used; `part` says which, or that they do not match. */
export class TlsMaterialError extends Error {
  constructor(
    readonly part: 'certificate' | 'key' | 'match',
    message: string,
  ) {
    super(message);
    this.name = 'TlsMaterialError';
  }
}

export interface CertificateInfo {
  /** The first certificate of the PEM (the server's own; a chain may follow). */
  certificate: X509Certificate;
  privateKey: KeyObject;
  /** How many certificates the PEM holds (the leaf and its chain). */
  count: number;
  validFrom: Date;
  validTo: Date;
}

/** Parses a PEM certificate (and chain) and private key and checks that the key is the
 *  certificate's; throws TlsMaterialError naming what is wrong. */
export function inspectTlsMaterial(certPem: string, keyPem: string): CertificateInfo {
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(certPem);
  } catch (err) {
    throw new TlsMaterialError('certificate', `not a PEM certificate (${messageOf(err)})`);
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(keyPem);
  } catch (err) {
    throw new TlsMaterialError('key', `not a PEM private key (${messageOf(err)})`);
  }
  if (!certificate.checkPrivateKey(privateKey)) {
    throw new TlsMaterialError('match', 'the private key does not belong to the certificate');
  }
  return {
    certificate,
    privateKey,
    count: certPem.match(/-----BEGIN CERTIFICATE-----/g)?.length ?? 1,
    validFrom: new Date(certificate.validFrom),
    validTo: new Date(certificate.validTo),
  };
}

const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

export async function loadTlsMaterial(certFile: string, keyFile: string): Promise<TlsMaterial> {
  const [cert, key] = await Promise.all([readFile(certFile, 'utf8'), readFile(keyFile, 'utf8')]);
  const { certificate } = inspectTlsMaterial(cert, key);
  return { cert, key, fingerprint: certificate.fingerprint256, selfSigned: false };
}

/** A self-signed certificate for localhost, valid from a minute ago for a year unless told. */
export async function generateSelfSigned(
  validity: { notBefore?: Date; notAfter?: Date } = {},
): Promise<TlsMaterial> {
  x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = (await webcrypto.subtle.generateKey(algorithm, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  const now = Date.now();
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomBytes(16)
      .toString('hex')
      .replace(/^[89a-f]/, '1'),
    name: 'CN=localhost',
    notBefore: validity.notBefore ?? new Date(now - MINUTE_MS),
    notAfter: validity.notAfter ?? new Date(now + 365 * DAY_MS),
    keys,
    signingAlgorithm: algorithm,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([
        { type: 'dns', value: 'localhost' },
        { type: 'ip', value: '127.0.0.1' },
        { type: 'ip', value: '::1' },
      ]),
    ],
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  const key = `-----BEGIN PRIVATE KEY-----\n${pkcs8
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .trimEnd()}\n-----END PRIVATE KEY-----\n`;
  const cert = certificate.toString('pem');
  return { cert, key, fingerprint: fingerprintOf(cert), selfSigned: true };
}
