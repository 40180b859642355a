/** Samples a process's resident set size from /proc (Linux), for the worker RSS the benchmarks report. */
import * as fs from 'node:fs';

/** RSS of `pid` in MiB, or undefined when the process is gone or /proc is unavailable. */
export function rssMiB(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Samples `pid` every `everyMs`; `stop()` returns the maximum and the last sample (MiB). */
export function sampleRss(pid: number, everyMs = 1000): { stop(): { max: number; last: number; samples: number } } {
  let max = 0;
  let last = 0;
  let samples = 0;
  const take = () => {
    const v = rssMiB(pid);
    if (v === undefined) return;
    samples++;
    last = v;
    if (v > max) max = v;
  };
  take();
  const timer = setInterval(take, everyMs);
  return {
    stop: () => {
      clearInterval(timer);
      take();
      return { max, last, samples };
    },
  };
}
