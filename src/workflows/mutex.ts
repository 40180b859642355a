/**
 * A tiny FIFO mutex for workflow code: operator commands and the main loop's
 * steps take it, so a command lands between steps, never in the middle of one. Hand-written
 * because it must be deterministic and sandbox-safe: plain promises, no timers.
 */
export class Mutex {
  private held = false;
  private readonly waiters: (() => void)[] = [];

  /** True while someone holds the lock. */
  get locked(): boolean {
    return this.held;
  }

  /**
   * Runs a synchronous `fn` at once when nobody holds the lock (it never yields, so nothing can interleave
   * with it), else queues it like `runExclusive`. A handler that only changes state this way costs no
   * promise while the workflow waits: a burst of thousands of signals in one activation stays cheap.
   */
  runNowOrQueue<T>(fn: () => T): T | Promise<T> {
    if (!this.held) return fn();
    return this.runExclusive(fn);
  }

  /** Runs `fn` alone; callers queue in arrival order. */
  async runExclusive<T>(fn: () => T | Promise<T>): Promise<T> {
    if (this.held) await new Promise<void>((resolve) => this.waiters.push(resolve));
    else this.held = true;
    try {
      return await fn();
    } finally {
      // Hand the lock straight to the next waiter so nobody can slip in between.
      const next = this.waiters.shift();
      if (next) next();
      else this.held = false;
    }
  }
}
