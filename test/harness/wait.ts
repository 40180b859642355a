/** The one bounded wait of the tests: poll a condition until it holds; or wait for a child's ready line. */
import type { ChildProcess } from 'node:child_process';

export interface UntilOptions {
  /** Bound on the whole wait. Default 20 s. */
  timeoutMs?: number;
  /** Pause between two polls. Default 100 ms. */
  everyMs?: number;
  /** More for the timeout message (e.g. the last status seen), computed only on timeout. */
  detail?: () => string | Promise<string>;
}

/**
 * Polls `probe` until it returns something other than `undefined` or `false`, and returns that. A
 * probe that throws counts as not yet (a cluster or worker may be restarting); after `timeoutMs` the
 * wait fails naming `what`, with the last error and the `detail`. A number is the timeout.
 */
export async function until<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  options: UntilOptions | number = {},
): Promise<T> {
  const { timeoutMs = 20_000, everyMs = 100, detail } = typeof options === 'number' ? { timeoutMs: options } : options;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() + everyMs > deadline) {
      const more = [
        lastError ? `last error: ${describeError(lastError)}` : '',
        detail ? await Promise.resolve().then(detail).catch(String) : '',
      ]
        .filter(Boolean)
        .join('; ');
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${more ? `; ${more}` : ''}`, { cause: lastError });
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** An error with its causes (the SDK wraps the server's reason in `cause`). */
function describeError(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err; e && parts.length < 5; e = (e as { cause?: unknown }).cause) parts.push(String(e));
  return parts.join(' ← ');
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
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited early (${code ?? signal})`));
    });
  });
  child.removeAllListeners('exit');
}
