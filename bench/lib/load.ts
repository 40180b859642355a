/** Load drivers for the benchmarks: closed loop (saturation) and open loop (fixed rate). */

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Result of a load block: latencies (ms, from issue to completion), errors, CPU of this process. */
export interface BlockResult {
  latencies: number[];
  errors: number;
  completed: number;
  elapsedMs: number;
  /** User + system CPU of this process during the block, in microseconds. */
  cpuMicros: number;
  firstError?: unknown;
}

/** `concurrency` workers call `fn` back to back for `durationMs`. */
export async function closedLoop(fn: (i: number) => Promise<unknown>, concurrency: number, durationMs: number): Promise<BlockResult> {
  const latencies: number[] = [];
  let errors = 0;
  let firstError: unknown;
  let i = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() - t0 < durationMs) {
        const s = performance.now();
        try {
          await fn(i++);
          latencies.push(performance.now() - s);
        } catch (err) {
          errors++;
          firstError ??= err;
        }
      }
    }),
  );
  const cpu = process.cpuUsage(cpu0);
  return {
    latencies,
    errors,
    completed: latencies.length,
    elapsedMs: performance.now() - t0,
    cpuMicros: cpu.user + cpu.system,
    firstError,
  };
}

/** Issues `fn` at `ratePerSec` (open loop: it does not wait for completions) for `durationMs`. */
export async function openLoop(fn: (i: number) => Promise<unknown>, ratePerSec: number, durationMs: number): Promise<BlockResult> {
  const latencies: number[] = [];
  let errors = 0;
  let firstError: unknown;
  const inflight = new Set<Promise<void>>();
  const interval = 1000 / ratePerSec;
  let i = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (;;) {
    const now = performance.now();
    if (now - t0 >= durationMs) break;
    const due = Math.floor((now - t0) / interval);
    while (i <= due) {
      const s = performance.now();
      const p = fn(i++).then(
        () => void latencies.push(performance.now() - s),
        (err: unknown) => {
          errors++;
          firstError ??= err;
        },
      );
      inflight.add(p);
      void p.finally(() => inflight.delete(p));
    }
    await sleep(1);
  }
  await Promise.all(inflight);
  const cpu = process.cpuUsage(cpu0);
  return {
    latencies,
    errors,
    completed: latencies.length,
    elapsedMs: performance.now() - t0,
    cpuMicros: cpu.user + cpu.system,
    firstError,
  };
}
