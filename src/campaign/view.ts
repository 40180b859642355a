/**
 * What the campaign shows: its `status` query, the details line of the Temporal UI, and its search
 * attributes, each a pure function of the campaign's context and state.
 */
import type { SearchAttributeUpdatePair } from '@temporalio/common';
import { isGranted } from '../approvals/two-person';
import { CutoverCampaign, CutoverKind, CutoverPhase, CutoverRing } from '../domain/search-attributes';
import { isFinished, stepLabel, viewOf, type CampaignContext } from './planner';
import { progressLine, type CampaignProgress } from './progress';
import type { ChangedAttribute } from './state';
import type { CampaignState, CampaignStatus } from './types';
import { unitWorkflowIdOf } from './units';

/** The `status` query's answer; `historyLength` is the current run's; `progress` (`campaignProgress`) is carried when given. */
export function campaignStatus(
  c: CampaignContext,
  state: CampaignState,
  historyLength: number,
  progress?: CampaignProgress,
): CampaignStatus {
  const plan = c.input.plan;
  const step = plan.steps[state.stepIndex];
  const current = step?.ringIndex ?? plan.rings.length;
  const b = state.bake;
  return {
    id: c.workflowId,
    kind: 'campaign',
    name: plan.name,
    drill: plan.drill,
    phase: state.phase,
    paused: !!state.paused,
    ...(state.paused ? { pausedBy: state.paused } : {}),
    ...(state.hold ? { hold: state.hold } : {}),
    epoch: state.epoch,
    ...(step && !isFinished(state)
      ? {
          step: {
            ...step,
            ...(b ? { bakeStartedAt: new Date(b.startedAt).toISOString(), bakeUntil: new Date(b.until).toISOString() } : {}),
          },
        }
      : {}),
    stepsTotal: plan.steps.length,
    rings: plan.rings.map((r, i) => ({
      name: r.name,
      status: state.phase === 'completed' || i < current ? 'done' : i === current ? 'active' : 'pending',
      ...(r.approval ? { approval: r.approval } : {}),
      units: r.units.map((u) => viewOf(c, state, u) ?? { unit: u, workflowId: unitWorkflowIdOf(c.input.entities, u) }),
    })),
    gates: state.gates,
    measurements: b?.measurements ?? [],
    ...(state.approval ? { approval: state.approval } : {}),
    approvals: state.approvals,
    history: state.history,
    rejected: state.rejected,
    continuedAsNew: state.runs,
    maxHistoryLength: Math.max(state.maxHistoryLength, historyLength),
    ...(progress ? { progress } : {}),
    ...truncatedView(state),
  };
}

/** What the bounds dropped, for `status`: the state's counters, and the audit records only the Redis stream holds. */
function truncatedView(state: CampaignState): Pick<CampaignStatus, 'truncated'> {
  const auditRecords = state.audit ? state.audit.seq - state.audit.records.length : 0;
  const t = { ...state.truncated, ...(auditRecords > 0 ? { auditRecords } : {}) };
  return Object.keys(t).length ? { truncated: t } : {};
}

/**
 * The details text the Temporal UI shows (markdown): where the campaign stands, its progress (when given;
 * ETAs as moments, since the text is read later than it is written) and how to stop it.
 */
export function campaignDetails(
  c: CampaignContext,
  state: CampaignState,
  waitingFor: string | undefined,
  progress?: CampaignProgress,
): string {
  const plan = c.input.plan;
  const step = plan.steps[state.stepIndex];
  const a = state.approval;
  const finished = isFinished(state);
  return [
    `**campaign** ${plan.name}${plan.drill ? ' (drill)' : ''} — **${state.phase}**` +
      (state.paused ? ` — paused by ${state.paused.actor}` : ''),
    step && !finished ? `**step** ${step.n}/${plan.steps.length}: ${step.ring} batch ${step.batch}/${step.batches} ${stepLabel(step)}` : '',
    progress ? `**progress** ${progressLine(progress)}` : '',
    state.bake ? `**baking until** ${new Date(state.bake.until).toISOString()}` : '',
    state.hold ? `**held**: ${state.hold.reason}` : '',
    a && !isGranted(a)
      ? `**awaiting approval** ${a.approvals.length}/${a.required} (step ${a.binding.step}, epoch ${a.binding.epoch})`
      : '',
    waitingFor ? `**waiting for** ${waitingFor}` : '',
    finished
      ? ''
      : `**roll back** \`cutover rollback ${plan.name} --reason "…"\` (the current ring's units) · ` +
        `**pause** \`cutover pause ${plan.name}\``,
  ]
    .filter(Boolean)
    .join('\n');
}

/** The campaign's search attributes: all of them (a run's start), or the ones an action changed. */
export function campaignSearchAttributes(
  c: CampaignContext,
  state: CampaignState,
  only?: readonly ChangedAttribute[],
): SearchAttributeUpdatePair[] {
  const step = c.input.plan.steps[state.stepIndex];
  const pairs: SearchAttributeUpdatePair[] = [];
  if (!only) pairs.push({ key: CutoverKind, value: 'campaign' }, { key: CutoverCampaign, value: c.input.plan.name });
  if (!only || only.includes('phase')) pairs.push({ key: CutoverPhase, value: state.phase });
  if (step && (!only || only.includes('ring'))) pairs.push({ key: CutoverRing, value: step.ring });
  return pairs;
}
