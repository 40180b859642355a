/**
 * `planCampaign`: the validated plan → the ordered list of campaign steps and the minimum total
 * duration, touching nothing (the dry run). The campaign workflow walks the same list, so what the
 * dry run prints is what runs.
 */
import { formatDuration } from '../config/duration';
import type { GateConfig, Plan } from '../config/types';
import { gateKind } from '../config/units';
import { campaignWorkflowId, parseUnitName } from '../domain/ids';
import type { CampaignPlan, CampaignRing, CampaignStep, GateSpec, StepKind } from './types';

/** Options of the dry run / campaign. */
export interface PlanCampaignOptions {
  /** Rehearsal: each batch goes to cutover, bakes, and is rolled back. */
  drill?: boolean;
}

/** A gate of the plan as the campaign carries it. */
export function gateSpec(name: string, gate: GateConfig): GateSpec {
  const policy = {
    interval: gate.interval,
    count: gate.count,
    failureLimit: gate.failureLimit,
    consecutiveErrorLimit: gate.consecutiveErrorLimit,
  };
  switch (gateKind(gate)) {
    case 'prometheus': {
      const p = gate.prometheus!;
      const bounds = [p.max !== undefined ? `<= ${p.max}` : '', p.min !== undefined ? `>= ${p.min}` : ''].filter(Boolean).join(' and ');
      return { name, policy, kind: 'prometheus', prometheus: { ...p }, summary: `${p.query} ${bounds} (${p.url})` };
    }
    case 'temporal': {
      const t = gate.temporal!;
      const limits = [
        t.maxFailed !== undefined ? `failed <= ${t.maxFailed}` : '',
        t.maxFailureRatio !== undefined ? `failure ratio <= ${t.maxFailureRatio}` : '',
      ].filter(Boolean);
      return { name, policy, kind: 'temporal', temporal: { ...t }, summary: `target runs since the step: ${limits.join(', ')}` };
    }
    case 'synthetic': {
      const s = gate.synthetic!;
      return {
        name,
        policy,
        kind: 'synthetic',
        synthetic: { ...s },
        summary: `${s.workflows} probes, success >= ${s.minSuccess}, p99 <= ${formatDuration(s.maxP99)}`,
      };
    }
    case 'compare': {
      const c = gate.compare!;
      return {
        name,
        policy,
        kind: 'compare',
        compare: { ...c, workflowTypes: [...c.workflowTypes] },
        summary:
          `${c.workflowTypes.join(', ')}: target no worse than source (failure rate and latency +${c.latencyTolerance * 100}%, ` +
          (c.source === 'prometheus' && c.prometheus
            ? `alpha ${c.alpha}, ${c.minSamples} runs a side, SDK metrics in ${c.prometheus.url}`
            : `alpha ${c.alpha}, ${c.minSamples}–${c.maxSamples} runs a side`) +
          (c.baselineLookback !== undefined ? `, source from ${formatDuration(c.baselineLookback)} before the step)` : ')'),
      };
    }
    case 'scheduleToStart': {
      const s = gate.scheduleToStart!;
      return {
        name,
        policy,
        kind: 'scheduleToStart',
        scheduleToStart: { ...s },
        summary:
          `target backlogs: oldest task <= ${formatDuration(s.maxBacklogAge)}` +
          (s.maxBacklogCount !== undefined ? `, <= ${s.maxBacklogCount} waiting` : ''),
      };
    }
    case 'reconcile': {
      const r = gate.reconcile!;
      return {
        name,
        policy,
        kind: 'reconcile',
        reconcile: { ...r },
        summary: `duplicates <= ${r.maxDuplicates}, stranded <= ${r.maxStranded}, schedules on one cluster`,
      };
    }
  }
}

/** Least time a baking step takes: the bake, or the longest gate window (count × interval). */
export function stepMinDuration(bakeMs: number, gates: readonly GateSpec[]): number {
  return Math.max(bakeMs, ...gates.map((g) => g.policy.count * g.policy.interval));
}

