/**
 * Reconcile for schedules: each schedule active on exactly one cluster, the two
 * copies equal in meaning, the owner record naming the active side, and — over a window of runs —
 * no nominal time run on both clusters and none run on neither.
 */
import { diffSchedules } from './diff';
import type { ScheduleFence, ScheduleOwnerRecord } from './fence';
import { describeRaw, matchingTimes, stateOf } from './raw';
import { duplicateFires, listScheduledRuns, lostFires } from './runs';
import { listSelected } from './selector';
import type { ScheduleDiff, ScheduleEndpoint, ScheduleSelector, Side } from './types';

export type ScheduleProblem =
  | 'active-on-both'
  | 'paused-on-both'
  | 'missing-on-source'
  | 'missing-on-target'
  | 'owner-mismatch'
  | 'spec-differs'
  | 'duplicate-fires'
  | 'lost-fires';

export interface ScheduleReconcileItem {
  scheduleId: string;
  source: { exists: boolean; paused: boolean };
  target: { exists: boolean; paused: boolean };
  activeOn: Side | 'both' | 'none';
  owner?: Pick<ScheduleOwnerRecord, 'owner' | 'epoch'>;
  /** Differences in meaning, except the catch-up window (the switch lowers it on purpose). */
  diffs: ScheduleDiff[];
  runs?: { source: number; target: number; duplicates: number[]; lost: number[] };
  problems: ScheduleProblem[];
}

export interface ScheduleReconcileReport {
  items: ScheduleReconcileItem[];
  counts: Record<ScheduleProblem, number> & { schedules: number; duplicateFires: number; lostFires: number };
  /** True when no schedule has a problem. */
  clean: boolean;
}

export interface ReconcileSchedulesInput {
  source: ScheduleEndpoint;
  target: ScheduleEndpoint;
  selector: ScheduleSelector;
  /** When given, the owner record is compared with the active side. */
  fence?: ScheduleFence;
  /** When given, runs of the window [sinceMs, untilMs] are checked for double and lost fires. */
  runsWindow?: { sinceMs: number; untilMs: number };
}

const PROBLEMS: ScheduleProblem[] = [
  'active-on-both',
  'paused-on-both',
  'missing-on-source',
  'missing-on-target',
  'owner-mismatch',
  'spec-differs',
  'duplicate-fires',
  'lost-fires',
];

/** Checks every selected schedule on both clusters; never changes anything. */
export async function reconcileSchedules(input: ReconcileSchedulesInput): Promise<ScheduleReconcileReport> {
  const { source, target, selector, fence, runsWindow } = input;
  const [a, b] = await Promise.all([listSelected(source, selector), listSelected(target, selector)]);
  const ids = [...new Set([...a, ...b])].sort();
  const items: ScheduleReconcileItem[] = [];
  for (const scheduleId of ids) {
    const [ds, dt, owner] = await Promise.all([
      describeRaw(source, scheduleId),
      describeRaw(target, scheduleId),
      fence?.read(source.namespace, scheduleId),
    ]);
    const ss = stateOf(ds);
    const st = stateOf(dt);
    const problems: ScheduleProblem[] = [];
    const activeS = ss.exists && !ss.paused;
    const activeT = st.exists && !st.paused;
    const activeOn: ScheduleReconcileItem['activeOn'] = activeS && activeT ? 'both' : activeS ? 'source' : activeT ? 'target' : 'none';
    if (!ss.exists) problems.push('missing-on-source');
    if (!st.exists) problems.push('missing-on-target');
    if (activeOn === 'both') problems.push('active-on-both');
    if (activeOn === 'none' && ss.exists && st.exists) problems.push('paused-on-both');
    if (owner && (activeOn === 'source' || activeOn === 'target') && owner.owner !== activeOn) problems.push('owner-mismatch');
    const diffs = ds && dt ? diffSchedules(ds, dt).filter((d) => d.path !== 'policies.catchupWindowMs') : [];
    if (diffs.length) problems.push('spec-differs');
    let runs: ScheduleReconcileItem['runs'];
    if (runsWindow && (ds || dt)) {
      const inWindow = (r: { nominalMs: number }) => r.nominalMs >= runsWindow.sinceMs && r.nominalMs <= runsWindow.untilMs;
      const [rs, rt] = await Promise.all([
        ds ? listScheduledRuns(source, scheduleId) : [],
        dt ? listScheduledRuns(target, scheduleId) : [],
      ]);
      const ws = rs.filter(inWindow);
      const wt = rt.filter(inWindow);
      const expected = await matchingTimes(dt ? target : source, scheduleId, runsWindow.sinceMs - 1, runsWindow.untilMs);
      runs = { source: ws.length, target: wt.length, duplicates: duplicateFires(ws, wt), lost: lostFires(expected, [...ws, ...wt]) };
      if (runs.duplicates.length) problems.push('duplicate-fires');
      if (runs.lost.length) problems.push('lost-fires');
    }
    items.push({
      scheduleId,
      source: { exists: ss.exists, paused: ss.paused },
      target: { exists: st.exists, paused: st.paused },
      activeOn,
      owner: owner && { owner: owner.owner, epoch: owner.epoch },
      diffs,
      runs,
      problems,
    });
  }
  const counts = {
    schedules: items.length,
    duplicateFires: 0,
    lostFires: 0,
    ...Object.fromEntries(PROBLEMS.map((p) => [p, 0])),
  } as ScheduleReconcileReport['counts'];
  for (const it of items) {
    for (const p of it.problems) counts[p]++;
    counts.duplicateFires += it.runs?.duplicates.length ?? 0;
    counts.lostFires += it.runs?.lost.length ?? 0;
  }
  return { items, counts, clean: items.every((i) => i.problems.length === 0) };
}
