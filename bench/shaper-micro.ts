// Micro-benchmark of the outbound scheduler: N outboxes receive jittered frames at a steady
// rate; reports write lateness (write time − due time) and CPU time, next to a baseline of one
// setTimeout per frame measured in the same run. Sinks are in-process (no sockets). The run with
// pacing also writes dummy_pacing frames (`written` counts real frames only). CPU time is the
// whole process's, tsx's loader thread included.
// Run: npx tsx bench/shaper-micro.ts [outboxes=10000] [framesPerSecond=20000] [seconds=5]
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { drawJitterMs } from '../src/normalize/jitter.js';
import { padJson } from '../src/normalize/padding.js';
import { TrafficShaper, type FrameSink } from '../src/normalize/traffic-shaper.js';

const outboxes = Number(process.argv[2] ?? 10_000);
const rate = Number(process.argv[3] ?? 20_000);
const seconds = Number(process.argv[4] ?? 5);
const JITTER: [number, number] = [10, 50];
const data = padJson({ type: 'msg', id: 'x', envelope: 'y'.repeat(200) });

const sink: FrameSink = {
  readyState: 1,
  send(_data, _options, cb) {
    queueMicrotask(cb);
  },
};

interface Result {
  written: number;
  p50: number;
  p99: number;
  max: number;
  cpuMs: number;
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN;
}

/** Drives `enqueue(i)` at `rate` per second for `seconds`, then waits for the stragglers. */
async function drive(enqueue: (i: number) => void): Promise<void> {
  const tickMs = 10;
  const perTick = Math.round((rate * tickMs) / 1000);
  const ticks = Math.round((seconds * 1000) / tickMs);
  let i = 0;
  for (let t = 0; t < ticks; t++) {
    for (let k = 0; k < perTick; k++) enqueue(i++);
    await new Promise((r) => setTimeout(r, tickMs));
  }
  await new Promise((r) => setTimeout(r, JITTER[1] + 50));
}

async function runShaper(paced: boolean): Promise<Result> {
  const lateness: number[] = [];
  const shaper = new TrafficShaper({
    jitterMs: JITTER,
    pacingMs: 500,
    pacingIdleMs: 5000,
    onLateness: (ms) => lateness.push(ms),
  });
  const boxes = Array.from({ length: outboxes }, () => shaper.attach(sink));
  if (paced) for (const box of boxes) box.enablePacing();
  const cpu = process.cpuUsage();
  await drive((i) => {
    boxes[i % outboxes]!.enqueue({ data, binary: false, real: true, jitter: true });
  });
  const used = process.cpuUsage(cpu);
  for (const box of boxes) box.close();
  shaper.stop();
  return summarise(lateness, shaper.framesWritten - shaper.dummiesWritten, used);
}

async function runBaseline(): Promise<Result> {
  const lateness: number[] = [];
  let written = 0;
  const cpu = process.cpuUsage();
  await drive(() => {
    const delay = drawJitterMs(JITTER[0], JITTER[1]);
    const due = performance.now() + delay;
    setTimeout(() => {
      lateness.push(performance.now() - due);
      sink.send(data, { binary: false }, () => written++);
    }, delay);
  });
  return summarise(lateness, written, process.cpuUsage(cpu));
}

function summarise(lateness: number[], written: number, cpu: NodeJS.CpuUsage): Result {
  const sorted = Float64Array.from(lateness).sort();
  return {
    written,
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
    max: sorted[sorted.length - 1] ?? NaN,
    cpuMs: (cpu.user + cpu.system) / 1000,
  };
}

const baseline = await runBaseline();
const shaped = await runShaper(false);
const paced = await runShaper(true);
const round = (n: number): number => Math.round(n * 100) / 100;
console.log(
  JSON.stringify(
    {
      machine: { cpus: os.cpus().length, node: process.version },
      params: { outboxes, rate, seconds, jitterMs: JITTER },
      baseline_setTimeout_per_frame: baseline,
      shaper: shaped,
      shaper_with_pacing: paced,
      ratio_cpu: round(shaped.cpuMs / baseline.cpuMs),
      ratio_p99_lateness: round(shaped.p99 / baseline.p99),
    },
    null,
    2,
  ),
);
