/**
 * How far a campaign has come and how long it has left, as a pure function of its context, state and
 * `now` (no Temporal imports, no clock): units done, remaining and failed per ring and overall, and an
 * ETA per ring and for the whole campaign from the durations the campaign measured for its own steps.
 *
 * Computed on read (the `status` query, the UI's details, the metrics collector): nothing is added to the
 * workflow's state or history. A step's duration is read from the campaign's story: every line carries
 * the number of the step that was current when it was written, and a step ends with the lines its
 * `next-step` writes, so the last line of step n is when it ended and when step n + 1 began.
 *
 * The model: a step takes its planned minimum (its bake, or its gates' count × interval when longer)
 * plus an overrun, the time the units took to move (start, preflight, provision, shadow, route changes,
 * drain, reconcile). The overrun of a step not yet run is the median overrun of the finished steps of
 * its kind (any kind but approval when none of its kind has finished); an approval waits on people,
 * so an approval not yet measured counts as nothing and is reported as `approvalsAhead`. With no
 * finished step to measure, the ETA is unknown.
 */
import { isFinished, type CampaignContext } from './planner';
import type { CampaignState, CampaignStep, StepKind } from './types';

/** Time left until something is done: known (ms from `asOf`, and the moment) or unknown (why). */
export type Eta =
  | {
      known: true;
      /** Milliseconds left as of the progress's `asOf`. */
      ms: number;
      /** When it is forecast to be done (ISO). */
      at: string;
      /** Approval steps ahead whose wait for people is not in `ms` (none of them measured yet). */
      approvalsAhead?: number;
    }
  | { known: false; reason: string };

/** Units by where the campaign has them. `remaining` = `total` − `done`; `failed` and `rolledBack` are among the remaining. */
export interface UnitCounts {
  total: number;
  done: number;
  remaining: number;
  /** Units whose entity failed (held for an operator). */
  failed: number;
  /** Units rolled back by the campaign (not a drill's rehearsal, which counts as done). */
  rolledBack: number;
}

/** One ring's progress. */
export interface RingProgress extends UnitCounts {
  name: string;
  status: 'pending' | 'active' | 'done';
  batches: number;
  batchesDone: number;
  /** Until the ring is done (rings after the current one include the rings before them). */
  eta: Eta;
}

/** The campaign's progress (the `progress` field of its `status` query). */
export interface CampaignProgress {
  /** The moment the ETAs count from (ISO). */
  asOf: string;
  units: UnitCounts;
  steps: { done: number; total: number };
  rings: RingProgress[];
  /** The ring the campaign is on (absent once finished). */
  ring?: string;
  /** Until the whole campaign is done. */
  eta: Eta;
  /**
   * What stops the clock: while paused or held, the campaign does no work, and `eta.ms` is the work left
   * (counted up to the pause or hold), so `eta.at` moves on until it resumes.
   */
  stalled?: 'paused' | 'held' | 'awaiting-approval';
  /** Each step kind's measured overrun over its planned minimum: finished steps measured, median (ms). */
  measured: Partial<Record<StepKind, { steps: number; overrunMs: number }>>;
}

/** The median of a non-empty list. */
function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : Math.round((s[mid - 1]! + s[mid]!) / 2);
}

/** When each finished step ended (ms), by step number, read from the campaign's story. */
export function stepEnds(state: CampaignState, current: number): Map<number, number> {
  const ends = new Map<number, number>();
  for (const h of state.history) {
    if (h.step === undefined || h.step >= current) continue;
    const at = Date.parse(h.at);
    if (Number.isFinite(at) && at > (ends.get(h.step) ?? -Infinity)) ends.set(h.step, at);
  }
  return ends;
}

