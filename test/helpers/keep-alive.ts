// A raw client connection that asks for /health and stays open (keep-alive): while it is open it
// holds one of its client's slots in the per-IP cap.
import { type Socket } from 'node:net';
import { parseResponse } from './raw-http.js';
import { waitFor } from './wait.js';

export interface Conn {
  socket: Socket;
  /** Everything received so far. */
  received(): Buffer;
  /** Resolves once the socket is closed (by either side), with everything received. */
  closed: Promise<Buffer>;
}

export function track(socket: Socket): Conn {
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.on('error', () => undefined); // a reset is one way for the other side to close
  const closed = new Promise<Buffer>((resolve) =>
    socket.once('close', () => resolve(Buffer.concat(chunks))),
  );
  return { socket, received: () => Buffer.concat(chunks), closed };
}

export const HEALTH = 'GET /health HTTP/1.1\r\nHost: x\r\n\r\n';

/** Sends `request` (keep-alive) on `conn` and returns the status of the whole response. */
export async function ask(conn: Conn, request = HEALTH, timeoutMs = 10_000): Promise<number> {
  const start = conn.received().length;
  conn.socket.write(request);
  let status = 0;
  await waitFor(
    () => {
      const raw = conn.received().subarray(start);
      if (raw.indexOf('\r\n\r\n') < 0) return false;
      const res = parseResponse(raw);
      status = res.status;
      return res.body.length >= Number(res.headers['content-length'] ?? 0);
    },
    { what: 'a whole response', timeoutMs },
  );
  return status;
}
