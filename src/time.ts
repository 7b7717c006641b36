// Durations in milliseconds, and a deadline on a promise.
export const SECOND_MS = 1000;
export const MINUTE_MS = 60 * SECOND_MS;
export const HOUR_MS = 60 * MINUTE_MS;
export const DAY_MS = 24 * HOUR_MS;

/**
 * Settles as `promise` does if it settles within `ms`; otherwise as `onTimeout` returns or throws
 * (resolves undefined without one). The timer is cleared either way.
 */
export function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | undefined>;
export function withTimeout<T, U>(
  promise: Promise<T>,
  ms: number,
  onTimeout: () => U | Promise<U>,
): Promise<T | U>;
export async function withTimeout<T, U>(
  promise: Promise<T>,
  ms: number,
  onTimeout?: () => U | Promise<U>,
): Promise<T | U | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms))).then(() =>
    onTimeout?.(),
  );
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
