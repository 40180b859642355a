/**
 * Reversible until finalized (pure): a completed unit whose input sets `finalizeAfterMs` stays reversible — the
 * planner waits for `finalize`, its deadline or a rollback with two approvals; the commands' rules; the status
 * and the cockpit's lines; the plan's `defaults.finalizeAfter`.
 */
import assert from 'node:assert/strict';
import { parse as parseYaml } from 'yaml';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { checkCommand, decide, finalizeDeadline, isFinal, reversibleOpen } from '../../src/workflows/planner';
import { applyBookkeeping, applyCommand, enterPhase, REVERSAL_BINDING } from '../../src/workflows/unit-state';
import { unitStatus } from '../../src/workflows/unit-view';
import { unitViewOf } from '../../src/campaign/driver';
import { renderStatus, reversalLine, reversibleLines } from '../../src/cockpit/render';
import type { CockpitStatus } from '../../src/cockpit/status';
import { checkFinalizable } from '../../src/cockpit/commands';
import { CockpitInputError } from '../../src/cockpit/errors';
import { validatePlan } from '../../src/config';
import { DEFAULT_FINALIZE_AFTER_MS } from '../../src/config/defaults';
import { unitInputFromPlan } from '../../src/campaign/unit-input';
import { validateUnitInput } from '../../src/domain/unit-input';
import { initialState, type MigrationState, type Observations, type UnitStatus } from '../../src/domain/migration';
import { unitInput } from './fixtures/unit-input';

