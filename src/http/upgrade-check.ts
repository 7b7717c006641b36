// Every refusal of a WebSocket upgrade is decided here, before ws sees the request, so that ws
// never answers with one of its own (unpadded HTML) refusals: this covers each check of ws 8's
// handleUpgrade (method, Upgrade, Sec-WebSocket-Key, -Version, -Protocol), plus path and Host.
import type { IncomingMessage } from 'node:http';
import { RelayError, badRequest, notFound } from '../errors.js';
import { lacksHost } from '../net/host-header.js';

export interface UpgradeRefusal {
  error: RelayError;
  headers?: Record<string, string>;
}

const WS_PATHS = new Set(['/ws', '/']);
/** Base64 of 16 bytes (RFC 6455 §4.1). */
const KEY = /^[+/0-9A-Za-z]{22}==$/;
const TOKEN = "[!#$%&'*+\\-.^_`|~0-9A-Za-z]+";
/** Comma-separated subprotocol tokens, as ws parses them. */
const PROTOCOLS = new RegExp(`^${TOKEN}(?:[ \\t]*,[ \\t]*${TOKEN})*$`);

function validProtocols(header: string): boolean {
  if (!PROTOCOLS.test(header)) return false;
  const names = header.split(',').map((name) => name.trim());
  return new Set(names).size === names.length;
}

/** Why this upgrade request is refused, or undefined when ws may accept it. */
export function upgradeRefusal(req: IncomingMessage): UpgradeRefusal | undefined {
  const path = (req.url ?? '').split('?')[0]!;
  if (!WS_PATHS.has(path)) return { error: notFound() };
  if (req.method !== 'GET') {
    return {
      error: new RelayError(405, 'method_not_allowed', 'WebSocket upgrades use GET'),
      headers: { Allow: 'GET' },
    };
  }
  if (lacksHost(req)) return { error: badRequest('bad_request', 'Missing Host header') };
  if (req.headers.upgrade?.toLowerCase() !== 'websocket') {
    return { error: badRequest('bad_request', 'Upgrade must be websocket') };
  }
  const key = req.headers['sec-websocket-key'];
  if (key === undefined || !KEY.test(key)) {
    return { error: badRequest('bad_request', 'Missing or invalid Sec-WebSocket-Key') };
  }
  if (req.headers['sec-websocket-version'] !== '13') {
    return {
      error: new RelayError(426, 'upgrade_required', 'Sec-WebSocket-Version must be 13'),
      headers: { 'Sec-WebSocket-Version': '13' },
    };
  }
  const protocols = req.headers['sec-websocket-protocol'];
  if (protocols !== undefined && !validProtocols(protocols)) {
    return { error: badRequest('bad_request', 'Invalid Sec-WebSocket-Protocol') };
  }
  return undefined;
}