/** Measured durations of the finished steps (ms) whose start and end the story still holds. */
export function measuredSteps(
  steps: readonly CampaignStep[],
  state: CampaignState,
  ends = stepEnds(state, Math.min(state.stepIndex, steps.length) + 1),
): { step: CampaignStep; ms: number }[] {
  const current = Math.min(state.stepIndex, steps.length) + 1;
  const first = state.startedAt ? Date.parse(state.startedAt) : NaN;
  const out: { step: CampaignStep; ms: number }[] = [];
  for (let i = 0; i < current - 1; i++) {
    const step = steps[i]!;
    const start = i === 0 ? first : ends.get(step.n - 1);
    const end = ends.get(step.n);
    if (start === undefined || end === undefined || !Number.isFinite(start) || end < start) continue;
    out.push({ step, ms: end - start });
  }
  return out;
}

/** Each kind's median overrun over the planned minimum (an approval's whole wait is its overrun). */
function overruns(measured: readonly { step: CampaignStep; ms: number }[]): {
  byKind: CampaignProgress['measured'];
  any?: number;
} {
  const lists: Partial<Record<StepKind, number[]>> = {};
  const all: number[] = [];
  for (const { step, ms } of measured) {
    const over = Math.max(0, ms - step.minDurationMs);
    (lists[step.kind] ??= []).push(over);
    if (step.kind !== 'approval') all.push(over);
  }
  const byKind: CampaignProgress['measured'] = {};
  for (const [kind, xs] of Object.entries(lists) as [StepKind, number[]][]) byKind[kind] = { steps: xs.length, overrunMs: median(xs) };
  return { byKind, ...(all.length > 0 ? { any: median(all) } : {}) };
}

/**
 * Units by ring index, as the campaign knows them at its current step. In a pass over the steps and the
 * views the state keeps, not over every unit (a 10,000-unit campaign computes this every round): a unit
 * whose ending step (`complete`, or a drill's `rollback`) has passed is done, and only the units the state
 * still has a view of can be anywhere else.
 */
function ringCounts(c: CampaignContext, state: CampaignState): UnitCounts[] {
  const { rings, steps } = c.input.plan;
  const out = rings.map((r) => ({ total: r.units.length, done: 0, remaining: 0, failed: 0, rolledBack: 0 }));
  if (state.phase === 'completed') for (const x of out) x.done = x.total;
  else {
    for (let i = 0; i < Math.min(state.stepIndex, steps.length); i++) {
      const s = steps[i]!;
      if (s.kind === 'complete' || s.kind === 'rollback') out[s.ringIndex]!.done += s.units.length;
    }
    const ringIndex = new Map(rings.map((r, i) => [r.name, i] as const));
    for (const [u, v] of Object.entries(state.units)) {
      const sealing = c.sealing.get(u);
      const x = out[ringIndex.get(c.ringOf.get(u) ?? '') ?? -1];
      if (!x || (sealing !== undefined && sealing < state.stepIndex)) continue; // not in the plan, or counted above
      // A drill's batch ends rolled back: that is its rehearsal done, once its rollback step is the current one.
      const drillEnd = sealing === state.stepIndex && steps[sealing]!.kind === 'rollback';
      if (v.phase === 'completed' || (drillEnd && v.phase === 'rolled-back')) x.done++;
      else if (v.phase === 'failed') x.failed++;
      else if (v.phase === 'rolled-back' || v.phase === 'rolling-back') x.rolledBack++;
    }
  }
  for (const x of out) x.remaining = x.total - x.done;
  return out;
}

function add(a: UnitCounts, b: UnitCounts): UnitCounts {
  return {
    total: a.total + b.total,
    done: a.done + b.done,
    remaining: a.remaining + b.remaining,
    failed: a.failed + b.failed,
    rolledBack: a.rolledBack + b.rolledBack,
  };
}

/** Batches done by ring index: those whose last step is before step index `stepIndex`. */
function batchesDone(steps: readonly CampaignStep[], stepIndex: number): Map<number, number> {
  const out = new Map<number, number>();
  for (let i = 0; i < Math.min(stepIndex, steps.length); i++) {
    const s = steps[i]!;
    const next = steps[i + 1];
    if (!next || next.ringIndex !== s.ringIndex || next.batch !== s.batch) out.set(s.ringIndex, (out.get(s.ringIndex) ?? 0) + 1);
  }
  return out;
}

