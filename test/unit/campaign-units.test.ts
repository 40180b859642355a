import assert from 'node:assert/strict';
import * as path from 'node:path';
import { buildCampaignInput, DEFAULT_ENTITY_MAX_HISTORY_UNDER_CAMPAIGN, ENTITY_BAKE_UNDER_CAMPAIGN_MS } from '../../src/campaign/input';
import { sealingSteps, settledPhase } from '../../src/campaign/driver';
import { campaignUnit, campaignUnits, factorEntities, pickEntities, unitProblem } from '../../src/campaign/units';
import { unitInputFromPlan, unitScope } from '../../src/campaign/unit-input';
import { loadPlan, type Plan } from '../../src/config';
import { parseUnitName, unitWorkflowId } from '../../src/domain/ids';

const EXAMPLE = path.join(__dirname, '../../examples/plan.yaml');
/** The server's default `limit.blobSize.error`: a larger workflow input is refused. */
const DEFAULT_BLOB_LIMIT = 2 * 1024 * 1024;

/**
 * A plan of `tenants` tenants over `namespaces` namespaces (half by search attribute, half by prefix), three rings,
 * a synthetic gate in the first.
 */
function bigPlan(namespaces: number, tenants: number): Plan {
  const ns = (i: number) => `ns-${i}`;
  const ids: string[][] = Array.from({ length: namespaces }, () => []);
  const units: string[] = [];
  for (let j = 0; j < tenants; j++) {
    ids[j % namespaces]!.push(`tenant-${j}`);
    units.push(`tenant/${ns(j % namespaces)}/tenant-${j}`);
  }
  const nsConfig: Record<string, unknown> = {};
  for (let i = 0; i < namespaces; i++) {
    nsConfig[ns(i)] = {
      strategy: i % 3 === 0 ? 'dual-workers' : 'drain-and-switch',
      taskQueues: [`q-${i}`],
      tenants: { selector: i % 2 === 0 ? { searchAttribute: 'TenantId' } : { workflowIdPrefix: 'order-{tenant}-' }, ids: ids[i] },
    };
  }
  const a = Math.ceil(tenants * 0.01);
  const b = Math.ceil(tenants * 0.1);
  return loadPlan({
    name: 'big',
    clusters: { legacy: { address: '127.0.0.1:7233' }, cloud: { address: '127.0.0.1:7234' } },
    source: 'legacy',
    target: 'cloud',
    control: { cluster: 'cloud', namespace: 'cutover', taskQueue: 'cutover' },
    redis: { url: 'redis://127.0.0.1:6379', clientStaleness: '5s' },
    namespaces: nsConfig,
    gates: {
      probe: { synthetic: { workflows: 5, minSuccess: 1, maxP99: '2s' } },
      clean: { reconcile: { maxDuplicates: 0, maxStranded: 0 } },
    },
    defaults: { bake: '1m', drainDeadline: '5m' },
    rings: [
      { name: 'r0', units: units.slice(0, a), gates: ['probe'] },
      { name: 'r1', units: units.slice(a, b), gates: ['clean'], batchSize: 100 },
      { name: 'r2', units: units.slice(b), gates: ['clean'], batchSize: 500 },
    ],
  });
}

/** What the campaign must start for a unit: the plan's entity input with the campaign's settings (the contract of `cutover start`). */
function expectedUnit(plan: Plan, name: string, opts: { actor: string; drainPollMs?: number; probeTaskQueue?: string }) {
  const ref = parseUnitName(name)!;
  const base = unitInputFromPlan(plan, ref, { actor: opts.actor, advanceMode: 'manual', campaign: plan.name });
  const scope = unitScope(plan, ref);
  return {
    unit: name,
    workflowId: unitWorkflowId(ref),
    workflowType: ref.kind === 'namespace' ? 'namespaceMigration' : 'tenantMigration',
    input: {
      ...base,
      bakeMs: ENTITY_BAKE_UNDER_CAMPAIGN_MS,
      maxHistoryEvents: DEFAULT_ENTITY_MAX_HISTORY_UNDER_CAMPAIGN,
      ...(opts.drainPollMs !== undefined ? { drainPollMs: opts.drainPollMs } : {}),
      ...(opts.probeTaskQueue ? { probe: { ...base.probe, taskQueue: opts.probeTaskQueue } } : {}),
    },
    scope: {
      sourceNamespace: scope.sourceNamespace,
      targetNamespace: scope.targetNamespace,
      taskQueues: scope.taskQueues,
      ...(scope.tenant ? { tenant: scope.tenant } : {}),
    },
  };
}

