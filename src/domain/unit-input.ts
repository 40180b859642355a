/**
 * Checks an entity workflow's input and builds its start options. Pure (no client import): the
 * campaign, the CLI and tests call `unitStartOptions` and pass the result to `client.workflow.start`.
 */
import { unitName, unitWorkflowId } from './ids';
import type { Phase, Problem, UnitMigrationInput } from './migration';
import { CutoverCampaign, CutoverKind, CutoverPhase, CutoverRing, CutoverUnit } from './search-attributes';

/** Every problem with an input, each naming the field and the fix (empty when valid). */
export function validateUnitInput(input: unknown, kind: 'namespace' | 'tenant'): Problem[] {
  const problems: Problem[] = [];
  if (typeof input !== 'object' || input === null) {
    return [{ field: 'input', message: 'expected an object', hint: 'pass a UnitMigrationInput as the first workflow argument' }];
  }
  const i = input as Partial<UnitMigrationInput>;
  const need = (field: string, ok: boolean, hint: string, message = 'missing or invalid') => {
    if (!ok) problems.push({ field, message, hint });
  };
  const str = (v: unknown) => typeof v === 'string' && v.trim() !== '';
  const ms = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v >= 0;
  need('unit.kind', i.unit?.kind === kind, `a ${kind}Migration workflow moves a ${kind} unit`, `expected ${kind}`);
  need('unit.namespace', str(i.unit?.namespace), 'name the namespace being moved');
  if (kind === 'tenant') {
    need('unit.tenant', i.unit?.kind === 'tenant' && str(i.unit.tenant), 'name the tenant being moved');
    need(
      'tenant',
      typeof i.tenant === 'object' && i.tenant !== null,
      'give the tenant selector: { workflowIdPrefix } or { searchAttribute, value }',
    );
  }
  need('sourceNamespace', str(i.sourceNamespace), 'the namespace on the source cluster');
  need('targetNamespace', str(i.targetNamespace), 'the namespace on the target cluster');
  need('strategy', i.strategy === 'dual-workers' || i.strategy === 'drain-and-switch', 'use dual-workers or drain-and-switch');
  need('taskQueues', Array.isArray(i.taskQueues) && i.taskQueues.length > 0 && i.taskQueues.every(str), "list the unit's task queues");
  const steps = i.percentSteps;
  need(
    'percentSteps',
    Array.isArray(steps) && steps.every((p, k) => typeof p === 'number' && p > 0 && p < 100 && (k === 0 || p > steps[k - 1]!)),
    'ascending percentages between 0 and 100 exclusive, e.g. [10, 50]',
  );
  for (const f of ['bakeMs', 'drainDeadlineMs', 'holdTimeoutMs'] as const) need(f, ms(i[f]), 'a duration in milliseconds ≥ 0');
  if (i.clientStalenessMs !== undefined)
    need(
      'clientStalenessMs',
      ms(i.clientStalenessMs),
      "the routed clients' staleness bound in milliseconds (plan redis.clientStaleness), or leave unset",
    );
  if (i.routeCheckMs !== undefined)
    need(
      'routeCheckMs',
      ms(i.routeCheckMs) && i.routeCheckMs >= 100,
      'how often the unit reads its routing record back, in milliseconds ≥ 100 (plan redis.routeCheck), or leave unset',
    );
  need('drainPollMs', ms(i.drainPollMs) && (i.drainPollMs ?? 0) > 0, 'a poll interval in milliseconds > 0');
  need('stragglers', ['wait', 'report', 'terminate', 'handoff'].includes(i.stragglers ?? ''), 'use wait, report, terminate or handoff');
  if (i.handoffWaitMs !== undefined)
    need(
      'handoffWaitMs',
      ms(i.handoffWaitMs) && i.handoffWaitMs >= 1_000,
      'how long one handoff pass waits for safe points, in milliseconds ≥ 1000, or leave unset',
    );
  need('onGateFailure', i.onGateFailure === 'rollback' || i.onGateFailure === 'hold', 'use rollback or hold');
  need('advanceMode', i.advanceMode === 'auto' || i.advanceMode === 'manual', 'use auto or manual');
  need('probe.workflows', typeof i.probe?.workflows === 'number' && i.probe.workflows >= 0, 'how many probe workflows (0 disables)');
  need(
    'probe.minSuccess',
    typeof i.probe?.minSuccess === 'number' && i.probe.minSuccess >= 0 && i.probe.minSuccess <= 1,
    'a share between 0 and 1',
  );
  if (i.schedules !== undefined) {
    const b = typeof i.schedules === 'object' && i.schedules !== null ? (i.schedules as { backfill?: unknown }).backfill : undefined;
    need(
      'schedules.backfill',
      b === 'gap' || b === 'none',
      "use gap (fires missed while a schedule switches are run on its new cluster) or none (only reported), e.g. { backfill: 'gap' }",
    );
  }
  if (i.quickSteps !== undefined) {
    const q = typeof i.quickSteps === 'object' && i.quickSteps !== null ? (i.quickSteps as Record<string, unknown>) : undefined;
    need('quickSteps', q !== undefined, '{ startToCloseMs?, maxRetryIntervalMs? } in milliseconds, or leave unset for 30 s and 10 s');
    // The retry policy starts at 1 s, so neither bound may be shorter.
    for (const f of ['startToCloseMs', 'maxRetryIntervalMs'] as const) {
      const v = q?.[f];
      if (v !== undefined) need(`quickSteps.${f}`, ms(v) && (v as number) >= 1_000, 'at least 1000 milliseconds, or leave unset');
    }
  }
  if (i.finalizeAfterMs !== undefined)
    need(
      'finalizeAfterMs',
      i.finalizeAfterMs === 'never' || ms(i.finalizeAfterMs),
      'how long a completed unit stays reversible, in milliseconds ≥ 0 (0: final at once), or "never" ' +
        '(until `cutover finalize`); plan defaults.finalizeAfter',
    );
  if (i.maxHistoryEvents !== undefined)
    need('maxHistoryEvents', typeof i.maxHistoryEvents === 'number' && i.maxHistoryEvents >= 20, 'at least 20 events, or leave unset');
  return problems;
}

