import type { BundleOptions } from '@temporalio/worker';

/**
 * How cutover's own workflows (entity and campaign) are bundled, for every worker that runs them on
 * the control task queue and for replay: the workflows plus the clock guard
 * (`src/workflows/clock-guard.ts`).
 *
 * Those workers keep the SDK's workflow cache, so a task does not replay its run from the history. A
 * worker that loaded a run to answer a `status` query can take the run's next task with the clock of the
 * task before, and a wait computed from that clock would start a timer no replay starts. The guard
 * fails such a task instead, so the SDK drops the run from its cache and the retried task replays it.
 */
export const CONTROL_BUNDLE_OPTIONS = {
  workflowsPath: require.resolve('./workflows'),
  workflowInterceptorModules: [require.resolve('./workflows/clock-guard')],
} satisfies Partial<BundleOptions>;
