// The WebSocket as the session uses it, whatever implements it: `ws` in Node (with a CA and a
// source address), the global WebSocket in browsers.

export interface SocketHandlers<B extends Uint8Array> {
  open(): void;
  /** A text frame as a string, a binary frame as bytes. */
  message(data: string | B, isBinary: boolean): void;
  error(err: Error): void;
  close(code: number, reason: string): void;
}

export interface RelaySocket {
  readonly isOpen: boolean;
  readonly isClosed: boolean;
  /** `onError` hears of a frame that could not be sent (where the platform tells). */
  send(data: string | Uint8Array, onError?: (err: Error) => void): void;
  /** Close handshake with `code`. */
  close(code: number): void;
  /** Drops the connection now (browsers: closes it). */
  terminate(): void;
  /** Resolves once the socket is closed. */
  closed(): Promise<void>;
}

export type SocketFactory<B extends Uint8Array> = (
  url: string,
  handlers: SocketHandlers<B>,
) => RelaySocket;
