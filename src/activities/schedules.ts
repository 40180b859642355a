/**
 * Activities that move a unit's schedules (never active on both clusters) with the schedules library
 * (src/schedules): copy them to the target paused, switch each one to one side exactly once behind
 * its fenced owner record (with the gap backfilled by policy), and reconcile them. Built by a factory
 * that takes both clusters' connections and the fence.
 *
 * Idempotent on retry: the switch decides per schedule from its owner record and both sides' states
 * (`decideScheduleSwitch`, pure), so a retry skips what is done and finishes what a crashed attempt
 * began (same switch ID), and a schedule its owner paused is never unpaused by cutover.
 */
import { heartbeat } from '@temporalio/activity';
import { ApplicationFailure, Client } from '@temporalio/client';
import {
  copyOne,
  copySchedules as copyUnitSchedules,
  describeRaw,
  listSelected,
  reconcileSchedules as reconcileUnitSchedules,
  ScheduleInputError,
  ScheduleSwitchSupersededError,
  StaleScheduleEpochError,
  switchSchedule,
  type ScheduleFence,
  type ScheduleOwnerRecord,
  type ScheduleSelector,
  type SidedEndpoint,
} from '../schedules';
import { observeSchedule, stateOf, type RawDescribe, type ScheduleState } from '../schedules/raw';
import type { Side, ScheduleCopyResult, ScheduleReconcileResult, ScheduleSwitchResult, TenantFilter } from '../domain/migration';
import type { ClusterDep } from './cluster';

/** Dependencies of the schedule activities: both clusters and the owner records (same Redis and key prefix as the routing records). */
export interface ScheduleActivityDeps {
  source: ClusterDep;
  target: ClusterDep;
  fence: ScheduleFence;
  now?: () => Date;
}

/** Which unit's schedules, and where. */
export interface UnitSchedulesArgs {
  /** Unit name (messages and notes). */
  unit: string;
  sourceNamespace: string;
  targetNamespace: string;
  /** Tenant units: the tenant's selector (its workflow-ID prefix is the schedule-ID prefix). */
  tenant?: TenantFilter;
}

/** Schedules switched at once (each switch is a handful of RPCs and short waits). */
const SWITCH_CONCURRENCY = 4;
/** Re-decisions of one schedule after losing its fence to another switcher, before giving up (the activity retries). */
const SWITCH_ROUNDS = 3;
/** Heartbeat period of the long activities (the workflow's heartbeat timeout is several times this). */
const HEARTBEAT_MS = 2_000;
/** At most this many schedules get their runs checked by reconcile (two visibility lists each). */
const MAX_RUN_CHECKED = 20;
/** Runs are checked from this long before the switch began, so fires on the old side are seen too. */
const RUNS_LEAD_MS = 30_000;
/** ...up to this long ago: a run started a moment ago may not be in visibility yet. */
const RUNS_LAG_MS = 5_000;
/** Most IDs listed in a result (results go into workflow history). */
const MAX_LISTED = 25;

/** The schedule selector of a unit: its whole namespace, or its tenant's schedule-ID prefix or search attribute. */
export function scheduleSelector(tenant?: TenantFilter): ScheduleSelector {
  if (!tenant) return { kind: 'namespace' };
  if ('workflowIdPrefix' in tenant) return { kind: 'idPrefix', prefix: tenant.workflowIdPrefix };
  return { kind: 'searchAttribute', name: tenant.searchAttribute, value: tenant.value };
}

/** True when cutover wrote the schedule's note (a copy, a switch's pause, a restore), not its owner. */
export function pausedByCutover(notes: string): boolean {
  return notes.startsWith('cutover');
}

/** What one schedule needs for its switch to a side. */
export type SwitchDecision =
  | { do: 'nothing'; why: 'already' | 'vanished' | 'left-paused' }
  /** `switchId` set: finish the switch the owner record names (it won the fence, then stopped). */
  | { do: 'switch'; expectedEpoch: number; switchId?: string };

type Sides = Record<Side, Pick<ScheduleState, 'exists' | 'paused' | 'notes'>>;

/**
 * Decides one schedule's switch to `to` from its owner record (missing = the source at epoch 0) and
 * both sides' states. Pure. A schedule paused by its owner (a note cutover did not write) is left
 * alone: switching would unpause it on the other side.
 */
