/**
 * CPU time used by processes, from /proc (Linux): which process a benchmark phase kept busy, and how
 * much, when wall time alone cannot say whether the servers or the client were the limit.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';

let ticksPerSecond: number | undefined;

/** Clock ticks per second of /proc's CPU counters (`getconf CLK_TCK`; 100 on every Linux seen). */
function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** User + system CPU seconds `pid` has used, or undefined when it is gone or /proc is unavailable. */
export function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which may itself hold spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / clockTicks();
  } catch {
    return undefined;
  }
}

export interface CpuMark {
  /** CPU seconds of the watched processes, summed (those gone count 0). */
  watched: number;
  /** CPU seconds of this process (the benchmark, with any in-process workers). */
  self: number;
}

/** A reading to subtract from a later one (`cpuSince`). */
export function cpuMark(pids: (number | undefined)[]): CpuMark {
  const watched = pids.reduce<number>((a, pid) => a + (pid === undefined ? 0 : (cpuSeconds(pid) ?? 0)), 0);
  const u = process.cpuUsage();
  return { watched, self: (u.user + u.system) / 1e6 };
}

/** CPU seconds used since `mark` by the same processes. */
export function cpuSince(mark: CpuMark, pids: (number | undefined)[]): CpuMark {
  const now = cpuMark(pids);
  return { watched: now.watched - mark.watched, self: now.self - mark.self };
}