/** The campaign's progress and ETAs at `now` (ms). */
export function campaignProgress(c: CampaignContext, state: CampaignState, now: number): CampaignProgress {
  const plan = c.input.plan;
  const steps = plan.steps;
  const finished = isFinished(state);
  const cur = state.phase === 'completed' ? steps.length : Math.min(state.stepIndex, steps.length);
  const ends = stepEnds(state, cur + 1);
  const measured = measuredSteps(steps, state, ends);
  const { byKind, any } = overruns(measured);
  const stalled: CampaignProgress['stalled'] = state.paused
    ? 'paused'
    : state.hold
      ? 'held'
      : state.phase === 'awaiting-approval'
        ? 'awaiting-approval'
        : undefined;
  // While stalled, the current step's elapsed time stops at the pause or hold: the work left stays put.
  const stalledAt = state.paused ? Date.parse(state.paused.at) : state.hold ? Date.parse(state.hold.at) : NaN;
  const clock = Number.isFinite(stalledAt) ? Math.min(now, stalledAt) : now;

  const rolling = !!state.rollback || state.phase === 'rolling-back' || state.phase === 'rolled-back';
  const unknown = (reason: string): Eta => ({ known: false, reason });
  /** A ring done: nothing left; it was done when its last step ended (now, when the story no longer holds that). */
  const doneEta = (last: number): Eta => ({ known: true, ms: 0, at: new Date(ends.get(last + 1) ?? now).toISOString() });

  // Estimated time left of each step from the current one on (undefined: nothing to estimate it by).
  const left: (number | undefined)[] = [];
  const approvals: boolean[] = [];
  if (!finished && !rolling) {
    const currentStart = cur === 0 ? (state.startedAt ? Date.parse(state.startedAt) : NaN) : ends.get(cur);
    for (let i = cur; i < steps.length; i++) {
      const step = steps[i]!;
      const over = byKind[step.kind]?.overrunMs ?? (step.kind === 'approval' ? 0 : any);
      approvals.push(step.kind === 'approval' && byKind.approval === undefined);
      if (over === undefined) {
        left.push(undefined);
        continue;
      }
      let ms = step.minDurationMs + over;
      if (i === cur) {
        const elapsed = currentStart !== undefined && Number.isFinite(currentStart) ? Math.max(0, clock - currentStart) : 0;
        // A bake in progress lasts at least its planned minimum from its own start (it restarts on a route change).
        const bakeLeft = state.bake ? state.bake.startedAt + step.minDurationMs - clock : 0;
        ms = Math.max(0, ms - elapsed, bakeLeft);
      }
      left.push(ms);
    }
  }

  // Running sums from the current step: time left through step index cur + k, and approvals not in it.
  const through: (number | undefined)[] = [];
  const aheadThrough: number[] = [];
  left.forEach((x, k) => {
    const before = k === 0 ? 0 : through[k - 1];
    through.push(x === undefined || before === undefined ? undefined : before + x);
    aheadThrough.push((k === 0 ? 0 : aheadThrough[k - 1]!) + (approvals[k] ? 1 : 0));
  });

  /** Time until step index `last` (inclusive) is done, from the current step. */
  const etaThrough = (last: number): Eta => {
    if (last < cur) return doneEta(last);
    if (state.phase === 'rolled-back') return unknown('the campaign was rolled back');
    if (rolling) return unknown('the campaign is rolling back');
    const ms = through[last - cur];
    if (ms === undefined) return unknown('nothing measured yet: the first finished step gives the pace');
    const ahead = aheadThrough[last - cur]!;
    return { known: true, ms, at: new Date(now + ms).toISOString(), ...(ahead > 0 ? { approvalsAhead: ahead } : {}) };
  };

  const batches = batchesDone(steps, cur);
  const lastOfRing = new Map<number, number>();
  steps.forEach((s, i) => lastOfRing.set(s.ringIndex, i));
  let total: UnitCounts = { total: 0, done: 0, remaining: 0, failed: 0, rolledBack: 0 };
  const counted = ringCounts(c, state);
  const rings = plan.rings.map((r, ringIndex): RingProgress => {
    const counts = counted[ringIndex]!;
    total = add(total, counts);
    const last = lastOfRing.get(ringIndex) ?? -1;
    const status = state.phase === 'completed' || last < cur ? 'done' : steps[cur]?.ringIndex === ringIndex ? 'active' : 'pending';
    return {
      name: r.name,
      status,
      batches: r.batches,
      batchesDone: state.phase === 'completed' ? r.batches : (batches.get(ringIndex) ?? 0),
      ...counts,
      eta: etaThrough(last),
    };
  });
  const current = finished ? undefined : steps[cur];
  return {
    asOf: new Date(now).toISOString(),
    units: total,
    steps: { done: cur, total: steps.length },
    rings,
    ...(current ? { ring: current.ring } : {}),
    eta: etaThrough(steps.length - 1),
    ...(stalled && !finished ? { stalled } : {}),
    measured: byKind,
  };
}

