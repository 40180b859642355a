/**
 * The placement sweep as an activity (src/routing/sweep.ts): lists the unit's open runs on both
 * clusters through raw visibility pages and seeds their placements in the routing records' Redis.
 */
import { heartbeat } from '@temporalio/activity';
import type { ClusterDep } from './cluster';
import { sweepPlacements, type SweepResult } from '../routing/sweep';
import type { RoutingStore } from '../routing/store';
import type { Side } from '../routing/types';
import type { TenantFilter } from '../domain/selectors';

/** Dependencies of the sweep activity. */
export interface SweepActivityDeps {
  source: ClusterDep;
  target: ClusterDep;
  placements: Pick<RoutingStore, 'seedPlacements' | 'markSwept'>;
  now?: () => Date;
}

/** Arguments of `sweepPlacements`. */
export interface SweepActivityArgs {
  unit: string;
  /** The namespace the routed clients name placements by (the unit's namespace in the plan). */
  namespace: string;
  sourceNamespace: string;
  targetNamespace: string;
  tenant?: TenantFilter;
  epoch: number;
  ttlMs: number;
}

export function createSweepActivities(deps: SweepActivityDeps) {
  const now = deps.now ?? (() => new Date());
  return {
    async sweepPlacements(args: SweepActivityArgs): Promise<SweepResult> {
      const ns: Record<Side, string> = { source: args.sourceNamespace, target: args.targetNamespace };
      return await sweepPlacements(
        {
          store: deps.placements,
          now: () => now().getTime(),
          progress: (listed) => heartbeatIfActivity(listed),
          async *listOpen(side, query) {
            let nextPageToken: Uint8Array | undefined;
            do {
              const res = await deps[side].connection.workflowService.listWorkflowExecutions({
                namespace: ns[side],
                query,
                pageSize: 1_000,
                nextPageToken,
              });
              for (const info of res.executions ?? []) if (info.execution?.workflowId) yield info.execution.workflowId;
              nextPageToken = res.nextPageToken?.length ? res.nextPageToken : undefined;
            } while (nextPageToken);
          },
        },
        { unit: args.unit, namespace: args.namespace, tenant: args.tenant, epoch: args.epoch, ttlMs: args.ttlMs },
      );
    },
  };
}

function heartbeatIfActivity(details: unknown): void {
  try {
    heartbeat(details);
  } catch {
    // called outside an activity (the benchmark)
  }
}
