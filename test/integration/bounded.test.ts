/**
 * Bounded state and input on the real stack: 5,000 signals with 10 KB reasons, half to an entity workflow and
 * half to a campaign, paced to what the worker keeps up with. Every run's history stays far below the server's
 * limits (each run continues as new); the state each run carries and the `status` query stay within the
 * documented bounds (src/domain/bounds.ts), counting what they dropped; misspelt signal names and command IDs
 * reused for another command are refused and recorded; every verdict has its record in the audit chain.
 */
import assert from 'node:assert/strict';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { verifyChain } from '../../src/audit/chain';
import { AuditStream } from '../../src/audit/stream';
import { jsonBytes, SIGNAL_STATE_MAX_BYTES, SIGNAL_TEXT_MAX_BYTES, utf8Length } from '../../src/domain/bounds';
import type { UnitMigrationInput, UnitStatus } from '../../src/domain/migration';
import { unitStartOptions } from '../../src/domain/unit-input';
import * as umsg from '../../src/workflows/unit-migration.messages';
import { until } from '../harness/wait';
import { unitInput } from '../unit/fixtures/unit-input';
import { Rig } from './campaign.fixture';
import { closeShared } from './entity.fixture';

const temporalEnums = temporal.api.enums.v1;
/** A 10 KB reason. */
const LONG = 'flood '.repeat(1707);
/** Signals in flight at once, per workflow. */
const CONCURRENCY = 16;
/**
 * Signals sent while a workflow task may be running, at most. Temporal fails a workflow task during which
 * more than 100 events arrive (history.maximumBufferedEventsBatch) and the worker then replays the run: a
 * flood faster than the worker completes tasks grows the run instead of continuing it as new (docs/design.md,
 * "Bounds on signals and state"). The flood is paced to what the worker keeps up with, so the test measures
 * the bounds, not this machine's speed.
 */
const BURST = 40;
/** Both workflows continue as new past this many events (besides the server's suggestion at 4 MiB). */
const MAX_HISTORY_EVENTS = 200;
/**
 * A fifth of the server's history limits (limit.historyCount.error, 51,200 events; limit.historySize.error,
 * 50 MiB): every run stays below. A run continues as new past MAX_HISTORY_EVENTS, a little later when signals
 * arrive during the task that continues it (the server then fails that task, and the next one continues it).
 */
const RUN_MAX_EVENTS = 51_200 / 5;
const RUN_MAX_BYTES = (50 * 1024 * 1024) / 5;

type Signal = { name: string; payload: unknown };

/** Signals per workflow: 5,000 in all, half to the unit, half to the campaign. */
const PER_WORKFLOW = 2500;

/**
 * The flood of one workflow (PER_WORKFLOW signals): lanes of signals, each lane sent in order (a retry right
 * after its original, the two commands sharing an ID back to back), `CONCURRENCY` lanes at a time. `refused`
 * is a command the workflow refuses in its state; `other` another command, refused too, that reuses an ID.
 */
function floodPlan(refused: { name: string; extra?: Record<string, unknown> }, other: { name: string; extra?: Record<string, unknown> }) {
  const n = { pauses: 1000, once: 750, retries: 200, reused: 150, typos: 50 };
  const lanes: Signal[][] = [];
  const cmd = (name: string, id: string | undefined, extra: Record<string, unknown> = {}) => ({
    name,
    payload: { actor: 'flood', ...(id ? { commandId: id } : {}), reason: LONG, ...extra },
  });
  // Pauses without an ID: the first pauses, the rest are recorded no-ops (history lines).
  for (let i = 0; i < n.pauses; i++) lanes.push([cmd('pause', undefined)]);
  // Refused commands, each with its own ID.
  for (let i = 0; i < n.once; i++) lanes.push([cmd(refused.name, `once-${i}`, refused.extra)]);
  // Retries: the same command twice, one taken, one a silent repeat.
  for (let i = 0; i < n.retries; i++)
    lanes.push([cmd(refused.name, `retry-${i}`, refused.extra), cmd(refused.name, `retry-${i}`, refused.extra)]);
  // IDs reused for another command: one refused as it is, one refused as `reused-command-id`.
  for (let i = 0; i < n.reused; i++)
    lanes.push([cmd(refused.name, `reused-${i}`, refused.extra), cmd(other.name, `reused-${i}`, other.extra)]);
  // Misspelt signal names.
  for (let i = 0; i < n.typos; i++) lanes.push([cmd('advnce', `typo-${i}`)]);
  const signals = lanes.reduce((k, l) => k + l.length, 0);
  assert.equal(signals, PER_WORKFLOW);
  return {
    lanes,
    signals,
    n,
    refused,
    other,
    /** Verdicts recorded: every signal but the retries' repeats. */
    verdicts: n.pauses + n.once + n.retries + 2 * n.reused + n.typos,
    refusals: n.once + n.retries + 2 * n.reused + n.typos,
    historyLines: n.pauses,
  };
}

