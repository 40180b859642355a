/** Starts `worker-process.ts` as a child process and stops it (the parent's side of that process). */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import * as path from 'node:path';
import { childReady } from '../../test/harness/wait';
import type { WorkerProcessConfig } from './worker-process';

/** A running worker process. */
export interface WorkerChild {
  pid: number;
  metricsUrl: string;
  /** SIGTERM (the SDK shuts the worker down), SIGKILL after `graceMs`; resolves when it is gone. */
  stop(graceMs?: number): Promise<void>;
}

/** Spawns the worker process and resolves once it prints READY (60 s at most). */
export async function startWorkerProcess(cfg: WorkerProcessConfig, log: (line: string) => void): Promise<WorkerChild> {
  const root = path.resolve(__dirname, '..', '..');
  const child: ChildProcess = spawn(process.execPath, ['--require', 'tsx/cjs', path.join(__dirname, 'worker-process.ts')], {
    cwd: root,
    env: { ...process.env, BENCH_WORKER: JSON.stringify(cfg) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stderr!.on('data', (b: Buffer) => {
    for (const line of b.toString().split('\n')) if (line.trim()) log(`[worker ${cfg.mode}] ${line}`);
  });
  try {
    await childReady(child, `the ${cfg.mode} worker process`);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return {
    pid: child.pid!,
    metricsUrl: `http://${cfg.metricsAddress}/metrics`,
    stop: async (graceMs = 15_000) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = once(child, 'exit');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await gone;
      clearTimeout(timer);
    },
  };
}
