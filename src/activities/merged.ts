/**
 * Steps that always follow one another, as one activity: every activity a unit runs costs the control
 * cluster an activity task and a workflow task, and a straight run of steps needs no decision between
 * them. Each part is the same activity the separate steps call (idempotent, so a retry of the whole redoes
 * the parts that had landed); the call heartbeats throughout, so it runs under the schedules' timeouts
 * (the parts already ran under heartbeat timeouts: provision and the schedule copy wait on servers).
 * The reconciles stay apart: the runs' reconcile keeps its short start-to-close, so a call stuck on a
 * partitioned cluster is retried soon (test/integration/network-faults.test.ts).
 */
import type { createClusterActivities } from './cluster';
import type { createRoutingActivities } from './routing';
import { beating, type createScheduleActivities } from './schedules';

type Cluster = ReturnType<typeof createClusterActivities>;
type Routing = ReturnType<typeof createRoutingActivities>;
type Schedules = ReturnType<typeof createScheduleActivities>;

/** The parts, as the entity's activity factories build them. */
export type MergedParts = Pick<Cluster, 'provision'> & Pick<Schedules, 'copySchedules'> & Pick<Routing, 'ensureRouteRead'>;

type Result<K extends keyof MergedParts> = Awaited<ReturnType<MergedParts[K]>>;
type Args<K extends keyof MergedParts> = Parameters<MergedParts[K]>[0];

export function createMergedActivities(parts: MergedParts) {
  return {
    /**
     * The `provisioned` phase in one call: the target namespace, then (each when asked) the unit's
     * schedules copied paused and its routing record created on the source and read back, in that order.
     */
    async prepareTarget(args: {
      provision: Args<'provision'>;
      copySchedules?: Args<'copySchedules'>;
      ensureRoute?: Args<'ensureRouteRead'>;
    }): Promise<{ provision: Result<'provision'>; copy?: Result<'copySchedules'>; route?: Result<'ensureRouteRead'> }> {
      return beating(async () => {
        const provision = await parts.provision(args.provision);
        const copy = args.copySchedules === undefined ? undefined : await parts.copySchedules(args.copySchedules);
        const route = args.ensureRoute === undefined ? undefined : await parts.ensureRouteRead(args.ensureRoute);
        return { provision, ...(copy ? { copy } : {}), ...(route ? { route } : {}) };
      });
    },
  };
}
