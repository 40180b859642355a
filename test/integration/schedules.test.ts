/**
 * Schedules against the real test stack (two dev servers + Redis): copy (paused, byte-faithful,
 * idempotent, round trip), semantic diff against the server's own rewriting, selectors, the
 * fenced switch (stale epochs, a crash after every step) and reconcile.
 */
import assert from 'node:assert/strict';
import { ScheduleOverlapPolicy } from '@temporalio/client';
import Redis from 'ioredis';
import {
  copySchedules,
  describeRaw,
  diffSchedules,
  reconcileSchedules,
  rollbackSchedule,
  ScheduleActionsRunningError,
  ScheduleFence,
  ScheduleInputError,
  ScheduleMissingError,
  StaleScheduleEpochError,
  SWITCH_STEPS,
  switchSchedule,
} from '../../src/schedules';
import { updateRaw } from '../../src/schedules/raw';
import { testStack, uniqueId } from '../harness';
import { settledOps } from '../harness/server-counters';
import { until } from '../harness/wait';
import {
  activeOnBoth,
  connectSides,
  crashAfter,
  createRawSchedule,
  deleteOnSides,
  dur,
  jsonPayload,
  pausedOnSides,
  QUIET_HOURLY,
  SimulatedCrash,
} from '../workflows/schedule-test-kit';
import type { Sides } from '../workflows/schedule-test-kit';

const NS = 'payments';

/** JSON with object keys sorted (protobuf maps have no order), payload bytes as base64. */
function canonical(v: unknown): string {
  const sort = (x: unknown): unknown =>
    Array.isArray(x)
      ? x.map(sort)
      : x && typeof x === 'object'
        ? Object.fromEntries(
            Object.entries(x)
              .sort(([a], [b]) => a.localeCompare(b))
              .map(([k, y]) => [k, sort(y)]),
          )
        : x;
  return JSON.stringify(sort(JSON.parse(JSON.stringify(v))));
}

