/**
 * `renderRunbook`: the Markdown runbook of a plan — the document teams agree on before a cutover:
 * every ring, batch and step in order, the gates each step must pass (with thresholds), who approves,
 * and the exact command that rolls the step back. Built from the same step list the dry run prints
 * and the campaign walks (`planCampaign`), so the runbook and the run never disagree. Pure.
 */
import { describeStep, planCampaign } from '../campaign/plan';
import type { CampaignStep, GateSpec } from '../campaign/types';
import { formatDuration } from '../config/duration';
import type { Plan } from '../config/types';

/** Options of `renderRunbook`. */
export interface RunbookOptions {
  /** The plan's path as operators will type it in commands (default `cutover.yaml`). */
  planPath?: string;
  /** Rehearsal: each batch is rolled back after its cutover bake. */
  drill?: boolean;
}

/** A Markdown table cell: pipes escaped, newlines folded. */
function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function table(head: string[], rows: string[][]): string[] {
  return [`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`, ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`)];
}

/** The command that rolls a unit back, exactly as an operator runs it. */
export function rollbackCommand(unit: string, planPath: string, why: string): string {
  return `npx cutover rollback ${unit} --plan ${planPath} --reason "${why.replace(/"/g, "'")}"`;
}

/** Who signs a step off. */
export function approversOf(step: CampaignStep, plan: Plan): string {
  if (step.kind === 'approval') return 'two people, neither the requester: each runs `npx cutover approve ' + plan.name + '`';
  if (step.kind === 'complete' && plan.defaults.stragglers === 'terminate')
    return 'one operator approves terminating stragglers: `npx cutover approve <unit>`';
  return 'none (gates decide; the operator on duty watches)';
}

function gateThreshold(g: GateSpec): string {
  return g.summary;
}

/** How long a completed unit stays reversible, in words. */
function finalizeText(after: number | 'never'): string {
  if (after === 'never') return 'until finalized';
  return after === 0 ? 'final at once' : `${formatDuration(after)} after completion`;
}

/** What rolling a step back means, in one line. */
function rollbackOf(step: CampaignStep, planPath: string): string {
  switch (step.kind) {
    case 'approval':
      return 'nothing moved yet: do not approve';
    case 'prepare':
    case 'canary':
    case 'cutover':
    case 'complete':
      return step.units.map((u) => `\`${rollbackCommand(u, planPath, `step ${step.n} (${describeStep(step)}) failed`)}\``).join('<br>');
    case 'rollback':
      return 'this step is the rollback (drill)';
  }
}

