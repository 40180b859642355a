import assert from 'node:assert/strict';
import * as path from 'node:path';
import type { CampaignProgress, Eta, RingProgress } from '../../src/campaign/progress';
import type { CampaignStatus } from '../../src/campaign/types';
import { planCampaign } from '../../src/campaign/plan';
import {
  campaignLines,
  checkCommandInput,
  CockpitInputError,
  detailLines,
  findCommand,
  inPlace,
  planUnitNames,
  renderStatus,
  resolveTarget,
  shortDuration,
  uiBaseUrl,
  unitInputFromPlan,
  unitScope,
  watchStatus,
  workflowUrl,
  type CockpitStatus,
  type UnitRow,
} from '../../src/cockpit';
import { loadPlan, type Plan } from '../../src/config';
import { parseUnitName } from '../../src/domain/ids';
import type { UnitStatus } from '../../src/domain/migration';
import { validateUnitInput } from '../../src/domain/unit-input';

const EXAMPLE = path.join(__dirname, '..', '..', 'examples', 'plan.yaml');
const NOW = new Date('2026-11-25T09:00:00.000Z');
const at = (deltaMs: number) => new Date(NOW.getTime() + deltaMs).toISOString();

function unitStatus(over: Partial<UnitStatus> = {}): UnitStatus {
  return {
    id: 'cutover/namespace/payments',
    kind: 'namespace',
    unit: 'namespace/payments',
    phase: 'canary',
    paused: false,
    route: { percent: 10, epoch: 3, sourceWorkersMayStop: false },
    strategy: 'dual-workers',
    history: [{ phase: 'pending', at: at(-60_000), actor: 'alice', reason: 'migration started' }],
    gates: [{ name: 'probe', result: 'successful', value: 1, at: at(-30_000), message: '20/20' }],
    counts: { sourceOpen: 12, targetOpen: 3, duplicates: 0, stranded: 0 },
    rejected: [],
    stragglers: [],
    compensations: [],
    continuedAsNew: 0,
    ...over,
  };
}

function view(plan: Plan, rows: Partial<Record<string, Partial<UnitRow>>>): CockpitStatus {
  const base = 'http://127.0.0.1:8234';
  return {
    plan: plan.name,
    source: plan.source,
    target: plan.target,
    controlNamespace: 'cutover',
    at: NOW.toISOString(),
    campaign: {
      workflowId: `cutover/campaign/${plan.name}`,
      url: workflowUrl(base, 'cutover', `cutover/campaign/${plan.name}`),
      workflow: 'not-started',
    },
    units: plan.rings.flatMap((r) =>
      r.units.map((u) => ({
        unit: u,
        ring: r.name,
        workflowId: `cutover/${u}`,
        url: workflowUrl(base, 'cutover', `cutover/${u}`),
        workflow: 'not-started' as const,
        ...rows[u],
      })),
    ),
  };
}