describe('schedules (integration)', function () {
  this.timeout(60_000);
  let sides: Sides;
  let redis: Redis;
  let created: Set<string>;
  let keyPrefix: string;
  let fence: ScheduleFence;

  before(async () => {
    const s = testStack();
    sides = await connectSides({ source: s.source.address, target: s.target.address }, NS);
    redis = new Redis(s.redisUrl, { maxRetriesPerRequest: 2 });
  });
  after(async () => {
    await sides?.close();
    redis?.disconnect();
  });
  beforeEach(() => {
    created = new Set();
    keyPrefix = `${uniqueId('sched')}:`;
    fence = new ScheduleFence({ redis, keyPrefix });
  });
  afterEach(async () => {
    await deleteOnSides(sides, created);
    const keys = await redis.keys(`${keyPrefix}*`);
    if (keys.length) await redis.del(...keys);
  });

  function id(prefix = 'sch'): string {
    const v = uniqueId(prefix);
    created.add(v);
    return v;
  }

  describe('copy', () => {
    it('creates the copy paused and byte-faithful (arguments, header, memo, search attributes), and is idempotent', async () => {
      const sid = id();
      const weird = {
        metadata: { encoding: new Uint8Array(Buffer.from('binary/encrypted')), 'encryption-key-id': new Uint8Array([1, 2, 3]) },
        data: new Uint8Array([0, 255, 7, 42]),
      };
      await createRawSchedule(sides.source, sid, {
        spec: { cronString: ['15 3 * * MON-FRI'] },
        taskQueue: 'tq-copy',
        input: [weird, jsonPayload({ a: 1 })],
        header: { tracing: jsonPayload({ trace: 'abc' }) },
        memo: { owner: jsonPayload('team-a') },
        searchAttributes: { TenantId: jsonPayload('acme') },
      });
      const first = await copySchedules({ from: sides.source, to: sides.target, selector: { kind: 'ids', ids: [sid] }, actor: 'test' });
      assert.deepEqual(first.counts.created, 1);
      const [src, dst] = await Promise.all([describeRaw(sides.source, sid), describeRaw(sides.target, sid)]);
      assert.ok(src && dst);
      assert.equal(dst.schedule?.state?.paused, true);
      assert.equal(src.schedule?.state?.paused, false);
      assert.deepEqual(diffSchedules(src, dst), []);
      const payloads = dst.schedule?.action?.startWorkflow?.input?.payloads ?? [];
      assert.deepEqual(Buffer.from(payloads[0].data ?? []), Buffer.from([0, 255, 7, 42]));
      assert.deepEqual(Buffer.from(payloads[0].metadata?.['encryption-key-id'] ?? []), Buffer.from([1, 2, 3]));
      assert.deepEqual(
        Buffer.from(dst.schedule?.action?.startWorkflow?.header?.fields?.tracing?.data ?? []).toString(),
        JSON.stringify({ trace: 'abc' }),
      );
      assert.deepEqual(Buffer.from(dst.memo?.fields?.owner?.data ?? []).toString(), '"team-a"');
      assert.deepEqual(Buffer.from(dst.searchAttributes?.indexedFields?.TenantId?.data ?? []).toString(), '"acme"');

      const again = await copySchedules({ from: sides.source, to: sides.target, selector: { kind: 'ids', ids: [sid] }, actor: 'test' });
      assert.equal(again.counts.unchanged, 1);
      assert.equal(again.counts.created, 0);
    });

    it('round-trips source → target → source to an equal description', async () => {
      const sid = id();
      await createRawSchedule(sides.source, sid, {
        spec: { cronString: ['*/10 * * * *'], jitter: dur(2000) },
        taskQueue: 'tq-rt',
        header: { h: jsonPayload(1) },
        memo: { m: jsonPayload({ deep: [1, 2] }) },
        searchAttributes: { TenantId: jsonPayload('globex') },
        overlap: 3,
        catchupWindowMs: 120_000,
      });
      const original = await describeRaw(sides.source, sid);
      assert.ok(original);
      await copySchedules({ from: sides.source, to: sides.target, selector: { kind: 'ids', ids: [sid] }, actor: 'test' });
      await sides.source.client.workflowService.deleteSchedule({ namespace: NS, scheduleId: sid, identity: 'test' });
      await until('the source schedule to be gone', async () => ((await describeRaw(sides.source, sid)) ? undefined : true));
      const back = await copySchedules({ from: sides.target, to: sides.source, selector: { kind: 'ids', ids: [sid] }, actor: 'test' });
      assert.equal(back.counts.created, 1);
      const returned = await describeRaw(sides.source, sid);
      assert.ok(returned);
      assert.deepEqual(diffSchedules(original, returned), []);
      // Byte for byte, not only in meaning.
      const bytes = (d: typeof original) =>
        canonical({
          spec: d.schedule?.spec,
          action: d.schedule?.action,
          policies: d.schedule?.policies,
          memo: d.memo,
          sa: d.searchAttributes,
        });
      assert.equal(bytes(returned), bytes(original));
    });

    it('rewrites a paused copy that drifted and never touches an active one', async () => {
      const sid = id();
      await createRawSchedule(sides.source, sid, { spec: QUIET_HOURLY, taskQueue: 'tq-a' });
      await copySchedules({ from: sides.source, to: sides.target, selector: { kind: 'ids', ids: [sid] }, actor: 'test' });
      await sides.source.client.schedule.getHandle(sid).update((d) => ({ ...d, spec: { ...d.spec, intervals: [{ every: '2h' }] } }));
      const updated = await copySchedules({ from: sides.source, to: sides.target, selector: { kind: 'ids', ids: [sid] }, actor: 'test' });
      assert.equal(updated.counts.updated, 1);
      assert.deepEqual(
        updated.items[0].diffs?.map((d) => d.path),
        ['spec.intervals'],
      );
      const [s1, t1] = await Promise.all([describeRaw(sides.source, sid), describeRaw(sides.target, sid)]);
      assert.ok(s1 && t1);
      assert.deepEqual(diffSchedules(s1, t1), []);
      assert.equal(t1.schedule?.state?.paused, true);

      await sides.target.client.schedule.getHandle(sid).unpause();
      await sides.source.client.schedule.getHandle(sid).update((d) => ({ ...d, spec: { ...d.spec, intervals: [{ every: '3h' }] } }));
      const conflict = await copySchedules({ from: sides.source, to: sides.target, selector: { kind: 'ids', ids: [sid] }, actor: 'test' });
      assert.equal(conflict.counts.conflict, 1);
      const t2 = await describeRaw(sides.target, sid);
      assert.equal(t2?.schedule?.state?.paused, false);
      assert.equal(diffSchedules(s1, t2!).length, 0, 'the active copy kept its old spec');
    });

    it('selects by schedule-ID prefix and by search attribute', async () => {
      const tenant = uniqueId('t');
      const a = id(`${tenant}-a`);
      const b = id(`${tenant}-b`);
      const other = id('other');
      await createRawSchedule(sides.source, `${tenant}-x`, { spec: QUIET_HOURLY, taskQueue: 'tq' }).then(() => created.add(`${tenant}-x`));
      await createRawSchedule(sides.source, a, { spec: QUIET_HOURLY, taskQueue: 'tq' });
      await createRawSchedule(sides.source, b, {
        spec: QUIET_HOURLY,
        taskQueue: 'tq',
        searchAttributes: { TenantId: jsonPayload(tenant) },
      });
      await createRawSchedule(sides.source, other, {
        spec: QUIET_HOURLY,
        taskQueue: 'tq',
        searchAttributes: { TenantId: jsonPayload(tenant) },
      });
      const byPrefix = await until('the prefix selection to see 3 schedules', async () => {
        const r = await copySchedules({
          from: sides.source,
          to: sides.target,
          selector: { kind: 'idPrefix', prefix: `${tenant}-` },
          actor: 'test',
        });
        return r.items.length === 3 ? r : undefined;
      });
      assert.deepEqual(byPrefix.items.map((i) => i.scheduleId).sort(), [a, b, `${tenant}-x`].sort());
      const bySa = await until('the search-attribute selection to see 2 schedules', async () => {
        const r = await copySchedules({
          from: sides.source,
          to: sides.target,
          selector: { kind: 'searchAttribute', name: 'TenantId', value: tenant },
          actor: 'test',
        });
        return r.items.length === 2 ? r : undefined;
      });
      assert.deepEqual(bySa.items.map((i) => i.scheduleId).sort(), [b, other].sort());
      assert.equal(bySa.counts.created, 1, 'the one selected by both was already copied');
    });
  });

  describe('diff against the server', () => {
    it('finds no difference between a cron create request and what the server stores', async () => {
      const sid = id();
      const req = await createRawSchedule(sides.source, sid, {
        spec: { cronString: ['0 9-17/2 * JAN,JUL MON-FRI'], calendar: [{ hour: '4', dayOfMonth: '1,15' }] },
        taskQueue: 'tq',
      });
      const stored = await describeRaw(sides.source, sid);
      assert.ok(stored);
      assert.equal(stored.schedule?.spec?.cronString?.length ?? 0, 0, 'the server rewrote the cron string');
      assert.deepEqual(diffSchedules(req, stored), []);
      const other = await createRawSchedule(sides.source, id(), {
        spec: { cronString: ['0 9-17/3 * JAN,JUL MON-FRI'], calendar: [{ hour: '4', dayOfMonth: '1,15' }] },
        taskQueue: 'tq',
      });
      assert.deepEqual(
        diffSchedules(other, stored)
          .filter((d) => d.kind === 'spec')
          .map((d) => d.path),
        ['spec.calendars'],
      );
    });
  });

  describe('switch', () => {
    async function copied(sid: string): Promise<void> {
      await createRawSchedule(sides.source, sid, { spec: QUIET_HOURLY, taskQueue: 'tq-switch' });
      await copySchedules({ from: sides.source, to: sides.target, selector: { kind: 'ids', ids: [sid] }, actor: 'test' });
    }

    it('switches to the target and back (rollback), lowering the catch-up window on the active side', async () => {
      const sid = id();
      await copied(sid);
      const fwd = await switchSchedule({
        from: sides.source,
        to: sides.target,
        scheduleId: sid,
        fence,
        expectedEpoch: 0,
        actor: 'test',
        backfill: 'gap',
      });
      assert.deepEqual(fwd.verified, { fromPaused: true, toActive: true, ownerEpoch: 1 });
      assert.deepEqual(await pausedOnSides(sides, sid), { source: true, target: false });
      assert.equal(fwd.catchupWindowMs, 60_000);
      const rec = await fence.read(NS, sid);
      assert.equal(rec?.owner, 'target');
      const back = await rollbackSchedule({
        source: sides.source,
        target: sides.target,
        scheduleId: sid,
        fence,
        expectedEpoch: 1,
        actor: 'test',
        backfill: 'gap',
      });
      assert.deepEqual(back.verified, { fromPaused: true, toActive: true, ownerEpoch: 2 });
      assert.deepEqual(await pausedOnSides(sides, sid), { source: false, target: true });
    });

    it('refuses a stale epoch and changes nothing', async () => {
      const sid = id();
      await copied(sid);
      await assert.rejects(
        switchSchedule({ from: sides.source, to: sides.target, scheduleId: sid, fence, expectedEpoch: 3, actor: 'test', backfill: 'none' }),
        StaleScheduleEpochError,
      );
      assert.deepEqual(await pausedOnSides(sides, sid), { source: false, target: true });
      await switchSchedule({
        from: sides.source,
        to: sides.target,
        scheduleId: sid,
        fence,
        expectedEpoch: 0,
        actor: 'test',
        backfill: 'none',
      });
      // The same decision replayed later (epoch 0) is stale now, whatever side it asks for.
      await assert.rejects(
        switchSchedule({ from: sides.target, to: sides.source, scheduleId: sid, fence, expectedEpoch: 0, actor: 'test', backfill: 'none' }),
        StaleScheduleEpochError,
      );
      assert.deepEqual(await pausedOnSides(sides, sid), { source: true, target: false });
    });

    it('refuses to pause the source when the target has no copy', async () => {
      const sid = id();
      await createRawSchedule(sides.source, sid, { spec: QUIET_HOURLY, taskQueue: 'tq' });
      await assert.rejects(
        switchSchedule({ from: sides.source, to: sides.target, scheduleId: sid, fence, expectedEpoch: 0, actor: 'test', backfill: 'none' }),
        ScheduleMissingError,
      );
      assert.deepEqual(await pausedOnSides(sides, sid), { source: false, target: undefined });
    });

    it('rejects bad input naming the field', async () => {
      await assert.rejects(
        switchSchedule({
          from: sides.source,
          to: { ...sides.target, side: 'source' },
          scheduleId: 'x',
          fence,
          expectedEpoch: 0,
          actor: 'test',
          backfill: 'none',
        }),
        (e: unknown) => e instanceof ScheduleInputError && e.field === 'to.side',
      );
      await assert.rejects(
        switchSchedule({
          from: sides.source,
          to: sides.target,
          scheduleId: 'x',
          fence,
          expectedEpoch: -1,
          actor: 'test',
          backfill: 'none',
        }),
        (e: unknown) => e instanceof ScheduleInputError && e.field === 'expectedEpoch',
      );
      await assert.rejects(
        switchSchedule({
          from: sides.source,
          to: sides.target,
          scheduleId: 'x',
          fence,
          expectedEpoch: 0,
          actor: 'test',
          backfill: 'none',
          catchupWindowMs: 5,
        }),
        (e: unknown) => e instanceof ScheduleInputError && e.field === 'catchupWindowMs',
      );
    });

    it('does not activate the target while an action still runs on the source; both stay paused, and a later run finishes', async () => {
      const sid = id();
      // No worker polls this task queue, so a triggered run stays open.
      await createRawSchedule(sides.source, sid, { spec: QUIET_HOURLY, taskQueue: uniqueId('no-worker') });
      await copySchedules({ from: sides.source, to: sides.target, selector: { kind: 'ids', ids: [sid] }, actor: 'test' });
      await sides.source.client.schedule.getHandle(sid).trigger(ScheduleOverlapPolicy.SKIP);
      const running = await until('the triggered run to be tracked', async () => {
        const d = await describeRaw(sides.source, sid);
        const r = d?.info?.runningWorkflows ?? [];
        return r.length ? r[0] : undefined;
      });
      await assert.rejects(
        switchSchedule({
          from: sides.source,
          to: sides.target,
          scheduleId: sid,
          fence,
          expectedEpoch: 0,
          actor: 'test',
          backfill: 'none',
          runningActionTimeoutMs: 500,
        }),
        ScheduleActionsRunningError,
      );
      assert.deepEqual(await pausedOnSides(sides, sid), { source: true, target: true });
      assert.equal(await fence.read(NS, sid), undefined, 'the owner record was not touched');
      await sides.source.client.workflowService.terminateWorkflowExecution({
        namespace: NS,
        workflowExecution: { workflowId: running.workflowId },
        reason: 'test',
        identity: 'test',
      });
      const report = await switchSchedule({
        from: sides.source,
        to: sides.target,
        scheduleId: sid,
        fence,
        expectedEpoch: 0,
        actor: 'test',
        backfill: 'none',
      });
      assert.deepEqual(report.verified, { fromPaused: true, toActive: true, ownerEpoch: 1 });
    });

    it('a racer that loses the fence gives back the side it paused', async () => {
      const sid = id();
      await copied(sid);
      await fence.ensure(NS, sid, 'source', 'test');
      // Someone else moved the record (epoch 1, owner still source) after this racer decided on epoch 0.
      await fence.compareAndSet(NS, sid, 0, { owner: 'source', actor: 'other' });
      await assert.rejects(
        switchSchedule({ from: sides.source, to: sides.target, scheduleId: sid, fence, expectedEpoch: 0, actor: 'test', backfill: 'none' }),
        StaleScheduleEpochError,
      );
      assert.deepEqual(await pausedOnSides(sides, sid), { source: false, target: true });
    });

    // A describe is a query to the namespace's scheduler worker, the slowest schedule operation; the
    // switch reads pause state, notes and action times from the scheduler's memo instead.
    it('describes only the new side, once, and none after a copy: the old side is read from its scheduler memo', async () => {
      const sid = id();
      await copied(sid);
      const { source, target } = testStack();
      const describes = (url: string) => settledOps(url, NS, ['DescribeSchedule']);
      const before = { source: await describes(source.metricsUrl), target: await describes(target.metricsUrl) };
      const report = await switchSchedule({
        from: sides.source,
        to: sides.target,
        scheduleId: sid,
        fence,
        expectedEpoch: 0,
        actor: 'test',
        backfill: 'gap',
      });
      assert.deepEqual(report.verified, { fromPaused: true, toActive: true, ownerEpoch: 1 });
      const after = { source: await describes(source.metricsUrl), target: await describes(target.metricsUrl) };
      assert.equal(after.source - before.source, 0, 'no DescribeSchedule on the old side');
      assert.equal(
        after.target - before.target,
        1,
        'one DescribeSchedule on the new side (the schedule and conflict token the unpause writes back)',
      );
      assert.deepEqual(await pausedOnSides(sides, sid), { source: true, target: false });

      // After a copy, the copy's result stands for that describe: none on either side.
      const sid2 = id();
      await createRawSchedule(sides.source, sid2, { spec: QUIET_HOURLY, taskQueue: 'tq-switch' });
      const copy = await copySchedules({ from: sides.source, to: sides.target, selector: { kind: 'ids', ids: [sid2] }, actor: 'test' });
      const toKnown = copy.items[0]!.destination;
      assert.ok(toKnown?.conflictToken, 'a created copy reports the schedule and conflict token it left');
      const before2 = { source: await describes(source.metricsUrl), target: await describes(target.metricsUrl) };
      const r2 = await switchSchedule({
        from: sides.source,
        to: sides.target,
        scheduleId: sid2,
        fence,
        expectedEpoch: 0,
        actor: 'test',
        backfill: 'gap',
        toKnown,
      });
      assert.deepEqual(r2.verified, { fromPaused: true, toActive: true, ownerEpoch: 1 });
      const after2 = { source: await describes(source.metricsUrl), target: await describes(target.metricsUrl) };
      assert.deepEqual({ source: after2.source - before2.source, target: after2.target - before2.target }, { source: 0, target: 0 });
      assert.deepEqual(await pausedOnSides(sides, sid2), { source: true, target: false });
    });

    it("a copy's result gone stale (the target updated since) costs one ignored unpause and a describe; the update is kept", async () => {
      const sid = id();
      await createRawSchedule(sides.source, sid, { spec: QUIET_HOURLY, taskQueue: 'tq-switch' });
      const copy = await copySchedules({ from: sides.source, to: sides.target, selector: { kind: 'ids', ids: [sid] }, actor: 'test' });
      const toKnown = copy.items[0]!.destination!;
      // A dual-write update lands on the paused target after the copy: the copy's token is stale now.
      const d = (await describeRaw(sides.target, sid))!;
      await updateRaw(
        sides.target,
        sid,
        { ...d.schedule, spec: { ...d.schedule!.spec, interval: [{ interval: dur(7_200_000) }] } },
        d.conflictToken,
        'test',
      );
      const report = await switchSchedule({
        from: sides.source,
        to: sides.target,
        scheduleId: sid,
        fence,
        expectedEpoch: 0,
        actor: 'test',
        backfill: 'none',
        toKnown,
      });
      assert.deepEqual(report.verified, { fromPaused: true, toActive: true, ownerEpoch: 1 });
      const after = (await describeRaw(sides.target, sid))!;
      assert.equal(after.schedule?.state?.paused, false);
      assert.equal(
        Number(after.schedule?.spec?.interval?.[0]?.interval?.seconds),
        7_200,
        "the update is kept, not overwritten by the copy's description",
      );
    });

    it('refuses to pause the source when the copy it was given has since been deleted from the target', async () => {
      const sid = id();
      await createRawSchedule(sides.source, sid, { spec: QUIET_HOURLY, taskQueue: 'tq-switch' });
      const copy = await copySchedules({ from: sides.source, to: sides.target, selector: { kind: 'ids', ids: [sid] }, actor: 'test' });
      await sides.target.client.schedule.getHandle(sid).delete();
      await assert.rejects(
        switchSchedule({
          from: sides.source,
          to: sides.target,
          scheduleId: sid,
          fence,
          expectedEpoch: 0,
          actor: 'test',
          backfill: 'none',
          toKnown: copy.items[0]!.destination!,
        }),
        ScheduleMissingError,
      );
      assert.deepEqual(await pausedOnSides(sides, sid), { source: false, target: undefined });
    });

    it('falls back to describes on a server that refuses to show the scheduler workflow, and switches the same', async () => {
      const sid = id();
      await copied(sid);
      let refused = 0;
      // A locked-down server (as a hosted service may be): DescribeWorkflowExecution of a scheduler workflow is denied.
      const refusing = (ep: typeof sides.source): typeof sides.source => {
        const svc = ep.client.workflowService;
        const workflowService = new Proxy(svc, {
          get(t, prop, recv) {
            if (prop !== 'describeWorkflowExecution') return Reflect.get(t, prop, recv);
            return async (req: { execution?: { workflowId?: string | null } | null }) => {
              if (req.execution?.workflowId?.startsWith('temporal-sys-scheduler:')) {
                refused++;
                throw Object.assign(new Error('PERMISSION_DENIED: not allowed'), { code: 7, details: 'not allowed', metadata: {} });
              }
              return svc.describeWorkflowExecution(req as never);
            };
          },
        });
        return { ...ep, client: Object.create(ep.client, { workflowService: { value: workflowService } }) };
      };
      const from = refusing(sides.source);
      const to = refusing(sides.target);
      const fwd = await switchSchedule({ from, to, scheduleId: sid, fence, expectedEpoch: 0, actor: 'test', backfill: 'gap' });
      assert.deepEqual(fwd.verified, { fromPaused: true, toActive: true, ownerEpoch: 1 });
      assert.deepEqual(await pausedOnSides(sides, sid), { source: true, target: false });
      // Asked once per server and namespace, then remembered.
      assert.equal(refused, 2);
      const back = await switchSchedule({ from: to, to: from, scheduleId: sid, fence, expectedEpoch: 1, actor: 'test', backfill: 'gap' });
      assert.deepEqual(back.verified, { fromPaused: true, toActive: true, ownerEpoch: 2 });
      assert.deepEqual(await pausedOnSides(sides, sid), { source: false, target: true });
      assert.equal(refused, 2);
    });

    it('keeps an update made to the target after the switch described it: the unpause is conditional, retried', async () => {
      const sid = id();
      await copied(sid);
      // A dual-write update lands on the (still paused) target between the switch's first describe of
      // it and the unpause: the update built from that describe carries a stale conflict token.
      const report = await switchSchedule({
        from: sides.source,
        to: sides.target,
        scheduleId: sid,
        fence,
        expectedEpoch: 0,
        actor: 'test',
        backfill: 'none',
        onStep: async (step) => {
          if (step !== 'cas') return;
          const d = (await describeRaw(sides.target, sid))!;
          await updateRaw(
            sides.target,
            sid,
            { ...d.schedule, spec: { ...d.schedule!.spec, interval: [{ interval: dur(7_200_000) }] } },
            d.conflictToken,
            'test',
          );
        },
      });
      assert.deepEqual(report.verified, { fromPaused: true, toActive: true, ownerEpoch: 1 });
      const after = (await describeRaw(sides.target, sid))!;
      assert.equal(after.schedule?.state?.paused, false);
      assert.equal(
        Number(after.schedule?.spec?.interval?.[0]?.interval?.seconds),
        7_200,
        'the update is kept, not overwritten by the stale description',
      );
    });

    for (const step of SWITCH_STEPS) {
      it(`crash after "${step}": never active on both, and the next run finishes the switch`, async () => {
        const sid = id();
        await copied(sid);
        await assert.rejects(
          switchSchedule({
            from: sides.source,
            to: sides.target,
            scheduleId: sid,
            fence,
            expectedEpoch: 0,
            actor: 'test',
            backfill: 'gap',
            onStep: crashAfter(step),
          }),
          (e: unknown) => e instanceof SimulatedCrash && e.step === step,
        );
        assert.equal(await activeOnBoth(sides, sid), false);
        const report = await switchSchedule({
          from: sides.source,
          to: sides.target,
          scheduleId: sid,
          fence,
          expectedEpoch: 0,
          actor: 'test',
          backfill: 'gap',
        });
        assert.deepEqual(report.verified, { fromPaused: true, toActive: true, ownerEpoch: 1 });
        assert.equal(report.resumed, ['cas', 'fence-pause', 'unpause', 'backfill', 'verify'].includes(step));
        assert.deepEqual(await pausedOnSides(sides, sid), { source: true, target: false });
      });
    }
  });

  describe('reconcile', () => {
    it('reports active-on-both, paused-on-both, missing copies and owner mismatches; clean after a switch', async () => {
      const both = id('rc');
      const none = id('rc');
      const lonely = id('rc');
      const good = id('rc');
      for (const sid of [both, none, good]) {
        await createRawSchedule(sides.source, sid, { spec: QUIET_HOURLY, taskQueue: 'tq' });
        await copySchedules({ from: sides.source, to: sides.target, selector: { kind: 'ids', ids: [sid] }, actor: 'test' });
      }
      await createRawSchedule(sides.source, lonely, { spec: QUIET_HOURLY, taskQueue: 'tq' });
      await sides.target.client.schedule.getHandle(both).unpause();
      await sides.source.client.schedule.getHandle(none).pause();
      await switchSchedule({
        from: sides.source,
        to: sides.target,
        scheduleId: good,
        fence,
        expectedEpoch: 0,
        actor: 'test',
        backfill: 'none',
      });
      const report = await reconcileSchedules({
        source: sides.source,
        target: sides.target,
        selector: { kind: 'ids', ids: [both, none, lonely, good] },
        fence,
      });
      const byId = Object.fromEntries(report.items.map((i) => [i.scheduleId, i]));
      assert.deepEqual(byId[both].problems, ['active-on-both']);
      assert.deepEqual(byId[none].problems, ['paused-on-both']);
      assert.deepEqual(byId[lonely].problems, ['missing-on-target']);
      assert.deepEqual(byId[good].problems, []);
      assert.equal(byId[good].activeOn, 'target');
      assert.equal(report.clean, false);
      assert.equal(report.counts['active-on-both'], 1);

      // An owner record that names the other side is a mismatch.
      await fence.compareAndSet(NS, good, 1, { owner: 'source', actor: 'test' });
      const again = await reconcileSchedules({ source: sides.source, target: sides.target, selector: { kind: 'ids', ids: [good] }, fence });
      assert.deepEqual(again.items[0].problems, ['owner-mismatch']);
    });
  });
});
