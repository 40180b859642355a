/**
 * Activities that change a unit's routing record through the epoch compare-and-set (fencing).
 * Built over any store with the RoutingStore surface (src/routing/store.ts), so tests and the
 * worker pass the real Redis-backed store.
 */
import { createHash } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/activity';
import { RoutingRecordInvalidError } from '../routing/errors';
import { salvageEpoch, type RecordRead, type RoutingStore } from '../routing/store';
import type { CasResult, ForcedMark, Route, RouteChange, RoutingRecord } from '../routing/types';
import type { ReconcileRoute, RouteSeen, RouteTarget, RouteView } from '../domain/migration';
import type { AuditRecord } from '../audit/chain';

/** The part of `RoutingStore` the activities use. */
export interface RoutingRecords {
  get(unit: string): Promise<RoutingRecord | undefined>;
  read(unit: string): Promise<RecordRead>;
  ensure(unit: string, initial: RouteChange): Promise<RoutingRecord>;
  compareAndSet(unit: string, expectedEpoch: number, change: RouteChange): Promise<CasResult>;
  restore(unit: string, expectedRaw: string | null, epoch: number, change: RouteChange): Promise<CasResult & { raw?: string | null }>;
  /** The placement sweep's writes (src/routing/sweep.ts). */
  seedPlacements: RoutingStore['seedPlacements'];
  markSwept: RoutingStore['markSwept'];
  /** Read by reconcile: a run on the side its placement names was placed there, not misrouted. */
  getPlacement: RoutingStore['getPlacement'];
  /** The handoff activity's writes (straggler policy `handoff`): a run's handoff record and new placement. */
  getHandoff: RoutingStore['getHandoff'];
  setHandoff: RoutingStore['setHandoff'];
  clearHandoff: RoutingStore['clearHandoff'];
  setPlacement: RoutingStore['setPlacement'];
}

/** The part of `AuditStream` the activities use. */
export interface AuditRecords {
  append(unit: string, records: readonly AuditRecord[]): Promise<number>;
}

/** Dependencies of the routing activities. */
export interface RoutingActivityDeps {
  routing: RoutingRecords;
  /** The audit logs' mirror (src/audit/stream.ts), on the routing records' Redis. */
  audit: AuditRecords;
}

/** Routing record → the workflow's view of it. */
export function toView(record: RoutingRecord): RouteView {
  const base = { epoch: record.epoch, sourceWorkersMayStop: record.sourceWorkersMayStop };
  switch (record.route.kind) {
    case 'side':
      return { kind: 'side', side: record.route.side, ...base };
    case 'hold':
      return { kind: 'hold', ...base };
    case 'percent':
      return { kind: 'percent', percent: record.route.basisPoints / 100, ...base };
  }
}

/** The route reconcile judges starts by: the record's route, when it changed, and the clients' staleness bound. */
export function reconcileRouteOf(record: RoutingRecord, graceMs?: number): ReconcileRoute {
  const { kind, side, percent } = toView(record);
  return { kind, side, percent, changedAt: record.changedAt, ...(graceMs !== undefined ? { graceMs } : {}) };
}

/** The workflow's route target → the record's route (percent → basis points). */
export function toRoute(target: RouteTarget): Route {
  if (target.kind === 'percent') return { kind: 'percent', basisPoints: Math.round(target.percent * 100) };
  return target.kind === 'side' ? { kind: 'side', side: target.side } : { kind: 'hold' };
}

function sameRoute(a: Route, b: Route): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** SHA-1 of a stored value: what a restore compares, so the workflow never carries the value itself. */
export function digestOfRaw(raw: string): string {
  return createHash('sha1').update(raw, 'utf8').digest('hex');
}

