import type { BundleOptions } from '@temporalio/worker';

/**
 * How cutover's own workflows (entity and campaign) are bundled, for every worker that runs them on
 * the control task queue and for replay: the workflows plus the clock guard
 * (`src/workflows/clock-guard.ts`).
 *
 * Those workers keep the SDK's workflow cache. Without it each workflow task replayed its run from
 * the history: a campaign of 300 tenants took 288 s (serverBoundRatio 0.26); with it, 94 s (0.49,
 * docs/benchmarks.md). The cache had been turned off because of one measured failure (SDK 1.24,
 * test/integration/entity-chaos.test.ts, 4 of 6 runs): after the worker holding a run was SIGKILLed, a
 * worker that had loaded the run to answer a `status` query took the run's next task with the clock of
 * the task before, and a wait computed from that clock started a timer no replay starts. The guard
 * fails such a task instead, so the SDK drops the run from its cache and the retried task replays it.
 */
export const CONTROL_BUNDLE_OPTIONS = {
  workflowsPath: require.resolve('./workflows'),
  workflowInterceptorModules: [require.resolve('./workflows/clock-guard')],
} satisfies Partial<BundleOptions>;
