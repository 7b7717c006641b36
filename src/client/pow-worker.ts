// Worker thread of solvePow(): searches its nonce stride and posts the first solution (or null).
import { parentPort, workerData } from 'node:worker_threads';
import { searchNonce, type PowJob } from './pow-solver.js';

parentPort?.postMessage(searchNonce(workerData as PowJob));
