/**
 * The switch gap, as pure functions: which nominal times fell between the pause on one side and
 * the unpause on the other, and how to ask the new owner to take them (backfill ranges).
 */

/** The ID the scheduler gives the run of a nominal time: `<action workflowId>-<RFC 3339, seconds, UTC>`. */
export function scheduledRunId(actionWorkflowId: string, nominalMs: number): string {
  const secs = Math.floor(nominalMs / 1000) * 1000;
  return `${actionWorkflowId}-${new Date(secs).toISOString().replace(/\.\d{3}Z$/, 'Z')}`;
}

/** Parses the nominal time (ms) back out of a scheduled run's workflow ID; undefined if it has none. */
export function nominalFromRunId(actionWorkflowId: string, runWorkflowId: string): number | undefined {
  if (!runWorkflowId.startsWith(`${actionWorkflowId}-`)) return undefined;
  const suffix = runWorkflowId.slice(actionWorkflowId.length + 1);
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/.test(suffix)) return undefined;
  return Date.parse(suffix);
}

/**
 * The first nominal time the new owner takes by itself after its unpause: the earliest action it
 * already took at or after `fromMs`, else the first of its future action times.
 */
export function firstOwnTime(fromMs: number, recentNominal: number[], futureActionTimes: number[]): number | undefined {
  const taken = recentNominal.filter((t) => t >= fromMs);
  const candidates = [...taken, ...futureActionTimes.slice(0, 1)];
  return candidates.length ? Math.min(...candidates) : undefined;
}

/** Nominal times in `matching` within [fromMs, untilMs) that no side ran (`ran`): the lost fires. */
export function gapTimes(matching: number[], fromMs: number, untilMs: number, ran: Iterable<number>): number[] {
  const done = new Set<number>();
  for (const t of ran) done.add(Math.floor(t / 1000));
  return [...new Set(matching)].filter((t) => t >= fromMs && t < untilMs && !done.has(Math.floor(t / 1000))).sort((a, b) => a - b);
}

/**
 * Backfill ranges covering exactly `missing`: runs of consecutive entries of `matching` that are all
 * missing become one inclusive range [first, last], so no time that did run is asked for again.
 */
export function backfillRanges(matching: number[], missing: number[]): { startMs: number; endMs: number }[] {
  const miss = new Set(missing);
  const sorted = [...new Set(matching)].sort((a, b) => a - b);
  const out: { startMs: number; endMs: number }[] = [];
  let cur: { startMs: number; endMs: number } | undefined;
  for (const t of sorted) {
    if (miss.has(t)) {
      if (cur) cur.endMs = t;
      else cur = { startMs: t, endMs: t };
    } else if (cur) {
      out.push(cur);
      cur = undefined;
    }
  }
  if (cur) out.push(cur);
  // Times missing but not in `matching` (should not happen) still get a range of their own.
  const covered = new Set(sorted.filter((t) => miss.has(t)));
  for (const t of missing) if (!covered.has(t)) out.push({ startMs: t, endMs: t });
  return out.sort((a, b) => a.startMs - b.startMs);
}