/** The runbook as Markdown (ends with a newline). */
export function renderRunbook(plan: Plan, opts: RunbookOptions = {}): string {
  const planPath = opts.planPath ?? 'cutover.yaml';
  const cp = planCampaign(plan, { drill: opts.drill ?? false });
  const p = (flag = true) => (flag ? ` --plan ${planPath}` : '');
  const out: string[] = [];
  out.push(`# Runbook: ${plan.name}`, '');
  const stragglers =
    plan.defaults.stragglers === 'wait'
      ? 'waited for'
      : plan.defaults.stragglers === 'report'
        ? 'reported'
        : plan.defaults.stragglers === 'handoff'
          ? 'handed off to the target with their state (runs without the `cutover/workflow` helper are reported)'
          : 'terminated (with approval)';
  out.push(
    `Move **${cp.unitCount} unit(s)** from **${plan.source}** (${plan.clusters[plan.source]!.address}) ` +
      `to **${plan.target}** (${plan.clusters[plan.target]!.address}) ` +
      `in **${cp.rings.length} ring(s)**, **${cp.steps.length} steps**` +
      `${cp.drill ? ' — a **drill**: every batch is rolled back after its cutover bake' : ''}. ` +
      `cutover's workflows run on **${plan.control.cluster}**, namespace \`${plan.control.namespace}\`, ` +
      `task queue \`${plan.control.taskQueue}\`; routing records live in Redis under \`${plan.redis.keyPrefix}\`.`,
    '',
    `Plan file: \`${planPath}\`. Minimum total duration: **${formatDuration(cp.minTotalDurationMs)}** ` +
      `(bakes and gate windows; drains, probes and approvals add to it). ` +
      `On a failed gate: **${plan.defaults.onGateFailure}**. ` +
      `Drain deadline: **${formatDuration(plan.defaults.drainDeadline)}**, then stragglers are **${stragglers}**.`,
    '',
  );
  out.push('## Before the cutover', '');
  out.push(
    `- [ ] The plan is valid: \`npx cutover validate ${planPath}\``,
    `- [ ] Everyone has read the dry run: \`npx cutover start ${planPath} --dry-run\``,
    `- [ ] The cutover worker runs: \`npx cutover worker${p()}\` (metrics on :9464; Grafana dashboard and alerts in \`deploy/\`)`,
    `- [ ] The application's workers poll the same task queues on **${plan.target}** (dual workers) for: ${Object.entries(plan.namespaces)
      .map(([ns, c]) => `\`${ns}\` (${c.taskQueues.join(', ') || 'no task queues'}, ${c.strategy})`)
      .join(', ')}`,
    '- [ ] Approvers for two-person steps are named and reachable: ' +
      (cp.rings.some((r) => r.approval)
        ? cp.rings
            .filter((r) => r.approval)
            .map((r) => `\`${r.name}\``)
            .join(', ')
        : 'none needed'),
    `- [ ] Everyone knows the abort: roll back every started unit (end of this page)`,
    '',
  );
  out.push('## Watching and steering', '');
  out.push(
    ...table(
      ['what', 'command'],
      [
        ['start (or resume) the campaign', `\`npx cutover start ${planPath}\``],
        ['live view', `\`npx cutover status --watch${p()}\``],
        ['one unit, as JSON', `\`npx cutover status <unit> --json${p()}\``],
        ['skip a bake / retry a held step', `\`npx cutover advance <unit>${p()}\``],
        ['pause / resume a unit', `\`npx cutover pause <unit>${p()} --reason "…"\` / \`npx cutover resume <unit>${p()}\``],
        ['roll a unit back', `\`npx cutover rollback <unit>${p()} --reason "…"\``],
        ['approve', `\`npx cutover approve <unit or ${plan.name}>${p()}\``],
        [
          `make a completed unit final (reversible until then: ${finalizeText(plan.defaults.finalizeAfter)})`,
          `\`npx cutover finalize <unit>${p()}\``,
        ],
        [
          'roll a completed unit back (while reversible)',
          `\`npx cutover rollback <unit>${p()} --reason "…"\`, then \`npx cutover approve <unit>${p()}\` by two other operators`,
        ],
        ['duplicates and stranded runs', `\`npx cutover reconcile <unit>${p()}\``],
        ['in the Temporal UI', `filter \`CutoverCampaign="${plan.name}"\`, or \`CutoverPhase="draining"\``],
      ],
    ),
    '',
  );
  out.push('## Gates', '');
  const gates = Object.values(cp.gates);
  if (gates.length === 0) out.push('The plan has no gates: only bakes and operators decide.', '');
  else {
    out.push(
      ...table(
        ['gate', 'kind', 'passes when', 'every', 'measurements', 'failures tolerated', 'errors in a row tolerated'],
        gates.map((g) => [
          g.name,
          g.kind,
          gateThreshold(g),
          formatDuration(g.policy.interval),
          String(g.policy.count),
          String(g.policy.failureLimit),
          String(g.policy.consecutiveErrorLimit),
        ]),
      ),
      '',
    );
  }
  for (const ring of cp.rings) {
    out.push(`## Ring \`${ring.name}\``, '');
    out.push(
      `Units: ${ring.units.map((u) => `\`${u}\``).join(', ')} — ${ring.batches} batch(es) of up to ${ring.batchSize}; ` +
        `bake ${formatDuration(ring.bakeMs)}; gates: ${ring.gates.length ? ring.gates.map((g) => `\`${g}\``).join(', ') : 'none'}` +
        `${ring.approval ? '; **two-person approval** before each batch' : ''}.`,
      '',
    );
    const steps = cp.steps.filter((s) => s.ring === ring.name);
    for (let b = 1; b <= ring.batches; b++) {
      const batch = steps.filter((s) => s.batch === b);
      out.push(`### Batch ${b}/${ring.batches}: ${batch[0]!.units.map((u) => `\`${u}\``).join(', ')}`, '');
      out.push(
        ...table(
          ['#', 'step', 'units', 'bake', 'gates (thresholds)', 'min', 'approvers', 'roll back with'],
          batch.map((s) => [
            String(s.n),
            describeStep(s),
            s.units.join(', '),
            s.bakeMs > 0 ? formatDuration(s.bakeMs) : '-',
            s.gates.length ? s.gates.map((g) => `${g}: ${cp.gates[g] ? gateThreshold(cp.gates[g]) : '?'}`).join('; ') : '-',
            formatDuration(s.minDurationMs),
            approversOf(s, plan),
            rollbackOf(s, planPath),
          ]),
        ),
        '',
      );
    }
  }
  out.push('## Abort: roll everything back', '');
  out.push(
    'Roll back every unit that has started, latest ring first. ' +
      'Each command is confirmed by its workflow (exit 0) or refused with the reason (exit 1).',
    '',
    '```sh',
  );
  for (const ring of [...cp.rings].reverse()) for (const u of ring.units) out.push(rollbackCommand(u, planPath, 'abort the cutover'));
  out.push('```', '', `Then check each unit is clean: \`npx cutover reconcile <unit>${p()}\` (exit 0 when clean).`, '');
  return out.join('\n');
}