describe('cockpit (unit)', () => {
  const plan = loadPlan(EXAMPLE);

  describe('resolveTarget', () => {
    it('resolves units of the plan to their workflow IDs, and the plan name to the campaign', () => {
      assert.deepEqual(resolveTarget(plan, 'tenant/detections/acme'), {
        kind: 'unit',
        name: 'tenant/detections/acme',
        ref: { kind: 'tenant', namespace: 'detections', tenant: 'acme' },
        ring: 'ring2-customers',
        workflowId: 'cutover/tenant/detections/acme',
      });
      assert.deepEqual(resolveTarget(plan, 'legacy-to-cloud'), {
        kind: 'campaign',
        name: 'legacy-to-cloud',
        workflowId: 'cutover/campaign/legacy-to-cloud',
      });
      assert.deepEqual(planUnitNames(plan), [
        'namespace/payments',
        'tenant/detections/internal-e2e',
        'tenant/detections/acme',
        'tenant/detections/globex',
      ]);
    });

    for (const bad of ['namespace/unknown', 'tenant/detections/initech', 'payments', 'tenant/detections', '']) {
      it(`rejects "${bad}" as bad input naming <unit>`, () => {
        assert.throws(
          () => resolveTarget(plan, bad),
          (err: unknown) => err instanceof CockpitInputError && err.field === '<unit>' && err.hint.includes('namespace/payments'),
        );
      });
    }
  });

  describe('checkCommandInput', () => {
    const target = resolveTarget(plan, 'namespace/payments');
    it('requires a reason for rollback, and an actor for every command', () => {
      assert.throws(
        () => checkCommandInput({ target, command: 'rollback', actor: 'alice' }),
        (e: unknown) => e instanceof CockpitInputError && e.field === '--reason',
      );
      assert.throws(
        () => checkCommandInput({ target, command: 'rollback', actor: 'alice', reason: '  ' }),
        (e: unknown) => e instanceof CockpitInputError && e.field === '--reason',
      );
      assert.throws(
        () => checkCommandInput({ target, command: 'pause', actor: ' ' }),
        (e: unknown) => e instanceof CockpitInputError && e.field === '--actor',
      );
      assert.doesNotThrow(() => checkCommandInput({ target, command: 'rollback', actor: 'alice', reason: 'errors' }));
      assert.doesNotThrow(() => checkCommandInput({ target, command: 'advance', actor: 'alice' }));
    });
    it('refuses unit commands aimed at the campaign', () => {
      assert.throws(
        () => checkCommandInput({ target: resolveTarget(plan, plan.name), command: 'pause', actor: 'alice' }),
        (e: unknown) => e instanceof CockpitInputError && e.field === '<unit>',
      );
    });
  });

  describe('findCommand', () => {
    it('finds a command applied (audit line with its ID), rejected (with the reason) or not yet seen', () => {
      const s = unitStatus({
        history: [{ phase: 'canary', at: at(0), actor: 'alice', reason: 'pause by alice', evidence: { commandId: 'c1' } }],
        rejected: [{ command: 'resume', commandId: 'c2', actor: 'bob', reason: 'unit is not paused', phase: 'canary', at: at(0) }],
      });
      assert.deepEqual(findCommand(s, 'c1'), { state: 'applied' });
      assert.deepEqual(findCommand(s, 'c2'), { state: 'rejected', reason: 'unit is not paused', phase: 'canary' });
      assert.deepEqual(findCommand(s, 'c3'), { state: 'pending' });
    });
  });

  describe('renderStatus', () => {
    const rows = {
      'namespace/payments': {
        workflow: 'running' as const,
        status: { ...unitStatus({ waitingFor: 'baking canary 10%' }), bakeUntil: at(24_000) },
      },
      'tenant/detections/internal-e2e': {
        workflow: 'running' as const,
        status: unitStatus({
          id: 'cutover/tenant/detections/internal-e2e',
          unit: 'tenant/detections/internal-e2e',
          kind: 'tenant',
          phase: 'draining',
          paused: true,
          pausedBy: { actor: 'bob', reason: 'night shift', at: at(-1000) },
          route: { side: 'target', epoch: 7, sourceWorkersMayStop: false },
          gates: [{ name: 'errors', result: 'failed', value: 0.734, at: at(0), message: 'sum(rate(service_errors[1m])) = 0.734 > 0.5' }],
          counts: { sourceOpen: 4, targetOpen: 40, duplicates: 0, stranded: 1 },
          drain: { side: 'source', deadlineAt: at(600_000), lastOpen: 4, ratePerMin: 1.92, forecastAt: at(125_000) },
          approval: { kind: 'terminate-stragglers', requestedAt: at(0), count: 4 },
        }),
      },
      'tenant/detections/acme': { workflow: 'unreachable' as const, error: 'status query failed (is the cutover worker running?)' },
    };
    const text = renderStatus(view(plan, rows), { now: NOW });
    const lines = text.split('\n');

    it('fits every line in 100 columns', () => {
      for (const l of lines) assert.ok(l.length <= 100, `${l.length} > 100: ${l}`);
    });

    it('shows phase, route with epoch, bake remaining, last gate with value, open counts and drain forecast', () => {
      const pay = lines.find((l) => l.includes('namespace/payments') && !l.startsWith('  '))!;
      assert.match(pay, /^namespace\/payments\s+canary\s+10% e3\s+24s\s+probe ok 1\s+12\/3\s+-$/);
      const e2e = lines.find((l) => l.includes('tenant/detections/internal-e2e') && !l.startsWith('  '))!;
      assert.match(e2e, /draining‖\s+target e7\s+-\s+errors FAIL 0\.734\s+4\/40\s+~2m5s$/);
    });

    it('lists pending approvals first, then the pause, with the command that answers them', () => {
      const i = lines.findIndex((l) => l.includes('tenant/detections/internal-e2e') && !l.startsWith('  '));
      assert.match(lines[i + 1]!, /APPROVAL PENDING: terminate-stragglers \(4\) — cutover approve tenant\/detections\/internal-e2e/);
      assert.match(lines[i + 2]!, /PAUSED by bob: night shift — cutover resume tenant\/detections\/internal-e2e/);
    });

    it('shows a draining unit its open runs left, the drain rate, the forecast and the deadline', () => {
      assert.ok(lines.includes('  drain: 4 open on the source · falling 1.92 runs/min · empty in ~2m5s · deadline in 10m'), text);
      const growing = { ...rows['tenant/detections/internal-e2e'].status.drain!, ratePerMin: -3, forecastAt: undefined };
      const r = { ...rows['tenant/detections/internal-e2e'], status: { ...rows['tenant/detections/internal-e2e'].status, drain: growing } };
      assert.ok(
        detailLines(r as UnitRow, NOW).includes(
          'drain: 4 open on the source · growing 3 runs/min · no forecast (not falling) · deadline in 10m',
        ),
      );
      // Drained: the DRAIN column says so, no line under the unit.
      const drained = { ...r, status: { ...r.status, drain: { ...growing, lastOpen: 0 } } };
      assert.ok(!detailLines(drained as UnitRow, NOW).some((l) => l.startsWith('drain:')));
    });

    it('links each unit to its workflow in the Temporal UI', () => {
      assert.ok(lines.includes('  http://127.0.0.1:8234/namespaces/cutover/workflows/cutover%2Fnamespace%2Fpayments'));
      assert.ok(lines.includes('  http://127.0.0.1:8234/namespaces/cutover/workflows/cutover%2Ftenant%2Fdetections%2Fglobex'));
    });

    it('shows units not started and unreachable ones without hiding the others', () => {
      assert.ok(lines.some((l) => /^tenant\/detections\/globex\s+not started/.test(l)));
      assert.ok(lines.some((l) => /^tenant\/detections\/acme\s+\?/.test(l)));
      assert.ok(lines.some((l) => l.startsWith('  status unavailable: status query failed')));
    });

    it('heads each ring once, above its units', () => {
      const heads = lines.filter((l) => l.startsWith('── ring '));
      assert.deepEqual(
        heads.map((l) => l.split(' ')[2]),
        ['ring0-synthetic', 'ring1-internal', 'ring2-customers'],
      );
      const acme = lines.findIndex((l) => l.startsWith('tenant/detections/acme'));
      assert.ok(lines[acme - 1]!.startsWith('── ring ring2-customers '));
    });

    it('gives a unit name wider than its column a line of its own instead of cutting it', () => {
      const long = 'tenant/detections/a-very-long-tenant-name-indeed';
      const p2: Plan = { ...plan, rings: [{ name: 'r', units: [long], gates: [], batchSize: 1 }] };
      const r: Partial<UnitRow> = { workflow: 'running', status: unitStatus({ phase: 'shadow' }) };
      const ls = renderStatus(view(p2, { [long]: r }), { now: NOW }).split('\n');
      const i = ls.indexOf(long);
      assert.ok(i > 0);
      assert.match(ls[i + 1]!, /^\s{30} shadow\s+10% e3/);
    });

    it('names a placement sweep that could not vouch for the current route, and stays quiet about one that did', () => {
      const sweep = { epoch: 3, marked: false, listed: { source: 0, target: 0 }, seeded: 0, at: at(0), reason: 'sweep failed: boom' };
      const row = (over: Partial<UnitStatus>) => ({ workflow: 'running', unit: 'namespace/payments', status: unitStatus(over) }) as UnitRow;
      assert.deepEqual(detailLines(row({ placementSweep: sweep })), [
        'placement sweep at epoch 3 not marked: sweep failed: boom — starts keep looking at the other cluster',
      ]);
      assert.deepEqual(detailLines(row({ placementSweep: { ...sweep, marked: true, reason: undefined } })), []);
      // A sweep of an earlier route says nothing about this one.
      assert.deepEqual(detailLines(row({ placementSweep: { ...sweep, epoch: 2 } })), []);
    });

    it('falls back to the planner wait when the status has no bake deadline', () => {
      const r: Partial<UnitRow> = { workflow: 'running', status: unitStatus({ waitingFor: 'baking canary 10%' }) };
      const t = renderStatus(view(plan, { 'namespace/payments': r }), { now: NOW });
      assert.match(t, /10% e3\s+baking\s+probe ok/);
      assert.deepEqual(detailLines({ ...(r as UnitRow), unit: 'namespace/payments' }), ['waiting: baking canary 10%']);
    });
  });

  describe('campaign lines', () => {
    it('show the step with its bake left, gate values, a pending approval, a hold and a pause, with the command that answers each', () => {
      const plan = loadPlan(EXAMPLE);
      const dry = planCampaign(plan, { drill: false });
      const step = dry.steps.find((s) => s.kind === 'canary' && s.ring === 'ring1-internal')!;
      const v = view(plan, {
        'tenant/detections/internal-e2e': { workflow: 'running', status: unitStatus({ phase: 'canary', waitingFor: 'advance' }) },
      });
      const campaign: CampaignStatus = {
        id: `cutover/campaign/${plan.name}`,
        kind: 'campaign',
        name: plan.name,
        drill: false,
        phase: 'held',
        paused: true,
        pausedBy: { actor: 'bob', reason: 'night', at: at(-1_000) },
        hold: { reason: 'gate errors inconclusive', gate: 'errors', at: at(-2_000) },
        epoch: 2,
        step: { ...step, bakeStartedAt: at(-18_000), bakeUntil: at(12_000) },
        stepsTotal: dry.steps.length,
        rings: [],
        gates: [{ name: 'errors', status: 'measuring', reason: '2 of 4', value: 0.1234, at: at(-3_000) }],
        measurements: [],
        approval: {
          binding: { campaign: plan.name, ring: 'ring2-customers', step: 9, epoch: 2 },
          requestedBy: 'alice',
          requestedAt: NOW.getTime() - 5_000,
          expiresAt: NOW.getTime() + 3_600_000,
          required: 2,
          evidence: {},
          approvals: [],
        },
        approvals: [],
        history: [],
        rejected: [],
        continuedAsNew: 0,
        maxHistoryLength: 10,
      };
      const lines = campaignLines({ ...v, campaign: { ...v.campaign, workflow: 'running', status: campaign } }, NOW);
      assert.match(
        lines[0]!,
        new RegExp(
          `^campaign held \\(paused\\) · step ${step.n}/${dry.steps.length} ring1-internal batch 1/1 ` +
            `canary ${step.percent}% · bake 12s left$`,
        ),
      );
      assert.equal(lines[1], '  gates: errors measuring 0.123');
      assert.equal(lines[2], `  APPROVAL PENDING ring2-customers step 9: 0 of 2, expires in 1h — cutover approve ${plan.name}`);
      assert.match(lines[3]!, /^ {2}HELD: gate errors inconclusive — cutover resume /);
      assert.equal(lines[4], `  PAUSED by bob: night — cutover resume ${plan.name}`);
      // The unit in the baking step shows the campaign's bake, not its own.
      const table = renderStatus({ ...v, campaign: { ...v.campaign, workflow: 'running', status: campaign } }, { now: NOW });
      const row = table.split('\n').find((l) => l.startsWith('tenant/detections/internal-e2e'))!;
      assert.match(row, /\s12s\s/);
      for (const l of table.split('\n').filter((x) => !x.includes('http'))) assert.ok(l.length <= 100, l);
    });

    it('show the progress: units done, the current ring with its ETA, the campaign ETA; each ring heads its units with its own', () => {
      const plan = loadPlan(EXAMPLE);
      const dry = planCampaign(plan, { drill: false });
      const ring = (name: string, done: number, total: number, status: RingProgress['status'], eta: Eta): RingProgress => ({
        name,
        status,
        batches: 1,
        batchesDone: status === 'done' ? 1 : 0,
        total,
        done,
        remaining: total - done,
        failed: 0,
        rolledBack: 0,
        eta,
      });
      const progress: CampaignProgress = {
        asOf: at(-5_000),
        units: { total: 4, done: 1, remaining: 3, failed: 1, rolledBack: 0 },
        steps: { done: 5, total: dry.steps.length },
        rings: [
          ring('ring0-synthetic', 1, 1, 'done', { known: true, ms: 0, at: at(-60_000) }),
          { ...ring('ring1-internal', 0, 1, 'active', { known: true, ms: 255_000, at: at(250_000) }), failed: 1 },
          ring('ring2-customers', 0, 2, 'pending', { known: true, ms: 3_605_000, at: at(3_600_000), approvalsAhead: 2 }),
        ],
        ring: 'ring1-internal',
        eta: { known: true, ms: 3_605_000, at: at(3_600_000), approvalsAhead: 2 },
        measured: { prepare: { steps: 1, overrunMs: 30_000 } },
      };
      const v = view(plan, {});
      const campaign = {
        id: `cutover/campaign/${plan.name}`,
        kind: 'campaign',
        name: plan.name,
        drill: false,
        phase: 'baking',
        paused: false,
        epoch: 1,
        stepsTotal: dry.steps.length,
        rings: [],
        gates: [],
        measurements: [],
        approvals: [],
        history: [],
        rejected: [],
        continuedAsNew: 0,
        maxHistoryLength: 10,
        progress,
      } satisfies CampaignStatus;
      const withCampaign = { ...v, campaign: { ...v.campaign, workflow: 'running' as const, status: campaign } };
      // Parts that do not fit in 100 columns go on to an indented line, never cut.
      assert.deepEqual(campaignLines(withCampaign, NOW).slice(1, 3), [
        "  progress: 1/4 units done (1 failed) · ring 'ring1-internal' 0/1 batches, ETA 4m10s",
        '            campaign ETA 1h + 2 approvals',
      ]);
      assert.equal(
        campaignLines(withCampaign, NOW, 200)[1],
        "  progress: 1/4 units done (1 failed) · ring 'ring1-internal' 0/1 batches, ETA 4m10s · campaign ETA 1h + 2 approvals",
      );
      const heads = renderStatus(withCampaign, { now: NOW })
        .split('\n')
        .filter((l) => l.startsWith('── ring '));
      assert.match(heads[0]!, /^── ring ring0-synthetic · 1\/1 units done ─+$/);
      assert.match(heads[1]!, /^── ring ring1-internal · 0\/1 units done, 1 failed · ETA 4m10s ─+$/);
      assert.match(heads[2]!, /^── ring ring2-customers · 0\/2 units done · ETA 1h \+ 2 approvals ─+$/);
      for (const h of heads) assert.equal(h.length, 100);
      // Read later than the campaign answered: the time left counts from the reader's clock.
      assert.match(campaignLines(withCampaign, new Date(NOW.getTime() + 60_000), 200)[1]!, /ETA 3m10s · campaign ETA 59m/);
    });

    it('say why the campaign status is missing instead of hiding it', () => {
      const plan = loadPlan(EXAMPLE);
      const v = view(plan, {});
      assert.deepEqual(campaignLines({ ...v, campaign: { ...v.campaign, workflow: 'running', error: 'no worker' } }, NOW), [
        'campaign status unavailable: no worker',
      ]);
      assert.deepEqual(campaignLines(v, NOW), []);
    });
  });

  describe('shortDuration', () => {
    it('formats seconds, minutes, hours and days', () => {
      assert.deepEqual([0, 999, 42_000, 125_000, 600_000, 4_800_000, 3 * 86_400_000].map(shortDuration), [
        '0s',
        '1s',
        '42s',
        '2m5s',
        '10m',
        '1h20m',
        '3d',
      ]);
    });
  });

  describe('uiBaseUrl', () => {
    it("prefers $CUTOVER_UI_URL, then the local stack's UI, then cloud, then the dev server default", () => {
      assert.equal(uiBaseUrl(plan, { env: { CUTOVER_UI_URL: 'https://ui.example/' } }), 'https://ui.example');
      assert.equal(
        uiBaseUrl(plan, { env: {}, localUis: [{ address: '127.0.0.1:7234', uiUrl: 'http://127.0.0.1:9999' }] }),
        'http://127.0.0.1:9999',
      );
      assert.equal(uiBaseUrl(plan, { env: {} }), 'http://127.0.0.1:8234');
      const cloud: Plan = {
        ...plan,
        clusters: { ...plan.clusters, cloud: { address: 'acct.a1b2c.tmprl.cloud:7233', kind: 'cloud', apiKeyEnv: 'KEY' } },
      };
      assert.equal(uiBaseUrl(cloud, { env: {} }), 'https://cloud.temporal.io');
    });
  });

  describe('unitInputFromPlan', () => {
    it('builds a valid entity input for every unit of the example plan', () => {
      for (const name of planUnitNames(plan)) {
        const ref = parseUnitName(name)!;
        const input = unitInputFromPlan(plan, ref, { actor: 'alice', campaign: plan.name });
        assert.deepEqual(validateUnitInput(input, ref.kind), [], name);
        assert.equal(input.bakeMs, 30_000);
      }
      assert.deepEqual(unitScope(plan, parseUnitName('tenant/detections/acme')!).tenant, { searchAttribute: 'TenantId', value: 'acme' });
      assert.equal(unitInputFromPlan(plan, parseUnitName('namespace/payments')!).probe.workflows, 20);
      assert.equal(unitInputFromPlan(plan, parseUnitName('tenant/detections/acme')!).probe.workflows, 0, 'ring2 has no synthetic gate');
    });
  });

  describe('watchStatus', () => {
    it('redraws in place on a terminal until aborted, and keeps going when a frame fails', async () => {
      const writes: string[] = [];
      const stop = new AbortController();
      let calls = 0;
      const frames = await watchStatus({
        frame: async () => {
          calls++;
          if (calls === 2) throw new Error('control cluster down');
          return `frame ${calls}`;
        },
        intervalMs: 1,
        out: { isTTY: true, write: (t: string) => writes.push(t) },
        signal: stop.signal,
        onFrame: (n) => n === 3 && stop.abort(),
      });
      assert.equal(frames, 3);
      assert.equal(writes[0], '\x1b[?25l');
      assert.equal(writes[1], inPlace('frame 1'));
      assert.ok(writes[1]!.startsWith('\x1b[H') && writes[1]!.endsWith('\x1b[J'));
      assert.match(writes[2]!, /status unavailable: control cluster down/);
      assert.equal(writes[3], inPlace('frame 3'));
      assert.equal(writes[writes.length - 1], '\x1b[?25h');
    });

    it('prints frames one after another on a pipe', async () => {
      const writes: string[] = [];
      const stop = new AbortController();
      await watchStatus({
        frame: async () => 'x',
        intervalMs: 1,
        out: { write: (t: string) => writes.push(t) },
        signal: stop.signal,
        onFrame: (n) => n === 2 && stop.abort(),
      });
      assert.deepEqual(writes, ['x\n\n', 'x\n\n']);
    });
  });
});
