/** The operators' cockpit: commands, status, the live view, reconcile and start, over exported functions. */
export * from './errors';
export { COMMANDS, checkCommandInput, findCommand, queryStatus, sendCommand, type CommandInput, type CommandOutcome } from './commands';
export { openControl, uiBaseUrl, workflowUrl, type ControlClient } from './control';
export { campaignLines, detailLines, renderStatus, routeCell, shortDuration, type RenderOptions } from './render';
export { formatReconcile, reconcileUnit, type ReconcileUnitOptions } from './reconcile';
export { dryRun } from './start';
export {
  findCampaignCommand,
  queryCampaign,
  sendCampaignCommand,
  startCampaignFromPlan,
  type CampaignCommandInput,
  type CampaignCommandOutcome,
  type CampaignStartOptions,
  type CampaignStartResult,
} from './campaign';
export {
  getStatus,
  retryingStep,
  type CockpitStatus,
  type GetStatusOptions,
  type RetryingStep,
  type UnitRow,
  type UnitStatusView,
} from './status';
export {
  REPAIRABLE,
  checkRepairInput,
  formatRouteInspection,
  formatRouteRepair,
  inspectRoute,
  judgeRoute,
  openRouteDeps,
  repairPlan,
  repairRoute,
  type RouteDeps,
  type RouteInspection,
  type RouteRepairInput,
  type RouteRepairResult,
  type RouteVerdict,
  type StoredRoute,
  type UnitTarget,
  type WorkflowRoute,
} from './route';
export { planUnitNames, resolveTarget, type CockpitTarget } from './target';
export { unitInputFromPlan, unitScope } from '../campaign/unit-input';
export { inPlace, watchStatus, type FrameSink, type WatchOptions } from './watch';