/** `42s`, `4m10s`, `2h5m`, `3d4h`: a time left for people (seconds only under ten minutes). */
export function etaDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return `${m}m${s % 60 ? `${s % 60}s` : ''}`;
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h${m % 60 ? `${m % 60}m` : ''}`;
  return `${Math.floor(h / 24)}d${h % 24 ? `${h % 24}h` : ''}`;
}

/**
 * An ETA in words. `now` given: the time left from then (`4m10s`, the CLI's clock); absent: the moment
 * (`≈ 2026-12-06T20:31:10Z`, for text that is read later than it is written, like the UI's details).
 */
export function etaText(eta: Eta, now?: number): string {
  if (!eta.known) return `unknown (${eta.reason})`;
  const left = now === undefined ? 0 : Date.parse(eta.at) - now;
  // Past its moment and not done: the work runs over its estimate.
  const when = now === undefined ? `≈ ${eta.at.replace(/\.\d+Z$/, 'Z')}` : left > 0 ? etaDuration(left) : 'due now';
  const ahead = eta.approvalsAhead ? ` + ${eta.approvalsAhead} approval${eta.approvalsAhead > 1 ? 's' : ''}` : '';
  return `${when}${ahead}`;
}

/** `1 failed, 2 rolled back` (empty when neither). */
function troubles(u: UnitCounts): string {
  return [u.failed ? `${u.failed} failed` : '', u.rolledBack ? `${u.rolledBack} rolled back` : ''].filter(Boolean).join(', ');
}

/**
 * The campaign's progress in parts: `12/40 units done`, `ring 'canary' 1/3 batches, ETA 4m10s`, `campaign ETA
 * 1h2m`, and why the clock stopped when it did. `now` as in `etaText`.
 */
export function progressParts(p: CampaignProgress, now?: number): string[] {
  const t = troubles(p.units);
  const parts = [`${p.units.done}/${p.units.total} units done${t ? ` (${t})` : ''}`];
  const ring = p.rings.find((r) => r.name === p.ring);
  if (ring) parts.push(`ring '${ring.name}' ${ring.batchesDone}/${ring.batches} batches, ETA ${etaText(ring.eta, now)}`);
  const last = p.rings[p.rings.length - 1];
  if (p.ring && last && last.name !== p.ring) parts.push(`campaign ETA ${etaText(p.eta, now)}`);
  if (p.stalled === 'paused') parts.push('paused: the clock starts again at resume');
  if (p.stalled === 'held') parts.push('held: the clock starts again at resume');
  return parts;
}

/** The campaign's progress in one line: `12/40 units done · ring 'canary' 1/3 batches, ETA 4m10s · campaign ETA 1h2m`. */
export function progressLine(p: CampaignProgress, now?: number): string {
  return progressParts(p, now).join(' · ');
}
