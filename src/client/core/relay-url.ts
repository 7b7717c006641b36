// Where the session's WebSocket goes, from the relay's base URL.

/** https://host:port/base → wss://host:port/base/ws (http → ws). */
export function webSocketUrl(url: string): string {
  const u = new URL(url);
  if (u.protocol !== 'https:' && u.protocol !== 'http:')
    throw new TypeError(`Relay URL must be http(s)://, got ${url}`);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  u.pathname = u.pathname.replace(/\/+$/, '') + '/ws';
  return u.toString();
}
