/**
 * Activities that change a unit's routing record through the epoch compare-and-set (fencing).
 * Built over any store with the RoutingStore surface (src/routing/store.ts), so tests and the
 * worker pass the real Redis-backed store.
 */
import { ApplicationFailure } from '@temporalio/activity';
import type { CasResult, Route, RouteChange, RoutingRecord } from '../routing/types';
import type { ReconcileRoute, RouteTarget, RouteView } from '../domain/migration';
import type { AuditRecord } from '../audit/chain';

/** The part of `RoutingStore` the activities use. */
export interface RoutingRecords {
  get(unit: string): Promise<RoutingRecord | undefined>;
  ensure(unit: string, initial: RouteChange): Promise<RoutingRecord>;
  compareAndSet(unit: string, expectedEpoch: number, change: RouteChange): Promise<CasResult>;
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

/** Builds the routing activities over a routing store. */
export function createRoutingActivities(deps: RoutingActivityDeps) {
  return {
    /** Creates the unit's record on the source if it does not exist; returns the current record either way. */
    async ensureRoute(args: { unit: string; actor: string; reason: string }): Promise<RouteView> {
      const rec = await deps.routing.ensure(args.unit, {
        route: { kind: 'side', side: 'source' },
        sourceWorkersMayStop: false,
        actor: args.actor,
        reason: args.reason,
      });
      return toView(rec);
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
     */
    async changeRoute(args: {
      unit: string;
      expectedEpoch: number;
      route: RouteTarget;
      sourceWorkersMayStop: boolean;
      actor: string;
      reason: string;
    }): Promise<RouteView> {
      const change: RouteChange = {
        route: toRoute(args.route),
        sourceWorkersMayStop: args.sourceWorkersMayStop,
        actor: args.actor,
        reason: args.reason,
      };
      const holds = (r: RoutingRecord) => sameRoute(r.route, change.route) && r.sourceWorkersMayStop === args.sourceWorkersMayStop;
      let expected = args.expectedEpoch;
      let cur: RoutingRecord | undefined;
      // Two rounds at most: the workflow's epoch, then the restored record's.
      for (let round = 0; round < 2; round++) {
        const res = await deps.routing.compareAndSet(
          args.unit,
          expected,
          expected === args.expectedEpoch ? change : { ...change, restoredFrom: args.expectedEpoch },
        );
        if (res.ok) return toView(res.record);
        cur = res.current;
        if (!cur) break;
        if (cur.epoch === args.expectedEpoch + 1 && cur.changedBy === args.actor && holds(cur)) return toView(cur);
        if (cur.restoredFrom !== args.expectedEpoch) break;
        // Tied to this workflow's epoch: already as asked (the restored route, or an earlier attempt of this change)…
        if (holds(cur)) return toView(cur);
        // …or this workflow's own write of another change (so this one is stale: a conflict), or the restored record, carried on from.
        if (cur.changedBy === args.actor) break;
        expected = cur.epoch;
      }
      throw ApplicationFailure.create({
        type: 'RouteConflict',
        nonRetryable: true,
        message:
          `routing record of ${args.unit}: expected epoch ${args.expectedEpoch}, found ${cur ? cur.epoch : 'no record'}; ` +
          `another writer changed it — inspect with \`cutover route show ${args.unit}\` and \`cutover status\``,
        details: [cur ?? null],
      });
    },
  };
}
