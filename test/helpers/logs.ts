// Logs a test can read: a logger made as the relay makes its own (src/log.ts), writing to memory;
// and the lines a relay run as a child process writes.
import { Writable, type Readable } from 'node:stream';
import type { LogLevel } from '../../src/config.js';
import { createLogger, type Logger } from '../../src/log.js';

export interface LogLine {
  level: string;
  msg: string;
  [field: string]: unknown;
}

export interface CapturedLogs {
  logger: Logger;
  /** Every line written, as raw JSON text. */
  logs: string[];
  /** The same lines, parsed. */
  lines: LogLine[];
}

export function captureLogs(level: LogLevel = 'debug'): CapturedLogs {
  const logs: string[] = [];
  const lines: LogLine[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line) continue;
        logs.push(line);
        lines.push(JSON.parse(line) as LogLine);
      }
      callback();
    },
  });
  return { logger: createLogger(level, stream), logs, lines };
}

/** A logger that writes nothing. */
export function silentLogger(): Logger {
  return captureLogs('silent').logger;
}

/** Calls `onLine` with each whole line `stream` (a child process's stdout, say) writes. */
export function onLines(stream: Readable, onLine: (line: string) => void): void {
  let buffer = '';
  stream.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    let nl;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      onLine(line);
    }
  });
}
