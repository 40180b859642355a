/**
 * The entity workflows' activities, composed once from their dependencies (STYLE example 8).
 * The worker builds `ActivityDeps` from the plan; tests build them from the test stack.
 */
import { createClusterActivities, type ClusterDep } from './cluster';
import { createRoutingActivities, type RoutingRecords } from './routing';

export type { ClusterDep } from './cluster';
export type { RoutingRecords } from './routing';

/** Everything the activities need: both clusters' connections and the routing records. */
export interface ActivityDeps {
  source: ClusterDep;
  target: ClusterDep;
  routing: RoutingRecords;
  /** Clock for recorded times (tests may pin it). */
  now?: () => Date;
}

/** Every activity of the entity workflows. */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createClusterActivities({ source: deps.source, target: deps.target, now: deps.now }),
    ...createRoutingActivities({ routing: deps.routing }),
  };
}

/** The activities' type, for `proxyActivities<Activities>()` in workflows (import type only). */
export type Activities = ReturnType<typeof createActivities>;

// The campaign's activities (gates, entity start/status/commands), composed by the worker beside the above.
export { createCampaignActivities, type CampaignActivities } from './campaign';
export { createGateActivities, type GateActivities } from './gates';
