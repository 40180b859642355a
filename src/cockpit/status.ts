/**
 * `getStatus`: where every unit of a plan stands (or one unit), read from the entity workflows'
 * `status` queries on the control cluster. A unit whose workflow was never started shows as such;
 * a unit whose workflow does not answer shows the error instead of hiding the others.
 */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { optionalTsToDate } from '@temporalio/common/lib/time';
import type { temporal } from '@temporalio/proto';
import type { CampaignStatus } from '../campaign/types';
import type { Plan } from '../config/types';
import { campaignWorkflowId, parseUnitName, unitWorkflowId, type UnitRef } from '../domain/ids';
import type { UnitStatus } from '../domain/migration';
import { queryCampaign } from './campaign';
import { queryStatus } from './commands';
import { workflowUrl } from './control';
import type { CockpitTarget } from './target';

/**
 * A unit's status as the cockpit reads it. `bakeUntil` (ISO) is read when the entity workflow
 * reports it; until then the bake column falls back to `waitingFor`.
 */
export type UnitStatusView = UnitStatus & { bakeUntil?: string };

/** One unit's row. */
export interface UnitRow {
  unit: string;
  ring: string;
  workflowId: string;
  /** The Temporal UI page of the unit's workflow. */
  url: string;
  /** `running`, `closed` (completed/failed/terminated workflow), `not-started`, or `unreachable`. */
  workflow: 'running' | 'closed' | 'not-started' | 'unreachable';
  /** The workflow's status query answer (absent when not started or unreachable). */
  status?: UnitStatusView;
  /** Why the status could not be read. */
  error?: string;
  /**
   * The step the unit is retrying, when one is: its activity failed or timed out at least once (a cluster
   * or Redis it needs is unreachable, say). The status query cannot tell, since the workflow only sees the
   * step once it ends; the server's record of the pending activity can.
   */
  retrying?: RetryingStep;
}

/** A unit's step whose activity is being retried (from the server's pending activity). */
export interface RetryingStep {
  activity: string;
  /** The attempt running or due next (2 = the first retry). */
  attempt: number;
  /** The last attempt's failure, with its causes (`a ← b`); a timeout reads "activity StartToClose timeout". */
  lastFailure?: string;
  /** When the next attempt is due (ISO), while waiting between attempts. */
  nextAttemptAt?: string;
}

type PendingActivity = temporal.api.workflow.v1.IPendingActivityInfo;

/** A failure and its causes in one line. */
function failureText(f: temporal.api.failure.v1.IFailure | null | undefined): string | undefined {
  const parts: string[] = [];
  for (let e = f; e && parts.length < 4; e = e.cause) if (e.message) parts.push(e.message);
  return parts.length > 0 ? parts.join(' ← ') : undefined;
}

/** The unit's step being retried: a pending activity past its first attempt, or one whose attempt failed. */
export function retryingStep(pending: readonly PendingActivity[] | null | undefined): RetryingStep | undefined {
  const p = (pending ?? []).find((a) => (a.attempt ?? 1) > 1 || a.lastFailure);
  if (!p) return undefined;
  const next = optionalTsToDate(p.nextAttemptScheduleTime);
  const lastFailure = failureText(p.lastFailure);
  return {
    activity: p.activityType?.name ?? '?',
    attempt: p.attempt ?? 1,
    ...(lastFailure ? { lastFailure } : {}),
    ...(next ? { nextAttemptAt: next.toISOString() } : {}),
  };
}

/** The cockpit's whole view. */
export interface CockpitStatus {
  plan: string;
  source: string;
  target: string;
  controlNamespace: string;
  at: string;
  campaign: { workflowId: string; url: string; workflow: UnitRow['workflow']; phase?: string; status?: CampaignStatus; error?: string };
  units: UnitRow[];
}

/** Options of `getStatus`. */
export interface GetStatusOptions {
  /** Only this unit (a campaign target means every unit). */
  target?: CockpitTarget;
  namespace: string;
  uiBase: string;
  queryTimeoutMs?: number;
  now?: () => Date;
}

async function unitRow(client: Client, opts: GetStatusOptions, ref: UnitRef, name: string, ring: string): Promise<UnitRow> {
  const workflowId = unitWorkflowId(ref);
  const base = { unit: name, ring, workflowId, url: workflowUrl(opts.uiBase, opts.namespace, workflowId) };
  const handle = client.workflow.getHandle(workflowId);
  let running: boolean;
  let retrying: RetryingStep | undefined;
  try {
    const d = await handle.describe();
    running = d.status.name === 'RUNNING';
    retrying = running ? retryingStep(d.raw.pendingActivities) : undefined;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return { ...base, workflow: 'not-started' };
    return { ...base, workflow: 'unreachable', error: (err as Error).message };
  }
  try {
    const status = await queryStatus(client, handle, opts.queryTimeoutMs);
    return { ...base, workflow: running ? 'running' : 'closed', status, ...(retrying ? { retrying } : {}) };
  } catch (err) {
    return {
      ...base,
      workflow: 'unreachable',
      error: `status query failed (is the cutover worker running?): ${(err as Error).message}`,
      ...(retrying ? { retrying } : {}),
    };
  }
}

/** Reads the status of the plan's units (or of one), in ring order; queries run side by side. */
export async function getStatus(client: Client, plan: Plan, opts: GetStatusOptions): Promise<CockpitStatus> {
  const wanted = opts.target?.kind === 'unit' ? opts.target.name : undefined;
  const units = plan.rings.flatMap((r) => r.units.map((u) => ({ name: u, ring: r.name }))).filter((u) => !wanted || u.name === wanted);
  const rows = await Promise.all(units.map((u) => unitRow(client, opts, parseUnitName(u.name)!, u.name, u.ring)));
  const cwid = campaignWorkflowId(plan.name);
  let campaign: CockpitStatus['campaign'] = {
    workflowId: cwid,
    url: workflowUrl(opts.uiBase, opts.namespace, cwid),
    workflow: 'not-started',
  };
  try {
    const handle = client.workflow.getHandle(cwid);
    const d = await handle.describe();
    const phase = d.typedSearchAttributes.getAll().find((p) => p.key.name === 'CutoverPhase')?.value;
    campaign = {
      ...campaign,
      workflow: d.status.name === 'RUNNING' ? 'running' : 'closed',
      ...(typeof phase === 'string' ? { phase } : {}),
    };
    try {
      const status = await queryCampaign(client, handle, opts.queryTimeoutMs);
      campaign = { ...campaign, status, phase: status.phase };
    } catch (err) {
      campaign = { ...campaign, error: `status query failed (is the cutover worker running?): ${(err as Error).message}` };
    }
  } catch (err) {
    if (!(err instanceof WorkflowNotFoundError)) campaign = { ...campaign, workflow: 'unreachable', error: (err as Error).message };
  }
  return {
    plan: plan.name,
    source: plan.source,
    target: plan.target,
    controlNamespace: opts.namespace,
    at: (opts.now?.() ?? new Date()).toISOString(),
    campaign,
    units: rows,
  };
}
