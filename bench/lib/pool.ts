/** Bounded concurrency for the benchmarks' bulk operations (thousands of RPCs, a few in flight). */

/** Outcome of one item: its value, or the error it threw. */
export type Settled<R> = { ok: true; value: R } | { ok: false; error: unknown };

/**
 * Calls `fn` on every item with at most `concurrency` calls in flight; results in input order.
 * `onProgress(done)` is called after each item (for progress lines on long runs).
 */
export async function mapPool<T, R>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T, index: number) => Promise<R>,
  onProgress?: (done: number) => void,
): Promise<Settled<R>[]> {
  const out: Settled<R>[] = new Array(items.length);
  let next = 0;
  let done = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      try {
        out[i] = { ok: true, value: await fn(items[i] as T, i) };
      } catch (error) {
        out[i] = { ok: false, error };
      }
      onProgress?.(++done);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, lane));
  return out;
}

/** The first error among settled results, as one line (or undefined). */
export function firstError(results: readonly Settled<unknown>[]): string | undefined {
  const bad = results.find((r) => !r.ok) as { ok: false; error: unknown } | undefined;
  if (!bad) return undefined;
  return bad.error instanceof Error ? `${bad.error.name}: ${bad.error.message}` : String(bad.error);
}

/** A progress reporter that logs at most every `everyMs`: `label 1234/10000 (56/s)`. */
export function progressLogger(label: string, total: number, log: (line: string) => void, everyMs = 10_000): (done: number) => void {
  const t0 = performance.now();
  let last = t0;
  return (done) => {
    const now = performance.now();
    if (now - last < everyMs && done !== total) return;
    last = now;
    log(`${label} ${done}/${total} (${Math.round((done * 1000) / Math.max(1, now - t0))}/s)`);
  };
}