/** A record as read → what the entity workflow judges (src/workflows/route-watch.ts). */
export function seenOf(read: RecordRead, from: RouteSeen['from']): RouteSeen {
  if (read.raw === null) return { from };
  const digest = digestOfRaw(read.raw);
  const r = read.record;
  if (r) {
    return {
      from,
      digest,
      record: {
        view: toView(r),
        changedBy: r.changedBy,
        changedAt: r.changedAt,
        ...(r.restoredFrom !== undefined ? { restoredFrom: r.restoredFrom } : {}),
        ...(r.forced ? { forced: r.forced } : {}),
      },
    };
  }
  // The problem only (bounded): the value itself may be anything, of any size.
  return { from, digest, invalid: { problem: (read.invalid?.problem ?? 'invalid').slice(0, 300), epoch: salvageEpoch(read.raw) } };
}

/** Arguments of a route change (the workflow's epoch, the route it asks for, who and why). */
export interface ChangeArgs {
  unit: string;
  expectedEpoch: number;
  route: RouteTarget;
  sourceWorkersMayStop: boolean;
  actor: string;
  reason: string;
}

/** The non-retryable failure of a route change another writer beat. */
function conflict(args: ChangeArgs, cur: RoutingRecord | undefined): ApplicationFailure {
  return ApplicationFailure.create({
    type: 'RouteConflict',
    nonRetryable: true,
    message:
      `routing record of ${args.unit}: expected epoch ${args.expectedEpoch}, found ${cur ? cur.epoch : 'no record'}; ` +
      `another writer changed it — inspect with \`cutover route show ${args.unit}\` and \`cutover status\``,
    details: [cur ?? null],
  });
}

