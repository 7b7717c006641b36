// The PROXY protocol header a load balancer sends before the client's bytes (HAProxy's
// proxy-protocol.txt, versions 1 and 2). This module finds where the header ends in the bytes read
// so far; proxy-protocol-js parses the fields; the addresses are checked here.
import { isIPv4, isIPv6 } from 'node:net';
import ipaddr from 'ipaddr.js';
import {
  AddressFamilyType,
  Command,
  IPv4ProxyAddress,
  IPv6ProxyAddress,
  TransportProtocol,
  V1ProxyProtocol,
  V2ProxyProtocol,
} from 'proxy-protocol-js';

export type HeaderRead =
  /** More bytes are needed. */
  | { kind: 'incomplete' }
  /** The bytes do not start with a PROXY header. */
  | { kind: 'missing' }
  /** They start like one but it is not a valid header. */
  | { kind: 'malformed' }
  /** A header of `length` bytes; `client` is undefined when it names no client (v1 UNKNOWN, v2
   *  LOCAL, v2 UNSPEC or UNIX): the connection is then the balancer's own. */
  | { kind: 'header'; length: number; client: { address: string; port: number } | undefined };

const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
/** The longest v1 line, CRLF included (proxy-protocol.txt §2.1). */
const V1_MAX_LENGTH = 107;
const V2_SIGNATURE = Buffer.from('\r\n\r\n\0\r\nQUIT\n', 'latin1');
const V2_FIXED_LENGTH = 16;
const MAX_PORT = 65535;

/** Reads the header at the start of `bytes` (everything received so far). */
export function readProxyHeader(bytes: Buffer): HeaderRead {
  if (startsLike(bytes, V2_SIGNATURE)) return readV2(bytes);
  if (startsLike(bytes, V1_PREFIX)) return readV1(bytes);
  return { kind: 'missing' };
}

/** True when `bytes` and `prefix` agree on their common length. */
function startsLike(bytes: Buffer, prefix: Buffer): boolean {
  const n = Math.min(bytes.length, prefix.length);
  return n > 0 && bytes.subarray(0, n).equals(prefix.subarray(0, n));
}

function readV1(bytes: Buffer): HeaderRead {
  const end = bytes.subarray(0, V1_MAX_LENGTH).indexOf('\r\n', 0, 'latin1');
  if (end < 0)
    return bytes.length >= V1_MAX_LENGTH ? { kind: 'malformed' } : { kind: 'incomplete' };
  const length = end + 2;
  const line = bytes.toString('latin1', 0, length);
  // "PROXY UNKNOWN" may be followed by anything up to the CRLF; the receiver uses its own peer.
  if (line.startsWith('PROXY UNKNOWN')) return { kind: 'header', length, client: undefined };
  let parsed: V1ProxyProtocol;
  try {
    parsed = V1ProxyProtocol.parse(line);
  } catch {
    return { kind: 'malformed' };
  }
  const { source, destination } = parsed;
  const isFamily = parsed.inetProtocol === 'TCP4' ? isIPv4 : isIPv6;
  if (
    parsed.data !== '' ||
    !isFamily(source.ipAddress) ||
    !isFamily(destination.ipAddress) ||
    !validPort(source.port) ||
    !validPort(destination.port)
  ) {
    return { kind: 'malformed' };
  }
  return { kind: 'header', length, client: { address: source.ipAddress, port: source.port } };
}

function readV2(bytes: Buffer): HeaderRead {
  if (bytes.length < V2_FIXED_LENGTH) return { kind: 'incomplete' };
  const length = V2_FIXED_LENGTH + bytes.readUInt16BE(14);
  if (bytes.length < length) return { kind: 'incomplete' };
  let parsed: V2ProxyProtocol;
  try {
    parsed = V2ProxyProtocol.parse(new Uint8Array(bytes.subarray(0, length)));
  } catch {
    return { kind: 'malformed' };
  }
  if (parsed.command === Command.LOCAL) return { kind: 'header', length, client: undefined };
  if (parsed.transportProtocol === TransportProtocol.DGRAM) return { kind: 'malformed' };
  const address = parsed.proxyAddress;
  if (parsed.addressFamilyType === AddressFamilyType.INET && address instanceof IPv4ProxyAddress) {
    const client = ipaddr.fromByteArray(address.sourceAddress.address).toString();
    return { kind: 'header', length, client: { address: client, port: address.sourcePort } };
  }
  if (parsed.addressFamilyType === AddressFamilyType.INET6 && address instanceof IPv6ProxyAddress) {
    const client = ipaddr.fromByteArray(address.sourceAddress.address).toString();
    return { kind: 'header', length, client: { address: client, port: address.sourcePort } };
  }
  // UNSPEC or UNIX: no IP client to name.
  return { kind: 'header', length, client: undefined };
}

function validPort(port: number): boolean {
  return Number.isInteger(port) && port >= 0 && port <= MAX_PORT;
}