const HOUR = 3_600_000;
const T0 = Date.parse('2030-01-01T00:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();
const clean: NonNullable<Observations['reconcile']> = { clean: true, sourceOpen: 0, targetOpen: 0, duplicates: [], stranded: [], at: 'x' };
const onTarget = { kind: 'side' as const, side: 'target' as const, epoch: 5, sourceWorkersMayStop: false };
const safe = { idOptional: true };

/** A unit in reconciling with a clean reconcile, reversible for `after` once completed. */
function reconciled(after: number | 'never' | undefined): MigrationState {
  return {
    ...initialState(),
    phase: 'reconciling',
    route: { ...onTarget },
    obs: { reconcile: clean },
    moveStartedAt: iso(T0 - HOUR),
    ...(after !== undefined ? { reversible: { after, requests: 0 } } : {}),
  };
}

/** A unit that completed at T0 and is reversible for `after`. */
function completed(after: number | 'never' = HOUR): MigrationState {
  const s = reconciled(after);
  enterPhase(s, 'completed', 'reconcile clean', iso(T0));
  return s;
}

describe('reversible completion: planner', () => {
  it('without finalizeAfter (older runs, inputs without it) the route is made final before completed, and completed is the end', () => {
    const s = reconciled(undefined);
    const a = decide(unitInput(), s, s.obs, T0);
    assert.equal(a.type, 'step');
    assert.deepEqual(a.type === 'step' && a.step.kind === 'set-route' && a.step.sourceWorkersMayStop, true);
    const done = { ...s, phase: 'completed' as const };
    assert.equal(decide(unitInput(), done, done.obs, T0).type, 'done');
    assert.equal(isFinal(done), true);
  });

  it('a reversible unit completes with the source workers still needed, then waits until its deadline', () => {
    const s = reconciled(HOUR);
    assert.deepEqual(decide(unitInput(), s, s.obs, T0), { type: 'transition', to: 'completed', reason: 'reconcile clean' });
    enterPhase(s, 'completed', 'reconcile clean', iso(T0));
    assert.equal(s.reversible?.completedAt, T0);
    assert.equal(finalizeDeadline(s), T0 + HOUR);
    assert.equal(reversibleOpen(s), true);
    assert.equal(isFinal(s), false);
    const w = decide(unitInput(), s, s.obs, T0 + 1000);
    assert.equal(w.type, 'wait');
    assert.equal(w.type === 'wait' && w.until, T0 + HOUR);
    assert.match(w.type === 'wait' ? w.reason : '', /reversible until 2030-01-01T01:00:00.000Z/);
  });

  it('at the deadline: the route is made final (source workers may stop), then the unit is finalized and done', () => {
    const s = completed(HOUR);
    const a = decide(unitInput(), s, s.obs, T0 + HOUR);
    assert.equal(a.type === 'step' && a.step.kind === 'set-route' && a.step.sourceWorkersMayStop, true);
    s.route = { ...s.route, epoch: 6, sourceWorkersMayStop: true };
    const f = decide(unitInput(), s, s.obs, T0 + HOUR);
    assert.deepEqual(f, { type: 'finalize', how: 'deadline' });
    applyBookkeeping(s, unitInput(), f as Extract<typeof f, { type: 'finalize' }>, T0 + HOUR, iso(T0 + HOUR));
    assert.equal(s.reversible?.finalized?.how, 'deadline');
    assert.equal(isFinal(s), true);
    assert.equal(decide(unitInput(), s, s.obs, T0 + HOUR).type, 'done');
    assert.match(s.history.at(-1)!.reason!, /^finalized: reversible for 3600000 ms after completion/);
  });

  it('while it waits it rests: no periodic check of its routing record, and the wait is not cut to the next check', () => {
    const s = completed(HOUR);
    s.routeWatch = { since: T0 - HOUR, checkedAt: T0, seenEpoch: 5, restores: 0 };
    const inp = unitInput({ routeCheckMs: 1000 });
    const w = decide(inp, s, s.obs, T0 + 30 * 60_000);
    assert.equal(w.type, 'wait');
    assert.equal(w.type === 'wait' && w.until, T0 + HOUR);
    // Before completion the same state checks its record every routeCheckMs.
    const busy = { ...s, phase: 'draining' as const };
    assert.equal(isFinal(busy), false);
    const c = decide(inp, busy, busy.obs, T0 + 30 * 60_000);
    assert.equal(c.type === 'step' && c.step.kind, 'check-route');
  });

  it('with never it waits without a deadline until finalize', () => {
    const s = completed('never');
    assert.equal(finalizeDeadline(s), undefined);
    const w = decide(unitInput(), s, s.obs, T0 + 365 * 24 * HOUR);
    assert.equal(w.type, 'wait');
    // The wait ends by nothing but a command (no route watch on this state).
    assert.equal(w.type === 'wait' && w.until, undefined);
    assert.match(w.type === 'wait' ? w.reason : '', /reversible until cutover finalize/);
  });

  it('finalize: taken only from a completed, reversible unit; then the route is made final and it ends', () => {
    const s = completed('never');
    assert.equal(
      applyCommand(s, 'finalize', { actor: 'alice', commandId: 'f1', reason: 'all good' }, iso(T0 + 5), safe).outcome,
      'applied',
    );
    const a = decide(unitInput(), s, s.obs, T0 + 10);
    assert.equal(a.type === 'step' && a.step.kind === 'set-route' && a.step.sourceWorkersMayStop, true);
    s.route = { ...s.route, sourceWorkersMayStop: true };
    const f = decide(unitInput(), s, s.obs, T0 + 10);
    assert.deepEqual(f, { type: 'finalize', how: 'command' });
    applyBookkeeping(s, unitInput(), f as Extract<typeof f, { type: 'finalize' }>, T0 + 10, iso(T0 + 10));
    assert.deepEqual(s.reversible?.finalized, { actor: 'alice', at: iso(T0 + 10), reason: 'all good', how: 'command' });
    // Final: every command refused, naming who finalized.
    const v = checkCommand('rollback', { actor: 'bob', reason: 'oops', commandId: 'r1' }, s);
    assert.equal(v.verdict, 'reject');
    assert.match(v.verdict === 'reject' ? v.reason : '', /^phase completed is final; rollback is not allowed \(finalized by alice/);
  });

  it('finalize before completion, or of a unit that is final, is refused naming the fix', () => {
    for (const phase of ['canary', 'draining', 'rolled-back', 'failed'] as const) {
      const v = checkCommand('finalize', { actor: 'a', commandId: 'f' }, { ...initialState(), phase });
      assert.equal(v.verdict, 'reject', phase);
      assert.match(
        v.verdict === 'reject' ? v.reason : '',
        new RegExp(`^finalize: the unit is ${phase}; finalize makes a completed unit final`),
      );
    }
    const old = { ...initialState(), phase: 'completed' as const };
    const v = checkCommand('finalize', { actor: 'a', commandId: 'f' }, old);
    assert.match(v.verdict === 'reject' ? v.reason : '', /^phase completed is final/);
    // finalize needs a command ID (it is not a safe direction).
    const noId = checkCommand('finalize', { actor: 'a' }, completed(), { idOptional: true });
    assert.match(noId.verdict === 'reject' ? noId.reason : '', /^commandId: required/);
  });

  it('advance, pause and resume of a reversible completed unit have nothing to do', () => {
    const s = completed();
    for (const c of ['advance', 'pause', 'resume'] as const) {
      const v = checkCommand(c, { actor: 'a', commandId: `x-${c}` }, s, { idOptional: false, now: T0 });
      assert.equal(v.verdict, 'reject', c);
      assert.match(v.verdict === 'reject' ? v.reason : '', /the unit is completed, so there is nothing to/);
    }
  });
});

describe('reversible completion: rollback with a two-person approval', () => {
  const at = (ms: number) => iso(T0 + ms);
  const binding = (s: MigrationState) => {
    const b = s.reversible!.request!.approval.binding;
    return { ring: b.ring, step: b.step, epoch: b.epoch };
  };

  it('a rollback opens a request; the requester and one approver are not enough; a second, distinct approver rolls it back', () => {
    const s = completed(HOUR);
    const out = applyCommand(s, 'rollback', { actor: 'carol', reason: 'latency on the target', commandId: 'r1' }, at(1), safe);
    assert.equal(out.outcome, 'applied');
    assert.equal(s.rollback, undefined, 'no rollback before the approvals');
    assert.equal(s.reversible!.request!.approval.required, 2);
    assert.deepEqual(binding(s), { ring: REVERSAL_BINDING, step: 1, epoch: 5 });
    let w = decide(unitInput(), s, s.obs, T0 + 2);
    assert.equal(w.type === 'wait' && w.for, 'approval');
    // The requester may not approve their own rollback.
    const self = applyCommand(s, 'approve', { actor: 'carol', commandId: 'a0', ...binding(s) }, at(3), safe);
    assert.equal(self.outcome, 'rejected');
    assert.equal(s.rejected.at(-1)!.code, 'self-approval');
    assert.equal(applyCommand(s, 'approve', { actor: 'alice', commandId: 'a1', ...binding(s) }, at(4), safe).outcome, 'applied');
    // One approval: still waiting, still completed.
    assert.equal(s.rollback, undefined);
    w = decide(unitInput(), s, s.obs, T0 + 5);
    assert.equal(w.type === 'wait' && w.for, 'approval');
    assert.match(w.type === 'wait' ? w.reason : '', /waiting for 1 more approval/);
    // The same approver twice is refused.
    const dup = applyCommand(s, 'approve', { actor: 'alice', commandId: 'a2', ...binding(s) }, at(6), safe);
    assert.equal(dup.outcome, 'rejected');
    assert.equal(s.rejected.at(-1)!.code, 'duplicate-approver');
    assert.equal(applyCommand(s, 'approve', { actor: 'bob', commandId: 'a3', ...binding(s) }, at(7), safe).outcome, 'applied');
    // Read afresh: the asserts above narrowed `s.rollback` to undefined.
    const rollback = (s as MigrationState).rollback;
    assert.equal(rollback?.actor, 'carol');
    assert.equal(rollback?.from, 'completed');
    assert.match(rollback?.reason ?? '', /latency on the target \(approved by alice and bob\)/);
    const t = decide(unitInput(), s, s.obs, T0 + 8);
    assert.equal(t.type === 'transition' && t.to, 'rolling-back');
    enterPhase(s, 'rolling-back', 'rollback', at(8), ['reconcile']);
    // The same compensations as any rollback: the route back to the source, the target drained.
    assert.deepEqual(
      s.compensations.map((c) => c.name),
      ['route back to the source', 'drain the target'],
    );
    assert.equal(s.history.at(-1)!.actor, 'carol');
    const r = decide(unitInput(), s, s.obs, T0 + 9);
    assert.equal(r.type === 'step' && r.step.kind === 'set-route' && r.step.route.kind === 'side' && r.step.route.side, 'source');
  });

  it('an approval of another request (step or epoch) is refused; a second rollback while one waits is refused', () => {
    const s = completed(HOUR);
    applyCommand(s, 'rollback', { actor: 'carol', reason: 'why', commandId: 'r1' }, at(1), safe);
    const wrong = applyCommand(s, 'approve', { actor: 'alice', commandId: 'a1', ...binding(s), step: 7 }, at(2), safe);
    assert.equal(wrong.outcome, 'rejected');
    assert.equal(s.rejected.at(-1)!.code, 'wrong-binding');
    const missing = applyCommand(s, 'approve', { actor: 'alice', commandId: 'a2' }, at(3), safe);
    assert.equal(missing.outcome, 'rejected');
    assert.match(s.rejected.at(-1)!.reason, /^ring: required/);
    const again = applyCommand(s, 'rollback', { actor: 'dave', reason: 'me too', commandId: 'r2' }, at(4), safe);
    assert.equal(again.outcome, 'rejected');
    assert.match(s.rejected.at(-1)!.reason, /already waits for approvals/);
    // A finalize while the request waits is refused, and the deadline waits for the request.
    const fin = applyCommand(s, 'finalize', { actor: 'erin', commandId: 'f1' }, at(5), safe);
    assert.equal(fin.outcome, 'rejected');
    const w = decide(unitInput(), s, s.obs, T0 + HOUR);
    assert.equal(w.type === 'wait' && w.for, 'approval');
  });

  it('a request that expired no longer counts: past the deadline the unit is finalized; an approval then is refused', () => {
    const s = completed(HOUR);
    applyCommand(s, 'rollback', { actor: 'carol', reason: 'why', commandId: 'r1' }, at(1), { ...safe, approvalTtlMs: 10 * 60_000 });
    assert.equal(s.reversible!.request!.approval.expiresAt, T0 + 1 + 10 * 60_000);
    const late = applyCommand(s, 'approve', { actor: 'alice', commandId: 'a1', ...binding(s) }, at(20 * 60_000), safe);
    assert.equal(late.outcome, 'rejected');
    assert.match(s.rejected.at(-1)!.reason, /^approve: nothing awaits approval/);
    const a = decide(unitInput(), s, s.obs, T0 + HOUR);
    assert.equal(a.type === 'step' && a.step.kind === 'set-route' && a.step.sourceWorkersMayStop, true);
  });

  it('an approve with nothing requested is refused naming how to ask', () => {
    const s = completed(HOUR);
    const out = applyCommand(s, 'approve', { actor: 'alice', commandId: 'a1' }, at(1), safe);
    assert.equal(out.outcome, 'rejected');
    assert.match(s.rejected.at(-1)!.reason, /a rollback of a completed unit is asked first/);
  });
});

describe('reversible completion: status, views and the cockpit', () => {
  const run = (state: MigrationState) => ({
    kind: 'tenant' as const,
    input: unitInput(),
    state,
    unit: 'tenant/detections/acme',
    workflowId: 'w',
  });

  it('status says reversible and until when; the campaign view lists it; a final unit is not reversible', () => {
    const s = completed(HOUR);
    const st = unitStatus(run(s));
    assert.equal(st.reversible, true);
    assert.equal(st.reversibleUntil, iso(T0 + HOUR));
    const v = unitViewOf(st.unit, st.id, st);
    assert.equal(v.reversible, true);
    assert.equal(v.reversibleUntil, iso(T0 + HOUR));
    const lines = reversibleLines(st.unit, st, new Date(T0 + 30 * 60_000));
    assert.match(lines[0]!, /^REVERSIBLE until 2030-01-01T01:00:00.000Z \(in 30m\) — cutover finalize tenant\/detections\/acme/);
    assert.doesNotThrow(() => checkFinalizable(st.unit, st));
    // An older unit that completed final shows as it always did (no reversible field in its memo view).
    const old = unitStatus(run({ ...initialState(), phase: 'completed' }));
    assert.equal(old.reversible, false);
    assert.equal('reversible' in unitViewOf(old.unit, old.id, old), false);
    assert.throws(
      () => checkFinalizable(old.unit, old),
      (e: unknown) => e instanceof CockpitInputError && e.field === '<unit>',
    );
  });

  it('a rollback request shows who asked, the approvals so far and the binding an approve names', () => {
    const s = completed('never');
    applyCommand(s, 'rollback', { actor: 'carol', reason: 'why', commandId: 'r1' }, iso(T0 + 1), safe);
    applyCommand(s, 'approve', { actor: 'alice', commandId: 'a1', ring: REVERSAL_BINDING, step: 1, epoch: 5 }, iso(T0 + 2), safe);
    const st = unitStatus(run(s));
    assert.equal(st.reversibleUntil, 'finalize');
    assert.deepEqual(st.reversal?.binding, { ring: REVERSAL_BINDING, step: 1, epoch: 5 });
    assert.deepEqual(
      st.reversal?.approvals.map((a) => a.actor),
      ['alice'],
    );
    assert.match(reversalLine(st.unit, st), /waits for approvals: 1 of 2/);
    assert.match(reversibleLines(st.unit, st)[0]!, /^ROLLBACK REQUESTED by carol \(why\): 1 of 2 approvals \(alice\)/);
    assert.throws(() => checkFinalizable(st.unit, st), /waits for approvals/);
  });

  it('cutover status lists the reversible units under the campaign line, and under each one until when', () => {
    const st = unitStatus(run(completed(HOUR)));
    const row = (unit: string, status?: UnitStatus) => ({
      unit,
      ring: 'ring0',
      workflowId: `cutover/${unit}`,
      url: `http://ui/${unit}`,
      workflow: status ? ('running' as const) : ('not-started' as const),
      ...(status ? { status } : {}),
    });
    const view: CockpitStatus = {
      plan: 'p',
      source: 'legacy',
      target: 'cloud',
      controlNamespace: 'cutover',
      at: iso(T0),
      campaign: { workflowId: 'cutover/campaign/p', url: 'http://ui/c', workflow: 'not-started' },
      units: [row('tenant/detections/acme', { ...st, unit: 'tenant/detections/acme' }), row('namespace/payments')],
    };
    const lines = renderStatus(view, { now: new Date(T0 + 60_000) }).split('\n');
    assert.ok(lines.includes('reversible (completed, not final): tenant/detections/acme'), lines.join('\n'));
    assert.ok(
      lines.some((l) => l.startsWith('  REVERSIBLE until 2030-01-01T01:00:00.000Z (in 59m)')),
      lines.join('\n'),
    );
  });

  it('checkFinalizable refuses a unit that is not completed (exit 2: CockpitInputError)', () => {
    const st = unitStatus(run({ ...initialState(), phase: 'canary' }));
    assert.throws(
      () => checkFinalizable(st.unit, st),
      (e: unknown) => e instanceof CockpitInputError && /is canary; finalize/.test(e.message),
    );
  });
});

describe('reversible completion: plan and input', () => {
  type Raw = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  const example = () => parseYaml(readFileSync(path.resolve(__dirname, '../../examples/plan.yaml'), 'utf8')) as Raw;

  it('defaults.finalizeAfter: 24h by default; a duration, 0s or never; carried to the unit input', () => {
    const base = validatePlan(example());
    assert.equal(base.ok && base.plan.defaults.finalizeAfter, DEFAULT_FINALIZE_AFTER_MS);
    for (const [text, want] of [
      ['2h', 2 * HOUR],
      ['0s', 0],
      ['never', 'never'],
    ] as const) {
      const p = example();
      p.defaults.finalizeAfter = text;
      const r = validatePlan(p);
      assert.equal(r.ok && r.plan.defaults.finalizeAfter, want, text);
      if (r.ok) assert.equal(unitInputFromPlan(r.plan, { kind: 'namespace', namespace: 'payments' }).finalizeAfterMs, want);
    }
  });

  it('a bad finalizeAfter is refused naming the path and the fix', () => {
    const p = example();
    p.defaults.finalizeAfter = 'forever';
    const r = validatePlan(p);
    assert.equal(r.ok, false);
    const issue = r.ok ? undefined : r.issues.find((i) => i.path === 'defaults.finalizeAfter');
    assert.ok(issue, JSON.stringify(r.ok ? [] : r.issues));
    assert.match(issue.message, /"forever" is not a duration or never/);
    assert.match(issue.hint, /never \(until `cutover finalize`\)/);
  });

  it('the workflow input refuses a finalizeAfterMs that is neither milliseconds nor never', () => {
    assert.deepEqual(validateUnitInput(unitInput({ finalizeAfterMs: 'never' }), 'tenant'), []);
    assert.deepEqual(validateUnitInput(unitInput({ finalizeAfterMs: 1000 }), 'tenant'), []);
    const bad = validateUnitInput(unitInput({ finalizeAfterMs: -1 }), 'tenant');
    assert.deepEqual(
      bad.map((p) => p.field),
      ['finalizeAfterMs'],
    );
  });
});
