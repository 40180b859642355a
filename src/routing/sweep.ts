/**
 * The placement sweep: what lets a routed start of a moving unit skip its look at the other cluster.
 *
 * While a unit moves, a start claims its workflow ID's placement in Redis and, finding none, describes
 * the ID on the other cluster: a run may be there that no routed client placed (started before the
 * clients existed, or while the unit was settled). The sweep records those runs once per route: it
 * lists every run of the unit open on either cluster, writes a placement for each one that has none,
 * and then marks the unit swept at the route's epoch. A client routing by that epoch whose claim finds
 * no placement then knows the ID runs nowhere else and starts it at once (src/routing/client.ts).
 *
 * Why that is enough (docs/design.md, "The placement sweep"): the sweep runs only once every client
 * still starting holds the route it is made under (the route changed at least `redis.clientStaleness`
 * ago, plus the visibility lag), so every start since then either claimed a placement or was decided
 * by that same route; a run open on a cluster without a placement was therefore listed. A route change
 * ends the marker's reach (it names the epoch); placements written under it live at least as long.
 */
import type { RoutingStore, SweepMarker } from './store';
import type { Side } from './types';
import type { TenantFilter } from '../domain/selectors';
import { literal } from '../clusters/queries';

/** A sweep lists at most this many open runs per cluster; a unit with more is not marked (clients keep looking). */
export const SWEEP_MAX_RUNS = 200_000;

/** The visibility query of the runs a sweep lists: every open run the unit's starts could collide with. */
export function sweepQuery(tenant: TenantFilter | undefined): string | undefined {
  // Task queues are not a filter here: an application may start an ID on any queue, and an extra
  // placement costs only a look when that ID is started again.
  if (!tenant) return 'ExecutionStatus = "Running"';
  if ('workflowIdPrefix' in tenant) return `WorkflowId STARTS_WITH ${literal(tenant.workflowIdPrefix)} AND ExecutionStatus = "Running"`;
  // With a search-attribute selector a workflow ID may belong to several units: no sweep vouches for it.
  return undefined;
}

/** What a sweep did. */
export interface SweepResult {
  /** True when the marker was written: clients routing by `epoch` skip the other-cluster look. */
  marked: boolean;
  /** Why not, when not. */
  reason?: string;
  epoch: number;
  listed: Record<Side, number>;
  /** Placements written (the rest already had one). */
  seeded: number;
  at: number;
  validUntil: number;
}

/** What a sweep needs: the store, and a way to list a side's open workflow IDs. */
export interface SweepDeps {
  store: Pick<RoutingStore, 'seedPlacements' | 'markSwept'>;
  /** Yields the workflow IDs of the open runs `query` selects on `side` (any order, duplicates allowed). */
  listOpen(side: Side, query: string): AsyncIterable<string>;
  /** Wall clock (epoch ms). */
  now(): number;
  /** Called every page or so, so an activity can heartbeat. */
  progress?(listed: Record<Side, number>): void;
}

/** Arguments of {@link sweepPlacements}. */
export interface SweepArgs {
  unit: string;
  /** The namespace routed clients name placements by (the unit's namespace in the plan). */
  namespace: string;
  tenant?: TenantFilter;
  /** The route's epoch the sweep is made under. */
  epoch: number;
  /** How long the sweep's placements (and the marker) live. */
  ttlMs: number;
  maxRuns?: number;
}

/** Lists both clusters' open runs of the unit, seeds their placements, and marks the unit swept at `epoch`. */
export async function sweepPlacements(deps: SweepDeps, args: SweepArgs): Promise<SweepResult> {
  const at = deps.now();
  const validUntil = at + args.ttlMs;
  const listed: Record<Side, number> = { source: 0, target: 0 };
  const base = { epoch: args.epoch, listed, seeded: 0, at, validUntil };
  const query = sweepQuery(args.tenant);
  if (!query) return { ...base, marked: false, reason: 'tenants selected by a search attribute: starts keep looking at the other cluster' };
  const max = args.maxRuns ?? SWEEP_MAX_RUNS;
  for (const side of ['source', 'target'] as const) {
    let batch: { workflowId: string; side: Side }[] = [];
    for await (const workflowId of deps.listOpen(side, query)) {
      listed[side]++;
      if (listed[side] > max) {
        return { ...base, marked: false, reason: `more than ${max} open runs on the ${side}: starts keep looking at the other cluster` };
      }
      batch.push({ workflowId, side });
      if (batch.length >= 1_000) {
        base.seeded += await deps.store.seedPlacements(args.namespace, batch, args.epoch, args.ttlMs);
        batch = [];
        deps.progress?.(listed);
      }
    }
    if (batch.length) base.seeded += await deps.store.seedPlacements(args.namespace, batch, args.epoch, args.ttlMs);
    deps.progress?.(listed);
  }
  const marker: SweepMarker = { epoch: args.epoch, at, validUntil };
  const marked = await deps.store.markSwept(args.unit, marker);
  return marked ? { ...base, marked } : { ...base, marked, reason: `the route moved on from epoch ${args.epoch} during the sweep` };
}
