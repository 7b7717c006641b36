// The WebSocket session in Node: the platform-neutral session (core/session.ts) over the `ws`
// package, which takes a CA to trust and a source address; PoW in worker threads, signing with
// node:crypto.
import WebSocket from 'ws';
import type { RelaySocket, SocketHandlers } from './core/socket.js';
import { RelaySessionCore, type CoreSessionOptions, type SessionEvents } from './core/session.js';
import { nodeIdentityOps, type Identity } from './identity.js';
import { solvePow } from './pow-solver.js';
import { RelayClient } from './rest-client.js';

export {
  backoffDelay,
  webSocketUrl,
  type AuthSuccess,
  type DeliveryStatus,
  type Frame,
  type MulticastTarget,
  type RelayErrorFrame,
  type SessionState,
} from './core/session.js';

export interface RelaySessionOptions extends CoreSessionOptions<Identity> {
  /** PEM CA (or the relay's self-signed certificate) to trust. */
  ca?: string | Buffer;
  localAddress?: string;
  /** Default solvePow (worker threads); tests of tiny difficulties can solve in-thread. */
  powSolver?: typeof solvePow;
}

export type RelaySessionEvents = SessionEvents<Buffer>;

/**
 * One identity's session with the relay, across reconnections. Attach listeners before
 * connect(): the offline queue is delivered right after `auth_success`.
 */
export class RelaySession extends RelaySessionCore<Identity, Buffer, RelaySessionOptions> {
  constructor(options: RelaySessionOptions) {
    super(options, {
      rest: new RelayClient({
        url: options.url,
        ca: options.ca,
        localAddress: options.localAddress,
      }),
      openSocket: (url, handlers) => nodeSocket(url, options, handlers),
      solvePow,
      sign: nodeIdentityOps.sign,
    });
  }
}

/** A `ws` client socket behind the session's socket interface. */
export function nodeSocket(
  url: string,
  options: { ca?: string | Buffer; localAddress?: string },
  handlers: SocketHandlers<Buffer>,
): RelaySocket {
  const ws = new WebSocket(url, {
    perMessageDeflate: false,
    ca: options.ca,
    localAddress: options.localAddress,
  });
  ws.on('open', () => handlers.open());
  ws.on('message', (data: Buffer, isBinary) =>
    handlers.message(isBinary ? data : data.toString('utf8'), isBinary),
  );
  ws.on('error', (err) => handlers.error(err));
  ws.on('close', (code, reason) => handlers.close(code, reason.toString('utf8')));
  return {
    get isOpen() {
      return ws.readyState === WebSocket.OPEN;
    },
    get isClosed() {
      return ws.readyState === WebSocket.CLOSED;
    },
    send: (data, onError) =>
      ws.send(data, (err) => {
        if (err) onError?.(err);
      }),
    close: (code) => ws.close(code),
    terminate: () => ws.terminate(),
    closed: () =>
      ws.readyState === WebSocket.CLOSED
        ? Promise.resolve()
        : new Promise((resolve) => ws.once('close', () => resolve())),
  };
}
