/** The routing library's public API: routing records, the multi-cluster client and dual workers. */
export * from './types';
export { BUCKETS, bucketOf, hash32, sideFor } from './hash';
export { RoutingStore, validateRoute, validateRouteChange } from './store';
export type { PlacementRead, PlacementRecord, RecordRead, RouteHint, RouteSubscription, RoutingStoreOptions } from './store';
export { RouteTable } from './route-table';
export { systemClock } from './clock';
export type { RoutingClock } from './clock';
export type { RouteTableOptions, UnitProblem } from './route-table';
export { ROUTED_CLIENT_DEFAULTS, RoutedClient, RoutedScheduleHandle, RoutedWorkflowHandle, isSettled } from './client';
export type {
  RoutedClientConnectOptions,
  RoutedClientParts,
  RoutedClientTuning,
  RoutedHandleMethods,
  RoutedSignalWithStartOptions,
  RoutedStartOptions,
} from './client';
export { DualWorkers, sourceMayStop } from './dual-workers';
export type { DualWorkersOptions, DualWorkersParts, SharedWorkerOptions } from './dual-workers';
export { UnitResolver } from './tenant';
export type { TenantSelector } from './tenant';
export {
  HandoffHeldTimeoutError,
  RouteHeldTimeoutError,
  RoutingError,
  RoutingInputError,
  RoutingRecordInvalidError,
  RoutingUnavailableError,
} from './errors';
export type { UnavailableReason } from './errors';
export { ClusterConnectError, ClusterCredentialsError } from '../clusters/connect';