describe('campaign units: each unit rebuilt from the factored input', () => {
  it('examples/plan.yaml: every unit equals what the plan says (namespace and search-attribute tenants, probe in rings 0 and 1)', () => {
    const plan = loadPlan(EXAMPLE);
    const opts = { actor: 'alice', drainPollMs: 250, probeTaskQueue: 'probe-q' };
    const input = buildCampaignInput(plan, opts);
    const got = campaignUnits(input);
    assert.deepEqual(
      got.map((u) => u.unit),
      plan.rings.flatMap((r) => r.units),
    );
    for (const u of got) assert.deepEqual(u, expectedUnit(plan, u.unit, opts), u.unit);
    assert.equal(got.find((u) => u.unit === 'tenant/detections/acme')!.input.probe.workflows, 0, 'ring2 has no synthetic gate');
    assert.equal(got.find((u) => u.unit === 'tenant/detections/internal-e2e')!.input.probe.workflows, 20);
  });

  it("10,000 tenants in 300 namespaces: every unit equal, and the input fits the server's 2 MiB payload limit", () => {
    const plan = bigPlan(300, 10_000);
    const input = buildCampaignInput(plan, { actor: 'bench' });
    const got = campaignUnits(input);
    assert.equal(got.length, 10_000);
    for (const u of got) assert.deepEqual(u, expectedUnit(plan, u.unit, { actor: 'bench' }), u.unit);
    const bytes = Buffer.byteLength(JSON.stringify(input));
    assert.ok(bytes < DEFAULT_BLOB_LIMIT, `input is ${bytes} bytes`);
    // Groups: one per ring and namespace that has units in it, never one per unit.
    assert.ok(Object.keys(input.entities.groups).length <= 3 * 300);
  });

  it('keeps workflow IDs that differ from the contract, and only those', () => {
    const plan = loadPlan(EXAMPLE);
    const input = buildCampaignInput(plan, { actor: 'alice', workflowIds: { 'namespace/payments': 'cutover/namespace/payments/t1' } });
    assert.deepEqual(input.entities.workflowIds, { 'namespace/payments': 'cutover/namespace/payments/t1' });
    assert.equal(campaignUnit(input.entities, 'ring0-synthetic', 'namespace/payments').workflowId, 'cutover/namespace/payments/t1');
    assert.equal(
      campaignUnit(input.entities, 'ring1-internal', 'tenant/detections/internal-e2e').workflowId,
      'cutover/tenant/detections/internal-e2e',
    );
  });

  it('pickEntities hands an activity only the groups its units need, and they rebuild the same', () => {
    const plan = bigPlan(30, 300);
    const input = buildCampaignInput(plan, { actor: 'bench' });
    const some = plan.rings[2]!.units.slice(0, 5).map((unit) => ({ unit, ring: 'r2' }));
    const picked = pickEntities(input.entities, some);
    assert.equal(Object.keys(picked.groups).length, 5);
    for (const { unit, ring } of some) assert.deepEqual(campaignUnit(picked, ring, unit), campaignUnit(input.entities, ring, unit));
  });

  it('names what is missing: a bad unit name, a unit of no group, a tenant group without a selector', () => {
    const input = buildCampaignInput(loadPlan(EXAMPLE), { actor: 'alice' });
    assert.match(unitProblem(input.entities, 'ring0-synthetic', 'payments')!, /not a unit name/);
    assert.match(
      unitProblem(input.entities, 'ring0-synthetic', 'namespace/billing')!,
      /entities\.groups\["ring0-synthetic\|namespace\|billing"\]: missing/,
    );
    const key = 'ring1-internal|tenant|detections';
    const noSelector = { ...input.entities, groups: { ...input.entities.groups, [key]: { fields: input.entities.groups[key]!.fields } } };
    assert.match(unitProblem(noSelector, 'ring1-internal', 'tenant/detections/internal-e2e')!, /tenantSelector: missing/);
    assert.throws(() => campaignUnit(noSelector, 'ring1-internal', 'tenant/detections/internal-e2e'), /tenantSelector: missing/);
  });

  it('refuses to factor units of one group that differ in a shared field', () => {
    const plan = loadPlan(EXAMPLE);
    const a = expectedUnit(plan, 'tenant/detections/acme', { actor: 'x' });
    const b = expectedUnit(plan, 'tenant/detections/globex', { actor: 'x' });
    const selector = { searchAttribute: 'TenantId' };
    assert.throws(
      () =>
        factorEntities([
          { ring: 'r', name: a.unit, input: a.input, workflowId: a.workflowId, tenantSelector: selector },
          { ring: 'r', name: b.unit, input: { ...b.input, drainDeadlineMs: 1 }, workflowId: b.workflowId, tenantSelector: selector },
        ]),
      /group r\|tenant\|detections differ/,
    );
  });
});

describe('campaign units: sealed units leave the state', () => {
  const cp = buildCampaignInput(loadPlan(EXAMPLE), { actor: 'alice' }).plan;
  const sealing = sealingSteps(cp.steps);
  const completeOf = (u: string) => cp.steps.findIndex((s) => s.kind === 'complete' && s.units.includes(u));

  it('a unit is sealed as completed only once the step after its complete step has begun', () => {
    const i = completeOf('tenant/detections/acme');
    assert.equal(settledPhase(cp.steps, sealing, i, 'tenant/detections/acme'), undefined, 'while its complete step runs');
    assert.equal(settledPhase(cp.steps, sealing, i + 1, 'tenant/detections/acme'), 'completed');
    assert.equal(settledPhase(cp.steps, sealing, i + 1, 'tenant/detections/globex'), undefined, 'a later batch');
  });

  it('a drill seals its units as rolled back', () => {
    const drill = buildCampaignInput(loadPlan(EXAMPLE), { actor: 'alice', drill: true }).plan;
    const seal = sealingSteps(drill.steps);
    const i = drill.steps.findIndex((s) => s.kind === 'rollback' && s.units.includes('namespace/payments'));
    assert.ok(i >= 0);
    assert.equal(settledPhase(drill.steps, seal, i + 1, 'namespace/payments'), 'rolled-back');
    assert.equal(
      drill.steps.some((s) => s.kind === 'complete'),
      false,
    );
  });
});
