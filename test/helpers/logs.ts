// Logs a test can read: a logger made as the relay makes its own (src/log.ts), writing to memory.
import { Writable } from 'node:stream';
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