/**
 * Sends the lanes in bursts of about BURST signals (CONCURRENCY at a time, each lane in order); before each
 * burst, waits (bounded) until no workflow task of the workflow is running, so at most one burst arrives
 * during any task.
 */
async function flood(handle: WorkflowHandle, lanes: Signal[][]): Promise<void> {
  let next = 0;
  while (next < lanes.length) {
    await until(
      `${handle.workflowId}: no workflow task running`,
      async () => {
        const pending = (await handle.describe()).raw.pendingWorkflowTask;
        return !pending || pending.state !== temporalEnums.PendingWorkflowTaskState.PENDING_WORKFLOW_TASK_STATE_STARTED;
      },
      { timeoutMs: 30_000, everyMs: 20 },
    );
    const burst: Signal[][] = [];
    for (let n = 0; next < lanes.length && n < BURST; next++) {
      burst.push(lanes[next]!);
      n += lanes[next]!.length;
    }
    let i = 0;
    const sender = async () => {
      for (let k = i++; k < burst.length; k = i++) for (const s of burst[k]!) await handle.signal(s.name, s.payload);
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, sender));
  }
}

/** Every run of a workflow, newest first: its history length and size, and the bytes of its input (the carried state). */
async function runsOf(client: Client, workflowId: string) {
  const out: { runId: string; events: number; bytes: number; inputBytes: number }[] = [];
  let runId: string | undefined = (await client.workflow.getHandle(workflowId).describe()).runId;
  while (runId) {
    const d = await client.workflow.getHandle(workflowId, runId).describe();
    const first: { history?: temporal.api.history.v1.IHistory | null } = await client.workflowService.getWorkflowExecutionHistory({
      namespace: client.options.namespace,
      execution: { workflowId, runId },
      maximumPageSize: 1,
    });
    const started = first.history?.events?.[0]?.workflowExecutionStartedEventAttributes;
    const inputBytes = (started?.input?.payloads ?? []).reduce((n: number, p) => n + (p.data?.length ?? 0), 0);
    out.push({ runId, events: d.historyLength, bytes: d.historySize ?? 0, inputBytes });
    runId = started?.continuedExecutionRunId ?? undefined;
  }
  return out;
}

/** For a timeout's message: the current run's length and size, and its pending workflow task's attempt. */
async function runState(client: Client, workflowId: string): Promise<string> {
  try {
    const d = await client.workflow.getHandle(workflowId).describe();
    const task = d.raw.pendingWorkflowTask;
    return (
      `${workflowId}: run of ${d.historyLength} events, ${d.historySize} bytes; ` +
      (task ? `workflow task attempt ${task.attempt}, state ${task.state}` : 'no workflow task pending')
    );
  } catch (err) {
    return `${workflowId}: ${String(err)}`;
  }
}