export function decideScheduleSwitch(
  to: Side,
  rec: Pick<ScheduleOwnerRecord, 'owner' | 'epoch' | 'switchId'> | undefined,
  sides: Sides,
): SwitchDecision {
  const from: Side = to === 'target' ? 'source' : 'target';
  const owner = rec?.owner ?? 'source';
  const epoch = rec?.epoch ?? 0;
  const dest = sides[to];
  const orig = sides[from];
  if (owner === to) {
    if (!dest.exists) return { do: 'nothing', why: 'vanished' };
    if (!dest.paused) return { do: 'nothing', why: 'already' };
    if (!pausedByCutover(dest.notes)) return { do: 'nothing', why: 'left-paused' };
    // Paused by cutover although the record names it: a switch won the fence and stopped before its
    // unpause (finish it), or a switch away from it paused it and stopped before the fence (take it back).
    if (rec?.switchId && epoch > 0) return { do: 'switch', expectedEpoch: epoch - 1, switchId: rec.switchId };
    if (!orig.exists) return { do: 'nothing', why: 'vanished' };
    return { do: 'switch', expectedEpoch: epoch };
  }
  if (!orig.exists) return { do: 'nothing', why: 'vanished' };
  if (orig.paused && !pausedByCutover(orig.notes)) return { do: 'nothing', why: 'left-paused' };
  return { do: 'switch', expectedEpoch: epoch };
}

/** Heartbeats when called in an activity; the gate and tests call the same code outside one. */
function beat(details?: unknown): void {
  try {
    heartbeat(details);
  } catch {
    // not in an activity context
  }
}

/** Runs `fn` heartbeating every couple of seconds (a long call in an activity with a heartbeat timeout). */
export async function beating<T>(fn: () => Promise<T>): Promise<T> {
  const timer = setInterval(() => beat(), HEARTBEAT_MS);
  try {
    return await fn();
  } finally {
    clearInterval(timer);
  }
}

/** Runs `fn` over `items`, `n` at a time. */
async function pool<T>(items: T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(n, items.length)) }, worker));
}

function invalidInput(err: ScheduleInputError): ApplicationFailure {
  return ApplicationFailure.create({ type: 'InvalidInput', nonRetryable: true, message: err.message, cause: err });
}