/** Start options of a unit's entity workflow: stable ID (a second start resumes, never forks), summaries, search attributes. */
export function unitStartOptions(input: UnitMigrationInput, taskQueue: string) {
  const unit = unitName(input.unit);
  const steps = input.strategy === 'dual-workers' ? `, canary ${input.percentSteps.join('→')}%` : '';
  return {
    workflowId: unitWorkflowId(input.unit),
    taskQueue,
    args: [input] as [UnitMigrationInput],
    workflowIdConflictPolicy: 'USE_EXISTING' as const,
    staticSummary: `Move ${unit} from ${input.sourceCluster} to ${input.targetCluster} (${input.strategy}${steps})`,
    staticDetails: [
      `**unit** ${unit}`,
      `**from** ${input.sourceCluster}/${input.sourceNamespace} **to** ${input.targetCluster}/${input.targetNamespace}`,
      `**task queues** ${input.taskQueues.join(', ')}`,
      `**bake** ${input.bakeMs} ms · **drain deadline** ${input.drainDeadlineMs} ms · **stragglers** ${input.stragglers}`,
      `**schedules** switched once each at cutover · **gap backfill** ${input.schedules?.backfill ?? 'gap'}`,
      input.campaign ? `**campaign** ${input.campaign}${input.ring ? ` · **ring** ${input.ring}` : ''}` : '',
    ]
      .filter(Boolean)
      .join('\n'),
    typedSearchAttributes: unitSearchAttributes(input, 'pending'),
  };
}

/** The search attributes of a unit's entity workflow, in `phase`: what the Temporal UI filters on. */
export function unitSearchAttributes(input: UnitMigrationInput, phase: Phase) {
  return [
    { key: CutoverKind, value: input.unit.kind },
    { key: CutoverUnit, value: unitName(input.unit) },
    { key: CutoverPhase, value: phase },
    ...(input.campaign ? [{ key: CutoverCampaign, value: input.campaign }] : []),
    ...(input.ring ? [{ key: CutoverRing, value: input.ring }] : []),
  ];
}