/** Builds the routing activities over a routing store. */
export function createRoutingActivities(deps: RoutingActivityDeps) {
  /** The compare-and-set of a route change (see `changeRoute`): the new view, or the record that made it lose. */
  async function change(args: ChangeArgs): Promise<{ view: RouteView } | { current: RoutingRecord | undefined }> {
    const want: RouteChange = {
      route: toRoute(args.route),
      sourceWorkersMayStop: args.sourceWorkersMayStop,
      actor: args.actor,
      reason: args.reason,
    };
    const holds = (r: RoutingRecord) => sameRoute(r.route, want.route) && r.sourceWorkersMayStop === args.sourceWorkersMayStop;
    let expected = args.expectedEpoch;
    let cur: RoutingRecord | undefined;
    // Two rounds at most: the workflow's epoch, then the restored record's.
    for (let round = 0; round < 2; round++) {
      const res = await deps.routing.compareAndSet(
        args.unit,
        expected,
        expected === args.expectedEpoch ? want : { ...want, restoredFrom: args.expectedEpoch },
      );
      if (res.ok) return { view: toView(res.record) };
      cur = res.current;
      if (!cur) break;
      if (cur.epoch === args.expectedEpoch + 1 && cur.changedBy === args.actor && holds(cur)) return { view: toView(cur) };
      if (cur.restoredFrom !== args.expectedEpoch) break;
      // Tied to this workflow's epoch: already as asked (the restored route, or an earlier attempt of this change)…
      if (holds(cur)) return { view: toView(cur) };
      // …or this workflow's own write of another change (so this one is stale: a conflict), or the restored record, carried on from.
      if (cur.changedBy === args.actor) break;
      expected = cur.epoch;
    }
    return { current: cur };
  }

  /** Creates the unit's record on the source if it does not exist; returns the current record either way. */
  async function ensureRoute(args: { unit: string; actor: string; reason: string }): Promise<RouteView> {
    const rec = await deps.routing.ensure(args.unit, {
      route: { kind: 'side', side: 'source' },
      sourceWorkersMayStop: false,
      actor: args.actor,
      reason: args.reason,
    });
    return toView(rec);
  }

  return {
    ensureRoute,

    /**
     * `ensureRoute`, then the record read back as the periodic check reads it: a unit whose watch reads only
     * where it waits judges the record it begins from (an operator may have forced it before it was the
     * unit's) without a read of its own.
     */
    async ensureRouteRead(args: { unit: string; actor: string; reason: string }): Promise<{ view: RouteView; seen: RouteSeen }> {
      const view = await ensureRoute(args);
      return { view, seen: seenOf(await deps.routing.read(args.unit), 'check') };
    },

    /** Mirrors audit records to the unit's (or campaign's) stream; returns the last seq the stream holds. */
    async appendAudit(args: { unit: string; records: AuditRecord[] }): Promise<number> {
      return deps.audit.append(args.unit, args.records);
    },

    /** Reads the unit's record (undefined when there is none). */
    async getRoute(args: { unit: string }): Promise<RouteView | undefined> {
      const rec = await deps.routing.get(args.unit);
      return rec ? toView(rec) : undefined;
    },

    /**
     * Compare-and-set on the epoch. Idempotent on retry: when the record already holds exactly this
     * change at `expectedEpoch + 1` by this actor, an earlier attempt won and its result is returned.
     * A record rewritten from this workflow's route at `expectedEpoch` (`cutover route repair`, which
     * writes at a higher epoch and marks it `restoredFrom`) is carried on from: the change is written
     * over it, marked the same way so a retry is recognised; a record this workflow wrote itself is never
     * carried on from. Any other epoch is a conflict (someone else wrote): non-retryable `RouteConflict`.
     * (Runs begun before route checks existed; newer runs call `setRoute`.)
     */
    async changeRoute(args: ChangeArgs): Promise<RouteView> {
      const out = await change(args);
      if ('view' in out) return out.view;
      throw conflict(args, out.current);
    },

    /**
     * `changeRoute` for runs that keep their record true: where it would be a conflict, the record is read
     * and handed back (`seen`) for the workflow's planner to judge — a missing, invalid or regressed record
     * is restored and the change made again; a forced one is adopted; one ahead of the workflow, written by
     * something else, is still a `RouteConflict`.
     */
    async setRoute(args: ChangeArgs): Promise<{ view: RouteView } | { seen: RouteSeen }> {
      try {
        const out = await change(args);
        if ('view' in out) return out;
      } catch (err) {
        // The value there is not a record (the compare-and-set names it): judged like any other.
        if (!(err instanceof RoutingRecordInvalidError)) throw err;
      }
      return { seen: seenOf(await deps.routing.read(args.unit), 'change') };
    },

    /** Reads the record back as the entity workflow judges it (the periodic check). */
    async readRoute(args: { unit: string }): Promise<RouteSeen> {
      return seenOf(await deps.routing.read(args.unit), 'check');
    },

    /**
     * Writes the workflow's route at `epoch` (above every epoch it has seen), only over exactly the value
     * the workflow judged (`expectDigest`; null: none). A retry after the write landed finds it and returns
     * it; a value changed meanwhile is handed back (`seen`) to be judged again.
     */
    async restoreRoute(args: {
      unit: string;
      expectDigest: string | null;
      epoch: number;
      route: RouteTarget;
      sourceWorkersMayStop: boolean;
      actor: string;
      reason: string;
      restoredFrom: number;
      forced?: ForcedMark;
    }): Promise<{ restored: RouteView } | { seen: RouteSeen }> {
      const write: RouteChange = {
        route: toRoute(args.route),
        sourceWorkersMayStop: args.sourceWorkersMayStop,
        actor: args.actor,
        reason: args.reason,
        restoredFrom: args.restoredFrom,
        ...(args.forced ? { forced: args.forced } : {}),
      };
      const isThisWrite = (r: RoutingRecord) =>
        r.epoch === args.epoch &&
        r.changedBy === args.actor &&
        r.restoredFrom === args.restoredFrom &&
        sameRoute(r.route, write.route) &&
        r.sourceWorkersMayStop === args.sourceWorkersMayStop;
      const read = await deps.routing.read(args.unit);
      if (read.record && isThisWrite(read.record)) return { restored: toView(read.record) };
      if ((read.raw === null ? null : digestOfRaw(read.raw)) !== args.expectDigest) return { seen: seenOf(read, 'check') };
      const res = await deps.routing.restore(args.unit, read.raw, args.epoch, write);
      if (res.ok) return { restored: toView(res.record) };
      return { seen: seenOf(await deps.routing.read(args.unit), 'check') };
    },
  };
}
