/**
 * `startPlan`: what `cutover start <plan>` does. A dry run prints the campaign's steps and touches
 * nothing. Otherwise the entity workflows of the plan's first ring are started on the control
 * cluster — or resumed: their IDs are stable and a second start attaches to the running one
 * (USE_EXISTING), never forks it.
 */
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import { formatDryRun, planCampaign } from '../campaign/plan';
import type { CampaignPlan } from '../campaign/types';
import type { Plan } from '../config/types';
import { NAMESPACE_MIGRATION_WORKFLOW_TYPE, TENANT_MIGRATION_WORKFLOW_TYPE } from '../workflows/constants';
import { parseUnitName } from '../workflows/ids';
import { unitStartOptions } from '../workflows/unit-input';
import { unitInputFromPlan } from './unit-input';

/** Options of `startPlan`. */
export interface StartOptions {
  actor: string;
  /** `auto` (default): phases follow each other; `manual`: each phase waits for `cutover advance`. */
  advanceMode?: 'auto' | 'manual';
}

/** One unit the start touched. */
export interface StartedUnit {
  unit: string;
  workflowId: string;
  runId: string;
  /** False when the workflow was already running and the start attached to it. */
  started: boolean;
}

/** What `startPlan` did. */
export interface StartResult {
  plan: string;
  ring: string;
  units: StartedUnit[];
}

/** The dry run: the campaign's steps as data and as text; nothing is started or changed. */
export function dryRun(plan: Plan, drill = false): { campaign: CampaignPlan; text: string } {
  const campaign = planCampaign(plan, { drill });
  return { campaign, text: formatDryRun(campaign) };
}

/** Starts (or resumes) the entity workflows of the plan's first ring. */
export async function startPlan(client: Client, plan: Plan, opts: StartOptions): Promise<StartResult> {
  const ring = plan.rings[0]!;
  const units: StartedUnit[] = [];
  for (const name of ring.units) {
    const ref = parseUnitName(name)!;
    const input = unitInputFromPlan(plan, ref, { actor: opts.actor, advanceMode: opts.advanceMode, campaign: plan.name });
    const options = unitStartOptions(input, plan.control.taskQueue);
    const type = ref.kind === 'namespace' ? NAMESPACE_MIGRATION_WORKFLOW_TYPE : TENANT_MIGRATION_WORKFLOW_TYPE;
    try {
      const before = await client.workflow
        .getHandle(options.workflowId)
        .describe()
        .then((d) => (d.status.name === 'RUNNING' ? d.runId : undefined))
        .catch(() => undefined);
      const handle = await client.workflow.start(type, options);
      units.push({ unit: name, workflowId: handle.workflowId, runId: handle.firstExecutionRunId, started: before === undefined });
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      const d = await client.workflow.getHandle(options.workflowId).describe();
      units.push({ unit: name, workflowId: options.workflowId, runId: d.runId, started: false });
    }
  }
  return { plan: plan.name, ring: ring.name, units };
}
