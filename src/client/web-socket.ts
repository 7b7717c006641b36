// The session's socket over a WHATWG WebSocket: the browser's global one (or any compatible
// constructor, e.g. Node 22's global WebSocket). Browsers cannot drop a connection abruptly, so
// terminate() closes it; frames come in as strings and ArrayBuffers.
import type { RelaySocket, SocketHandlers } from './core/socket.js';

/** The part of the WHATWG WebSocket the session uses. */
export interface WhatwgWebSocket {
  readonly readyState: number;
  binaryType: string;
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: string, listener: (event: never) => void, options?: object): void;
}

export type WebSocketConstructor = new (url: string) => WhatwgWebSocket;

const OPEN = 1;
const CLOSED = 3;

export function whatwgSocket(
  url: string,
  handlers: SocketHandlers<Uint8Array>,
  WebSocketImpl: WebSocketConstructor | undefined = (
    globalThis as { WebSocket?: WebSocketConstructor }
  ).WebSocket,
): RelaySocket {
  if (typeof WebSocketImpl !== 'function')
    throw new TypeError('No WebSocket here: pass one (options.WebSocket)');
  const ws = new WebSocketImpl(url);
  ws.binaryType = 'arraybuffer';
  ws.addEventListener('open', () => handlers.open());
  ws.addEventListener('message', (event: { data: unknown }) => {
    const { data } = event;
    if (typeof data === 'string') handlers.message(data, false);
    else if (data instanceof ArrayBuffer) handlers.message(new Uint8Array(data), true);
  });
  ws.addEventListener('error', () => handlers.error(new Error(`WebSocket error (${url})`)));
  ws.addEventListener('close', (event: { code: number; reason: string }) =>
    handlers.close(event.code, event.reason),
  );
  return {
    get isOpen() {
      return ws.readyState === OPEN;
    },
    get isClosed() {
      return ws.readyState === CLOSED;
    },
    send: (data, onError) => {
      try {
        ws.send(data);
      } catch (err) {
        onError?.(err as Error);
      }
    },
    close: (code) => ws.close(code),
    terminate: () => ws.close(),
    closed: () =>
      ws.readyState === CLOSED
        ? Promise.resolve()
        : new Promise((resolve) => ws.addEventListener('close', () => resolve(), { once: true })),
  };
}