describe('bounded state: a flood of signals (real clusters, Redis)', function () {
  // About a minute on a busy 2-core machine: the flood goes as fast as the worker completes its tasks.
  this.timeout(180_000);
  let rig: Rig | undefined;
  let unit: WorkflowHandle | undefined;

  afterEach(async () => {
    await unit?.terminate('test teardown').catch(() => undefined);
    unit = undefined;
    await rig?.tearDown();
    rig = undefined;
  });
  after(closeShared);

  it('5,000 signals with 10 KB reasons to a unit and a campaign keep every history, state and status under their limits', async () => {
    // A campaign that waits for a two-person approval (it moves nothing), and a unit in manual mode waiting in `pending`.
    const r = (rig = await new Rig({
      gates: () => ({}),
      rings: [{ name: 'r0', units: ['A'], gates: [], approval: 'two-person' }],
      maxHistoryEvents: MAX_HISTORY_EVENTS,
    }).setUp());
    await r.start();
    const tenant = `f${r.tag.replace(/^cmp-/, '')}`;
    const input: UnitMigrationInput = unitInput({
      unit: { kind: 'tenant', namespace: 'detections', tenant },
      tenant: { workflowIdPrefix: `${tenant}-` },
      advanceMode: 'manual',
      maxHistoryEvents: MAX_HISTORY_EVENTS,
    });
    const o = unitStartOptions(input, r.controlQueue);
    unit = await r.control.workflow.start('tenantMigration', o);
    const campaign = r.control.workflow.getHandle(r.workflowId);
    const cBefore = await r.waitFor((s) => s.phase === 'awaiting-approval', 'the campaign awaiting approval', 20_000);
    const uBefore = await until('the unit waiting for advance', async () => {
      const s = await unit!.query(umsg.status);
      return s.waitingOn === 'advance' && s;
    });

    // The unit refuses approve (nothing awaits one); a reused ID carries an approve with another payload.
    const unitFlood = floodPlan({ name: 'approve' }, { name: 'approve', extra: { runsDigest: 'another' } });
    // The campaign refuses advance (no bake) and approve of a ring it does not have.
    const campaignFlood = floodPlan({ name: 'advance' }, { name: 'approve', extra: { ring: 'no-such-ring', step: 1, epoch: 0 } });
    const started = Date.now();
    await Promise.all([flood(unit, unitFlood.lanes), flood(campaign, campaignFlood.lanes)]);
    const sentMs = Date.now() - started;

    // Every verdict recorded (kept, or dropped and counted).
    const written = (s: { rejected: unknown[]; history: unknown[]; truncated?: { rejected?: number; history?: number } }) => ({
      refusals: s.rejected.length + (s.truncated?.rejected ?? 0),
      lines: s.history.length + (s.truncated?.history ?? 0),
    });
    const us = await until(
      'the unit to record every verdict',
      async () => {
        const s = await unit!.query(umsg.status);
        return written(s).refusals === unitFlood.refusals && s;
      },
      { timeoutMs: 30_000, everyMs: 250, detail: () => runState(r.control, unit!.workflowId) },
    );
    const cs = await r.waitFor((s) => written(s).refusals === campaignFlood.refusals, 'the campaign to record every verdict', 30_000);
    process.stderr.write(`      (flood of ${unitFlood.signals + campaignFlood.signals} signals sent in ${sentMs} ms)\n`);

    for (const [what, s, plan, before] of [
      ['unit', us, unitFlood, uBefore],
      ['campaign', cs, campaignFlood, cBefore],
    ] as const) {
      // Lines: those before, the pause, and a no-op line for every other pause without an ID.
      assert.equal(written(s).lines, written(before).lines + plan.historyLines, `${what}: history lines written`);
      assert.equal(written(s).refusals, plan.refusals, `${what}: refusals`);
      // The status (what the query answers) stays within the documented bound, far below the 2 MiB query limit.
      assert.ok(jsonBytes(s) <= SIGNAL_STATE_MAX_BYTES + 16 * 1024, `${what}: status is ${jsonBytes(s)} bytes`);
      assert.ok(s.history.length < written(s).lines && s.rejected.length < plan.refusals, `${what}: lists were truncated`);
      assert.ok((s.truncated?.clipped ?? 0) > 0, `${what}: reasons were clipped`);
      assert.ok(
        s.history.every((h) => utf8Length(h.reason ?? '') <= SIGNAL_TEXT_MAX_BYTES + 200),
        `${what}: every history reason is clipped`,
      );
      assert.ok(s.continuedAsNew >= 5, `${what}: continued as new ${s.continuedAsNew} times`);
    }
    assert.ok(us.paused && cs.paused, 'the first pause applied');

    // Each run's history stayed far below the server's limits; each carried a bounded state.
    for (const [what, workflowId, handle] of [
      ['unit', unit.workflowId, unit],
      ['campaign', r.workflowId, campaign],
    ] as const) {
      // One run per continue-as-new. The last refusals can still roll a run over after the status above,
      // so the count is read just before the runs are listed, and read again if a rollover fell between.
      const runs = await until(
        `${what}: one run per continue-as-new`,
        async () => {
          const { continuedAsNew } = (await handle.query('status')) as { continuedAsNew: number };
          const list = await runsOf(r.control, workflowId);
          return list.length === continuedAsNew + 1 && list;
        },
        { timeoutMs: 20_000, everyMs: 250 },
      );
      for (const run of runs) {
        assert.ok(
          run.events < RUN_MAX_EVENTS && run.bytes < RUN_MAX_BYTES,
          `${what} run ${run.runId}: ${run.events} events, ${run.bytes} bytes`,
        );
        assert.ok(
          run.inputBytes <= SIGNAL_STATE_MAX_BYTES + 64 * 1024 + jsonBytes(what === 'unit' ? input : r.input),
          `${what}: carried ${run.inputBytes} bytes`,
        );
      }
    }

    // Last, one at a time: a misspelt name, an ID reused for another command, and a pause (a no-op). The
    // refusals are the newest in `rejected`, named so their sender can fix them.
    const last = async (h: WorkflowHandle, plan: ReturnType<typeof floodPlan>) => {
      await h.signal('advnce', { actor: 'typo', commandId: 'typo-last', reason: LONG });
      await h.signal(plan.refused.name, { actor: 'flood', commandId: 'reuse-last', ...plan.refused.extra });
      await h.signal(plan.other.name, { actor: 'flood', commandId: 'reuse-last', ...plan.other.extra });
      await h.signal('pause', { actor: 'flood', reason: 'last' });
    };
    await Promise.all([last(unit, unitFlood), last(campaign, campaignFlood)]);
    const stream = new AuditStream({ redis: r.sh.redis, keyPrefix: r.keyPrefix });
    for (const [what, name, workflowId, plan, handle] of [
      ['unit', `tenant/detections/${tenant}`, unit.workflowId, unitFlood, unit],
      ['campaign', r.plan.name, r.workflowId, campaignFlood, campaign],
    ] as const) {
      // Records written while a mirror ran are mirrored with the next command's: another pause (a no-op) is
      // sent while the last ones wait.
      let nudges = 0;
      let lastNudge = Date.now();
      const s = await until(
        `${what}: the last commands recorded and the audit log mirrored`,
        async () => {
          const x = (await handle.query('status')) as UnitStatus;
          if (x.audit && x.audit.mirrored === x.audit.seq && x.history.at(-1)?.reason?.includes('last')) return x;
          if (Date.now() - lastNudge > 2000) {
            await handle.signal('pause', { actor: 'flood', reason: 'last' });
            nudges++;
            lastNudge = Date.now();
          }
          return undefined;
        },
        { timeoutMs: 30_000, everyMs: 250 },
      );
      assert.equal(written(s).refusals, plan.refusals + 3, `${what}: refusals`);
      const [typo, first, reused] = s.rejected.slice(-3);
      assert.equal(typo?.command, 'advnce');
      assert.equal(typo?.code, 'unknown-signal');
      // The unit also takes finalize; the campaign does not.
      const signals = what === 'unit' ? 'advance, pause, resume, rollback, approve, finalize' : 'advance, pause, resume, rollback, approve';
      assert.equal(typo?.reason, `signal: "advnce" is not a signal of this workflow; send one of ${signals}`);
      assert.equal(first?.commandId, 'reuse-last');
      assert.notEqual(first?.code, 'reused-command-id');
      assert.equal(reused?.commandId, 'reuse-last');
      assert.equal(reused?.code, 'reused-command-id');
      assert.equal(reused?.command, plan.other.name);

      // Every verdict has its record in the hash chain: the stream verifies from its first record to the
      // workflow's head. A burst of more records between two mirrors than the state keeps leaves a gap the
      // stream shows (docs/design.md); nothing is edited, reordered or linked wrongly.
      const head = s.audit!;
      assert.equal(head.seq, plan.verdicts + 4 + nudges, `${what}: one record per verdict`);
      const { records } = await stream.read(name);
      assert.equal(records.at(-1)?.seq, head.seq);
      const breaks = verifyChain(workflowId, records, { seq: head.seq, hash: head.head });
      const gaps = breaks.filter((b) => b.problem === 'missing');
      const afterGap = new Set(gaps.map((g) => records.find((x) => x.seq > g.seq)?.seq));
      assert.deepEqual(
        breaks.filter((b) => b.problem !== 'missing' && !(b.problem === 'wrong-link' && afterGap.has(b.seq))),
        [],
        `${what}: the chain holds`,
      );
    }
  });
});
