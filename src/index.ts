/**
 * The `cutover` package's main export (docs/design.md, "Application API"): what application teams use
 * while they move — the multi-cluster `RoutedClient` and `DualWorkers` — plus the plan loader, the payload
 * codec of a plan's `codec` section, and the operators' functions the CLI is built on, for scripts that
 * drive a migration themselves.
 */
export * from './routing';
export { loadPlan, validatePlanFile, PlanError, type Plan } from './config';
export { CodecKeyError, dataConverterFor, EncryptionCodec, generateKey, loadCodec, PayloadCodecError } from './security';
export { sendCampaignCommand, sendCommand, startCampaignFromPlan, getStatus, reconcileUnit, renderStatus, dryRun } from './cockpit';
export { createCutoverWorker, runCutoverWorker, type CutoverWorkerOptions } from './worker';
