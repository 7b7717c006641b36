// Entry point of a worker process (forked by the primary, src/cluster/primary.ts).
import { runWorker } from './worker.js';

await runWorker();
