// Waiting in tests: for a condition, for an event, or for a promise. Each wait has a deadline
// that fails the test with what it waited for: a bound on waiting, never a timing assertion.
import type { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { withTimeout } from '../../src/time.js';

export interface WaitOptions {
  /** How long to wait before failing (default 10 s). */
  timeoutMs?: number;
  /** What is waited for, for the failure message. */
  what?: string;
}

const TIMEOUT_MS = 10_000;
const POLL_MS = 10;

/** Resolves once `condition` holds; for state that announces no event of its own. */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  { timeoutMs = TIMEOUT_MS, what = 'a condition holds' }: WaitOptions = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting until ${what}`);
    await sleep(POLL_MS);
  }
}

/** The arguments of the next `name` event of `emitter` that `filter` accepts. */
export function nextEvent<Args extends unknown[] = any[]>( // eslint-disable-line @typescript-eslint/no-explicit-any
  emitter: EventEmitter,
  name: string,
  filter: (...args: Args) => boolean = () => true,
  { timeoutMs = TIMEOUT_MS, what = `a '${name}' event` }: WaitOptions = {},
): Promise<Args> {
  let listener!: (...args: Args) => void;
  const event = new Promise<Args>((resolve) => {
    listener = (...args) => {
      if (filter(...args)) resolve(args);
    };
    emitter.on(name, listener);
  });
  return within(event, timeoutMs, what).finally(() => emitter.off(name, listener));
}

/** `promise`, or a rejection naming `what` when it has not settled within `ms`. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return withTimeout(promise, ms, () => {
    throw new Error(`${what}: not within ${ms} ms`);
  });
}
