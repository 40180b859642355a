/** Bounded waits shared by the integration suites: poll a condition, or a child's ready line. */
import type { ChildProcess } from 'node:child_process';

/** Polls `fn` every `everyMs` until it returns a value other than undefined; fails after `ms` with the last error. */
export async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 20_000, everyMs = 200): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Resolves once the child prints `READY` on stdout; rejects if it exits first or stays silent for `ms`. */
export async function childReady(child: ChildProcess, what: string, ms = 60_000): Promise<void> {
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not start within ${ms / 1000} s`)), ms);
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.includes('READY')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited early (${code})`));
    });
  });
  child.removeAllListeners('exit');
}
