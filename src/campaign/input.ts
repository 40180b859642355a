/**
 * The campaign workflow's input, from the validated plan (outside the sandbox: workflows never read
 * config), and `startCampaign`, which starts it — or attaches to the running one: the ID is stable
 * (`cutover/campaign/<name>`) and a second start never forks it. A closed campaign (a finished drill,
 * a rolled-back attempt) is followed by a new run of the same ID.
 */
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import { unitInputFromPlan } from './unit-input';
import type { Plan } from '../config/types';
import { namespaceOfUnit } from '../config/units';
import { parseUnitName, unitWorkflowId } from '../domain/ids';
import { CutoverCampaign, CutoverKind, CutoverPhase } from '../domain/search-attributes';
import { planCampaign } from './plan';
import type { CampaignInput } from './types';
import { factorEntities } from './units';
import { operatorKeysOf } from '../operators/policy';

/** Workflow type name of the campaign (the export in src/workflows/index.ts). */
export const CAMPAIGN_WORKFLOW_TYPE = 'campaign';
/**
 * The entity bake when a campaign drives it: longer than any campaign, so a canary step ends only
 * when the campaign sends `advance` after its own bake and gates.
 */
export const ENTITY_BAKE_UNDER_CAMPAIGN_MS = 365 * 24 * 3_600_000;
/**
 * How often the campaign polls its moving units by default. A poll is one describe per moving unit (the
 * view is in its memo) and one timer; the campaign spends most of a step waiting for the batch's last
 * unit, so a shorter poll moves it on sooner, with the same tasks per unit.
 */
export const DEFAULT_CAMPAIGN_POLL_MS = 1_000;
/**
 * History caps of the runs a campaign drives. A run that is not in the worker's workflow cache (evicted
 * when the cache is full, taken by another worker, or after the clock guard failed a task) is replayed
 * from its first event before its next task, so runs that continue as new early stay cheap to bring
 * back. An entity's whole move without bakes takes about 160 events: under 300 it is one run. (At 60,
 * each unit took three runs; every continue-as-new is a new execution on the control cluster and a
 * workflow task, while a replay of 300 events is still short.)
 */
export const DEFAULT_ENTITY_MAX_HISTORY_UNDER_CAMPAIGN = 300;
export const DEFAULT_CAMPAIGN_MAX_HISTORY = 400;
/** How long an approval request stays open by default: 24h. */
export const DEFAULT_APPROVAL_TTL_MS = 24 * 3_600_000;

/** Options of `buildCampaignInput`. */
export interface CampaignInputOptions {
  actor: string;
  drill?: boolean;
  /** Task queue of the entity workflows (default: the plan's control task queue). */
  entityTaskQueue?: string;
  pollMs?: number;
  approvalTtlMs?: number;
  /** Probe task queue on the target (default: the probe constant). */
  probeTaskQueue?: string;
  /** Entity workflow IDs to use instead of the contract's (tests that share a namespace). */
  workflowIds?: Record<string, string>;
  /** How often entities sample a drain (ms). */
  drainPollMs?: number;
  /** The campaign's history cap (default `DEFAULT_CAMPAIGN_MAX_HISTORY`). */
  maxHistoryEvents?: number;
  /** The entity runs' history cap (default `DEFAULT_ENTITY_MAX_HISTORY_UNDER_CAMPAIGN`). */
  entityMaxHistoryEvents?: number;
}

/** The campaign workflow's input for a plan: the plan's steps and each unit's entity input, factored (src/campaign/units.ts). */
export function buildCampaignInput(plan: Plan, opts: CampaignInputOptions): CampaignInput {
  const cp = planCampaign(plan, { drill: opts.drill ?? false });
  const units = plan.rings.flatMap((ring) =>
    ring.units.map((name) => {
      const ref = parseUnitName(name)!;
      const base = unitInputFromPlan(plan, ref, { actor: opts.actor, advanceMode: 'manual', campaign: plan.name });
      const selector = ref.kind === 'tenant' ? namespaceOfUnit(plan, ref)!.tenants!.selector : undefined;
      return {
        ring: ring.name,
        name,
        workflowId: opts.workflowIds?.[name] ?? unitWorkflowId(ref),
        input: {
          ...base,
          bakeMs: ENTITY_BAKE_UNDER_CAMPAIGN_MS,
          maxHistoryEvents: opts.entityMaxHistoryEvents ?? DEFAULT_ENTITY_MAX_HISTORY_UNDER_CAMPAIGN,
          ...(opts.drainPollMs !== undefined ? { drainPollMs: opts.drainPollMs } : {}),
          ...(opts.probeTaskQueue ? { probe: { ...base.probe, taskQueue: opts.probeTaskQueue } } : {}),
        },
        ...(selector ? { tenantSelector: selector } : {}),
      };
    }),
  );
  return {
    plan: cp,
    entities: factorEntities(units),
    entityTaskQueue: opts.entityTaskQueue ?? plan.control.taskQueue,
    actor: opts.actor,
    pollMs: opts.pollMs ?? DEFAULT_CAMPAIGN_POLL_MS,
    approvalTtlMs: opts.approvalTtlMs ?? DEFAULT_APPROVAL_TTL_MS,
    ...(opts.probeTaskQueue ? { probeTaskQueue: opts.probeTaskQueue } : {}),
    maxHistoryEvents: opts.maxHistoryEvents ?? DEFAULT_CAMPAIGN_MAX_HISTORY,
    ...(plan.operators ? { operators: operatorKeysOf(plan.operators) } : {}),
  };
}

/** Starts the campaign workflow (or attaches to the running one). `client` is on the control namespace. */
export async function startCampaign(
  client: Client,
  input: CampaignInput,
  opts: { taskQueue: string; workflowId?: string },
): Promise<{ workflowId: string; runId: string; started: boolean }> {
  const workflowId = opts.workflowId ?? input.plan.workflowId;
  try {
    const h = await client.workflow.start(CAMPAIGN_WORKFLOW_TYPE, {
      workflowId,
      taskQueue: opts.taskQueue,
      args: [input],
      // A running campaign is attached to (AlreadyStarted below); a closed one may be followed by a new run.
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
      staticSummary:
        `Campaign ${input.plan.name}${input.plan.drill ? ' (drill)' : ''}: ${input.plan.unitCount} unit(s), ` +
        `${input.plan.rings.length} ring(s), ${input.plan.steps.length} steps`,
      typedSearchAttributes: [
        { key: CutoverKind, value: 'campaign' },
        { key: CutoverCampaign, value: input.plan.name },
        { key: CutoverPhase, value: 'running' },
      ],
    });
    return { workflowId, runId: h.firstExecutionRunId, started: true };
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    const d = await client.workflow.getHandle(workflowId).describe();
    return { workflowId, runId: d.runId, started: false };
  }
}
