// The child side of a forked bench helper: answers each command of the orchestrator (see
// BenchChild in procs.ts) with its result or its error, and exits when the channel closes.
import type { Response } from './protocol.js';

export function serveCommands<R extends { id: number }>(
  handle: (req: R) => Promise<unknown>,
): void {
  process.on('message', (req: R) => {
    handle(req).then(
      (result) => process.send!({ id: req.id, ok: true, result } satisfies Response),
      (err: unknown) =>
        process.send!({
          id: req.id,
          ok: false,
          error: err instanceof Error ? (err.stack ?? err.message) : String(err),
        } satisfies Response),
    );
  });
  process.on('disconnect', () => process.exit(0));
  process.send!({ id: 0, ok: true, result: 'ready' } satisfies Response);
}