/** The plan's campaign: rings, batches, steps and the minimum total duration. Pure. */
export function planCampaign(plan: Plan, opts: PlanCampaignOptions = {}): CampaignPlan {
  const drill = opts.drill ?? false;
  const gates: Record<string, GateSpec> = {};
  for (const [name, gate] of Object.entries(plan.gates)) gates[name] = gateSpec(name, gate);
  const steps: CampaignStep[] = [];
  const rings: CampaignRing[] = [];
  const strategyOf = (unit: string) => {
    const ref = parseUnitName(unit);
    return ref ? plan.namespaces[ref.namespace]?.strategy : undefined;
  };
  plan.rings.forEach((ring, ringIndex) => {
    const bakeMs = ring.bake ?? plan.defaults.bake;
    const batchSize = Math.max(1, Math.min(ring.batchSize || ring.units.length, ring.units.length));
    const batches: string[][] = [];
    for (let i = 0; i < ring.units.length; i += batchSize) batches.push(ring.units.slice(i, i + batchSize));
    rings.push({
      name: ring.name,
      units: [...ring.units],
      batchSize,
      batches: batches.length,
      gates: [...ring.gates],
      ...(ring.approval ? { approval: ring.approval } : {}),
      bakeMs,
    });
    const ringGates = ring.gates.map((g) => gates[g]).filter((g): g is GateSpec => g !== undefined);
    batches.forEach((units, b) => {
      const push = (kind: StepKind, stepUnits: string[], extra: { percent?: number; bake?: boolean } = {}) => {
        const bake = extra.bake ?? false;
        steps.push({
          n: steps.length + 1,
          ring: ring.name,
          ringIndex,
          batch: b + 1,
          batches: batches.length,
          kind,
          units: stepUnits,
          ...(extra.percent !== undefined ? { percent: extra.percent } : {}),
          bakeMs: bake ? bakeMs : 0,
          gates: bake ? [...ring.gates] : [],
          minDurationMs: bake ? stepMinDuration(bakeMs, ringGates) : 0,
        });
      };
      if (ring.approval) push('approval', units);
      push('prepare', units);
      // Canary percentages only move dual-workers units; drain-and-switch units switch whole at cutover.
      const canaryUnits = units.filter((u) => strategyOf(u) === 'dual-workers');
      if (canaryUnits.length > 0) for (const percent of plan.defaults.percentSteps) push('canary', canaryUnits, { percent, bake: true });
      push('cutover', units, { percent: 100, bake: true });
      push(drill ? 'rollback' : 'complete', units);
    });
  });
  return {
    name: plan.name,
    workflowId: campaignWorkflowId(plan.name),
    source: plan.source,
    target: plan.target,
    drill,
    onGateFailure: plan.defaults.onGateFailure,
    percentSteps: [...plan.defaults.percentSteps],
    unitCount: rings.reduce((n, r) => n + r.units.length, 0),
    rings,
    gates,
    steps,
    minTotalDurationMs: steps.reduce((t, s) => t + s.minDurationMs, 0),
  };
}

/** A step's action in words: `canary 10%`, `cutover 100%`, `two-person approval`. */
export function describeStep(step: CampaignStep): string {
  switch (step.kind) {
    case 'approval':
      return 'two-person approval';
    case 'prepare':
      return 'start: preflight, provision, shadow';
    case 'canary':
      return `canary ${step.percent}%`;
    case 'cutover':
      return 'cutover 100%';
    case 'rollback':
      return 'drill rollback to source';
    case 'complete':
      return 'drain, reconcile, complete';
  }
}

/** A duration for people: `10m30s`, `1h5m`, `250ms`, `0s`. */
export function humanDuration(ms: number): string {
  if (ms < 1000) return ms === 0 ? '0s' : `${ms}ms`;
  const parts: string[] = [];
  let rest = Math.round(ms / 1000);
  for (const [unit, size] of [
    ['d', 86_400],
    ['h', 3600],
    ['m', 60],
    ['s', 1],
  ] as const) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  return parts.join('');
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows
    .map((r) =>
      r
        .map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** The dry run as text: a header, one line per step, the gates, and the minimum total duration. */
export function formatDryRun(cp: CampaignPlan): string {
  // Hand-padded columns: the table is plain text with no colours or borders, so no library is needed.
  const head =
    `${cp.drill ? 'Drill' : 'Campaign'} ${cp.name} (${cp.workflowId}): ${cp.source} → ${cp.target}, ` +
    `${cp.unitCount} unit(s) in ${cp.rings.length} ring(s), ${cp.steps.length} steps` +
    `${cp.drill ? ' — every batch is rolled back after its cutover bake' : ''}`;
  const rows = [['#', 'ring', 'batch', 'step', 'units', 'bake', 'gates', 'min']];
  for (const s of cp.steps) {
    rows.push([
      String(s.n),
      s.ring,
      `${s.batch}/${s.batches}`,
      describeStep(s),
      s.units.join(', '),
      s.bakeMs > 0 ? humanDuration(s.bakeMs) : '-',
      s.gates.join(', ') || '-',
      humanDuration(s.minDurationMs),
    ]);
  }
  const gateRows = [['gate', 'kind', 'checks', 'every', 'count', 'failureLimit', 'consecutiveErrorLimit']];
  for (const g of Object.values(cp.gates)) {
    gateRows.push([
      g.name,
      g.kind,
      g.summary,
      humanDuration(g.policy.interval),
      String(g.policy.count),
      String(g.policy.failureLimit),
      String(g.policy.consecutiveErrorLimit),
    ]);
  }
  return [
    head,
    '',
    table(rows),
    '',
    Object.keys(cp.gates).length > 0 ? table(gateRows) : 'No gates.',
    '',
    `On gate failure: ${cp.onGateFailure}. Minimum total duration: ${humanDuration(cp.minTotalDurationMs)} ` +
      '(bakes and gate windows; drains, probes and approvals add to it).',
    'Dry run: nothing was started or changed.',
  ].join('\n');
}
