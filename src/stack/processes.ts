/**
 * Child processes of the local stack: spawned with their output in a log file, tracked so that
 * nothing outlives the process that started it (tests, `cutover worker`), or detached on purpose
 * (`cutover dev up`), in which case `dev down` stops them by PID from the state file.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';

const tracked = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers must be synchronous: SIGKILL whatever is still ours so no orphan survives us.
  process.on('exit', () => {
    for (const child of tracked) killGroup(child.pid, 'SIGKILL');
  });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      const handler = interruptHandler;
      if (handler) {
        // A graceful stop first (the demo drops its databases); 'once' means a second signal kills at once.
        void handler(signal).finally(() => {
          for (const child of tracked) killGroup(child.pid, 'SIGKILL');
          process.exit(130);
        });
        return;
      }
      for (const child of tracked) killGroup(child.pid, 'SIGKILL');
      process.exit(130);
    });
  }
}

let interruptHandler: ((signal: NodeJS.Signals) => Promise<void>) | undefined;

/** Runs `fn` on SIGINT/SIGTERM/SIGHUP before the tracked children are killed and the process exits. */
export function onInterrupt(fn: (signal: NodeJS.Signals) => Promise<void>): void {
  interruptHandler = fn;
  installExitHook();
}

/** Sends a signal to a process group we created (or the process when it has none); ignores ESRCH. */
export function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (!pid) return;
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
}

/** True while a process with that PID runs (a zombie, exited but not yet reaped by its parent, does not). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // no /proc (not Linux): kill(0) is all there is
  }
}

/** The command line of a PID (to make sure `dev down` only stops what `dev up` started). */
export function commandLine(pid: number): string | undefined {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return undefined;
  }
}

export interface SpawnedProcess {
  child: ChildProcess;
  pid: number;
  /** Resolves with the exit code (or signal) once the process is gone. */
  exited: Promise<number | NodeJS.Signals | null>;
}

/**
 * Spawns `command` in its own process group with stdout/stderr appended to `logFile`.
 * `detached` processes are not tracked: they survive us (for `dev up`).
 */
export function spawnLogged(
  command: string,
  args: string[],
  opts: { logFile: string; env?: NodeJS.ProcessEnv; cwd?: string; detached?: boolean },
): SpawnedProcess {
  const fd = fs.openSync(opts.logFile, 'a');
  const child = spawn(command, args, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    stdio: ['ignore', fd, fd],
    // Always a process group of its own: kill(-pid) reaches the server and anything it forks.
    detached: true,
  });
  fs.closeSync(fd);
  if (child.pid === undefined) throw new Error(`could not start ${command}`);
  const exited = new Promise<number | NodeJS.Signals | null>((resolve) => {
    child.once('exit', (code, signal) => {
      tracked.delete(child);
      resolve(signal ?? code);
    });
    child.once('error', () => {
      tracked.delete(child);
      resolve(null);
    });
  });
  if (opts.detached) {
    child.unref();
  } else {
    installExitHook();
    tracked.add(child);
  }
  return { child, pid: child.pid, exited };
}

/** Polls until the PID is gone, up to `timeoutMs`; true when it is gone. */
export async function waitForPidExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return !isAlive(pid);
}

/**
 * Waits up to `timeoutMs` until the process is gone: a child spawned here by its exit event (so its
 * `exitCode` is set once this resolves), any other by its PID. True when it is gone.
 */
export async function waitForExit(proc: SpawnedProcess | number, timeoutMs: number): Promise<boolean> {
  if (typeof proc === 'number') return waitForPidExit(proc, timeoutMs);
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
  const gone = await Promise.race([proc.exited.then(() => true), timedOut]);
  clearTimeout(timer);
  return gone;
}

/** SIGTERM the group, then SIGKILL after `graceMs`; resolves once the process is gone. */
export async function stopProcess(proc: SpawnedProcess | undefined, graceMs = 5000): Promise<void> {
  if (!proc) return;
  const { child } = proc;
  if (child.exitCode !== null || child.signalCode !== null) return;
  killGroup(proc.pid, 'SIGTERM');
  const timer = setTimeout(() => killGroup(proc.pid, 'SIGKILL'), graceMs);
  await proc.exited;
  clearTimeout(timer);
}

/** Last lines of a log file, for error messages that show why a server did not come up. */
export function tail(file: string, lines = 20): string {
  try {
    const text = fs.readFileSync(file, 'utf8').trimEnd().split('\n');
    return text.slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
