/**
 * The entity workflows' activities, composed once from their dependencies (one factory per dependency).
 * The worker builds `ActivityDeps` from the plan; tests build them from the test stack.
 */
import type { Client } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import type { FetchLike } from '../gates/prometheus';
import type { ScheduleFence } from '../schedules';
import type { OperatorSecret } from '../operators/keys';
import { createCampaignActivities } from './campaign';
import { createClusterActivities, type ClusterDep } from './cluster';
import { createGateActivities } from './gates';
import { createHandoffActivities, type HandoffActivityDeps } from './handoff';
import { createMergedActivities } from './merged';
import { createRoutingActivities, reconcileRouteOf, type AuditRecords, type RoutingRecords } from './routing';
import { createScheduleActivities } from './schedules';
import { createSweepActivities } from './sweep';

export type { ClusterDep } from './cluster';
export type { AuditRecords, RoutingRecords } from './routing';

/** Everything the activities need: both clusters' connections, the routing records and the schedules' owner records. */
export interface ActivityDeps {
  source: ClusterDep;
  target: ClusterDep;
  routing: RoutingRecords;
  /** The audit logs' mirror: build it on the routing records' Redis and key prefix. */
  audit: AuditRecords;
  /** Owner records of the schedules: build it on the routing records' Redis and key prefix. */
  scheduleFence: ScheduleFence;
  /** Clock for recorded times (tests may pin it). */
  now?: () => Date;
  /**
   * cutover's own data converter (the plan's codec), for the workflows cutover starts in the application's
   * namespaces: the probes. The application's runs and schedules are only read raw, never decoded, so
   * cutover needs none of the application's keys.
   */
  dataConverter?: DataConverter;
  /** A test's hook into the handoff activity's steps (it crashes the activity at one); never set in production. */
  handoffAfterStep?: HandoffActivityDeps['afterStep'];
}

/** Every activity of the entity workflows. */
export function createActivities(deps: ActivityDeps) {
  const cluster = createClusterActivities({
    source: deps.source,
    target: deps.target,
    now: deps.now,
    dataConverter: deps.dataConverter,
    placements: deps.routing,
  });
  const routing = createRoutingActivities({ routing: deps.routing, audit: deps.audit });
  const schedules = createScheduleActivities({ source: deps.source, target: deps.target, fence: deps.scheduleFence, now: deps.now });
  return {
    ...cluster,
    ...routing,
    ...schedules,
    ...createMergedActivities({ ...cluster, ...schedules, ...routing }),
    ...createSweepActivities({ source: deps.source, target: deps.target, placements: deps.routing, now: deps.now }),
    ...createHandoffActivities({
      source: deps.source,
      target: deps.target,
      records: deps.routing,
      now: deps.now,
      afterStep: deps.handoffAfterStep,
    }),
  };
}

/** The activities' type, for `proxyActivities<Activities>()` in workflows (import type only). */
export type Activities = ReturnType<typeof createActivities>;

// The campaign's activities (gates, entity start/status/commands), composed by the worker beside the above.
export { createCampaignActivities, type CampaignActivities } from './campaign';
export { createGateActivities, type GateActivities } from './gates';

/** Everything the cutover worker's task queue needs: the entities' deps plus the control client. */
export interface CutoverActivityDeps extends ActivityDeps {
  /** A client on the control namespace (the campaign starts and steers entity workflows with it), with the plan's data converter. */
  control: Client;
  /** HTTP fetch for the Prometheus gate (default: the global fetch). */
  fetch?: FetchLike;
  /** Secrets by environment variable name (Prometheus gates' `tokenEnv`); the worker passes its environment. */
  secret?: (envName: string) => string | undefined;
  /** The plan's redis.clientStaleness: the reconcile gate judges starts by the route only this long after it changed. */
  clientStalenessMs?: number;
  /** The worker's controller key: signs the commands campaigns send to their units (plans with operators). */
  signer?: OperatorSecret;
}

/** Every activity of the cutover task queue: entity, gate and campaign activities, composed once. */
export function createCutoverActivities(deps: CutoverActivityDeps) {
  const entity = createActivities(deps);
  return {
    ...entity,
    ...createGateActivities({
      target: { connection: deps.target.connection },
      source: { connection: deps.source.connection },
      runProbes: entity.runProbes,
      reconcile: entity.reconcile,
      reconcileSchedules: entity.reconcileSchedules,
      routeOf: async (unit) => {
        const record = await deps.routing.get(unit);
        return record ? reconcileRouteOf(record, deps.clientStalenessMs) : undefined;
      },
      ...(deps.fetch ? { fetch: deps.fetch } : {}),
      ...(deps.secret ? { secret: deps.secret } : {}),
    }),
    ...createCampaignActivities({ control: deps.control, ...(deps.signer ? { signer: deps.signer } : {}) }),
  };
}