/** Builds the schedule activities. */
export function createScheduleActivities(deps: ScheduleActivityDeps) {
  const now = deps.now ?? (() => new Date());
  const clients = new Map<string, Client>();
  const endpoint = (side: Side, namespace: string): SidedEndpoint => {
    const key = `${side}/${namespace}`;
    let client = clients.get(key);
    if (!client) clients.set(key, (client = new Client({ connection: deps[side].connection, namespace })));
    return { client, namespace, side };
  };
  const endpoints = (args: UnitSchedulesArgs) => ({
    source: endpoint('source', args.sourceNamespace),
    target: endpoint('target', args.targetNamespace),
  });
  /** The unit's schedules on either cluster (a copy may exist on one side only). */
  const listBoth = async (args: UnitSchedulesArgs): Promise<string[]> => {
    const ep = endpoints(args);
    const sel = scheduleSelector(args.tenant);
    const [a, b] = await Promise.all([listSelected(ep.source, sel), listSelected(ep.target, sel)]);
    return [...new Set([...a, ...b])].sort();
  };

  return {
    /**
     * Copies the unit's schedules from the source to the target, created paused and byte-faithful.
     * Idempotent: equal copies are left alone, paused ones that drifted are rewritten. An active copy
     * that differs is never overwritten: non-retryable `ScheduleConflict`, naming the schedules.
     */
    async copySchedules(args: UnitSchedulesArgs & { actor: string }): Promise<ScheduleCopyResult> {
      const ep = endpoints(args);
      const r = await beating(() =>
        copyUnitSchedules({ from: ep.source, to: ep.target, selector: scheduleSelector(args.tenant), actor: args.actor }),
      );
      const conflicts = r.items.filter((i) => i.outcome === 'conflict');
      if (conflicts.length > 0) {
        const ids = conflicts
          .map((c) => c.scheduleId)
          .slice(0, MAX_LISTED)
          .join(', ');
        const paths = [...new Set(conflicts.flatMap((c) => (c.diffs ?? []).map((d) => d.path)))].join(', ');
        throw ApplicationFailure.create({
          type: 'ScheduleConflict',
          nonRetryable: true,
          message:
            `schedules of ${args.unit}: ${ids} already exist on ${deps.target.name}/${args.targetNamespace}, ` +
            `active and different (${paths}); cutover never overwrites an active schedule — ` +
            "pause or delete the target's copy, then advance to retry",
          details: [conflicts.slice(0, MAX_LISTED)],
        });
      }
      const failed = r.items.filter((i) => i.outcome === 'failed');
      // Retryable: the copy is idempotent, so the next attempt copies what is missing.
      if (failed.length > 0)
        throw new Error(`copy of ${failed.length} schedule(s) of ${args.unit} failed; first ${failed[0]!.scheduleId}: ${failed[0]!.error}`);
      const c = r.counts;
      return {
        selected: r.items.length,
        created: c.created,
        unchanged: c.unchanged,
        updated: c.updated,
        vanished: c.vanished,
        at: now().toISOString(),
      };
    },

    /**
     * Switches each of the unit's schedules to `to`, exactly once: pause the old side, fence the owner
     * record (epoch compare-and-set), unpause the new side, backfill the gap by policy. A forward switch
     * first refreshes the paused copy (the source may have changed since provisioning). Heartbeats
     * with the schedule and step it is at.
     */
    async switchSchedules(args: UnitSchedulesArgs & { to: Side; backfill: 'gap' | 'none'; actor: string }): Promise<ScheduleSwitchResult> {
      const ep = endpoints(args);
      const from: Side = args.to === 'target' ? 'source' : 'target';
      const out: ScheduleSwitchResult = {
        to: args.to,
        selected: 0,
        switched: 0,
        already: 0,
        leftPaused: [],
        vanished: 0,
        missedFires: 0,
        backfilledFires: 0,
        at: '',
      };
      await beating(async () => {
        const ids = await listBoth(args);
        out.selected = ids.length;
        let done = 0;
        await pool(ids, SWITCH_CONCURRENCY, async (id) => {
          for (let round = 1; ; round++) {
            // Existence, pause and notes decide; the scheduler's memo has them without a query.
            const [rec, ss, st] = await Promise.all([
              deps.fence.read(args.sourceNamespace, id),
              observeSchedule(ep.source, id, { checkRunning: false }),
              observeSchedule(ep.target, id, { checkRunning: false }),
            ]);
            const d = decideScheduleSwitch(args.to, rec, { source: ss, target: st });
            if (d.do === 'nothing') {
              if (d.why === 'already') out.already++;
              else if (d.why === 'vanished') out.vanished++;
              else if (out.leftPaused.length < MAX_LISTED) out.leftPaused.push(id);
              break;
            }
            try {
              // A fresh forward switch needs a current copy on the target (a resumed one has it already).
              const ds = args.to === 'target' && !d.switchId && ss.exists ? await describeRaw(ep.source, id) : undefined;
              let toKnown: RawDescribe | undefined;
              if (ds) {
                const item = await copyOne(ds, ep.target, id, args.actor, args.sourceNamespace);
                toKnown = item.destination;
                if (item.outcome === 'conflict') {
                  throw ApplicationFailure.create({
                    type: 'ScheduleConflict',
                    nonRetryable: true,
                    message:
                      `schedule ${id} of ${args.unit} is active on ${deps.target.name}/${args.targetNamespace} ` +
                      `and differs from the source (${(item.diffs ?? []).map((x) => x.path).join(', ')}); ` +
                      "pause or delete the target's copy, then advance to retry",
                  });
                }
              }
              const report = await switchSchedule({
                from: ep[from],
                to: ep[args.to],
                scheduleId: id,
                fence: deps.fence,
                expectedEpoch: d.expectedEpoch,
                ...(d.switchId ? { switchId: d.switchId } : {}),
                ...(toKnown ? { toKnown } : {}),
                actor: args.actor,
                backfill: args.backfill,
                onStep: (step) => beat({ scheduleId: id, step, done, of: ids.length }),
              });
              // Retryable: a re-run with the record's switch ID finishes it.
              if (!report.verified.toActive)
                throw new Error(`schedule ${id}: switched to the ${args.to} (epoch ${report.epoch}) but not active there yet`);
              out.switched++;
              out.missedFires += report.gap.missed.length;
              out.backfilledFires += report.gap.backfilled.length;
              break;
            } catch (err) {
              if (err instanceof ScheduleInputError) throw invalidInput(err);
              // Another switcher moved the owner record meanwhile: look again and decide anew.
              const lost = err instanceof StaleScheduleEpochError || err instanceof ScheduleSwitchSupersededError;
              if (!lost || round >= SWITCH_ROUNDS) throw err;
            }
          }
          done++;
          beat({ scheduleId: id, step: 'done', done, of: ids.length });
        });
      });
      out.at = now().toISOString();
      return out;
    },

    /**
     * Checks the unit's schedules on both clusters: each active on exactly one (the expected one, when
     * given), the owner record naming it, the copies equal in meaning; for units with few schedules,
     * no nominal time run on both clusters since `runsSince`. Changes nothing.
     */
    async reconcileSchedules(args: UnitSchedulesArgs & { expected?: Side; runsSince?: string }): Promise<ScheduleReconcileResult> {
      const ep = endpoints(args);
      return beating(async () => {
        const ids = await listBoth(args);
        const untilMs = Date.now() - RUNS_LAG_MS;
        const sinceMs = args.runsSince ? Date.parse(args.runsSince) - RUNS_LEAD_MS : undefined;
        const runsWindow = sinceMs !== undefined && ids.length <= MAX_RUN_CHECKED && untilMs > sinceMs ? { sinceMs, untilMs } : undefined;
        const report = await reconcileUnitSchedules({
          source: ep.source,
          target: ep.target,
          selector: { kind: 'ids', ids },
          fence: deps.fence,
          ...(runsWindow ? { runsWindow } : {}),
        });
        const r: ScheduleReconcileResult = {
          ...(args.expected ? { expected: args.expected } : {}),
          schedules: 0,
          doubleActive: 0,
          pausedOnBoth: 0,
          wrongSide: 0,
          missing: 0,
          ownerMismatch: 0,
          specDiffers: 0,
          duplicateFires: 0,
          lostFires: 0,
          runsChecked: !!runsWindow,
          problems: [],
          clean: true,
          at: '',
        };
        for (const it of report.items) {
          if (!it.source.exists && !it.target.exists) continue; // deleted on both since the listing
          r.schedules++;
          const problems: string[] = [];
          if (it.activeOn === 'both') {
            r.doubleActive++;
            problems.push('active on both clusters');
          }
          if (it.problems.includes('paused-on-both')) {
            // Paused on both by its owner is the owner's choice; by cutover, a switch that did not finish.
            const ownerSide = it.owner?.owner ?? 'source';
            const d = await describeRaw(ep[ownerSide], it.scheduleId);
            if (pausedByCutover(stateOf(d).notes)) {
              r.pausedOnBoth++;
              problems.push('paused on both clusters by an unfinished switch');
            }
          }
          if (args.expected) {
            const other: Side = args.expected === 'target' ? 'source' : 'target';
            if (it.activeOn === other) {
              r.wrongSide++;
              problems.push(`active on the ${other}, expected on the ${args.expected}`);
            }
            if (!it[args.expected].exists) {
              r.missing++;
              problems.push(`missing on the ${args.expected}`);
            }
          }
          if (it.problems.includes('owner-mismatch')) {
            r.ownerMismatch++;
            problems.push(`owner record names the ${it.owner?.owner}, active on the ${it.activeOn}`);
          }
          if (it.problems.includes('spec-differs')) {
            r.specDiffers++;
            problems.push(`copies differ: ${it.diffs.map((x) => x.path).join(', ')}`);
          }
          const dup = it.runs?.duplicates.length ?? 0;
          if (dup > 0) {
            r.duplicateFires += dup;
            problems.push(`${dup} fire(s) ran on both clusters`);
          }
          r.lostFires += it.runs?.lost.length ?? 0;
          if (problems.length > 0 && r.problems.length < MAX_LISTED) r.problems.push({ scheduleId: it.scheduleId, problems });
        }
        r.clean = r.doubleActive + r.pausedOnBoth + r.wrongSide + r.missing + r.ownerMismatch + r.specDiffers + r.duplicateFires === 0;
        r.at = now().toISOString();
        return r;
      });
    },
  };
}

/** The schedule activities' type. */
export type ScheduleActivities = ReturnType<typeof createScheduleActivities>;
