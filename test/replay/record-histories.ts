/**
 * Records the stored histories the replay test replays (test/replay/histories/*.json): real runs of
 * both entity workflows on the local test stack (two dev servers + Redis), with a workload through
 * the routed client. Re-run after a deliberate, patched change to the workflows (keep the histories the
 * older code recorded as `pre-<patch>-<name>.json`); name histories to record only those:
 *
 *   node --require tsx/cjs test/replay/record-histories.ts [name…]
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { startTestStack, stopTestStack } from '../harness';
import { Redis } from 'ioredis';
import { forceRoute } from '../../src/cockpit/route';
import { parseUnitName } from '../../src/domain/ids';
import { RoutingStore } from '../../src/routing/store';
import { testStack } from '../harness';
import { closeShared, driveTo, Rig } from '../integration/entity.fixture';

const OUT = path.join(__dirname, 'histories');
const ONLY = process.argv.slice(2);

/** True when the history `name` is to be recorded (all of them when none is named). */
const wanted = (name: string) => ONLY.length === 0 || ONLY.includes(name);

async function save(rig: Rig, name: string, runId?: string): Promise<void> {
  const history = await rig.historyOf(runId);
  fs.writeFileSync(path.join(OUT, `${name}.json`), historyToJSON(history) + '\n');
  process.stderr.write(`saved ${name} (${history.events?.length ?? 0} events)\n`);
}

async function run<T>(rig: Rig, body: (r: Rig) => Promise<T>): Promise<T> {
  try {
    await rig.setUp();
    return await body(rig);
  } finally {
    await rig.tearDown();
  }
}

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  fs.mkdirSync(OUT, { recursive: true });
  await startTestStack();
  try {
    // A tenant moved end to end with a schedule firing every second, with a pause/resume and a
    // rejected command on the way.
    if (wanted('tenant-migration-completed'))
      await run(new Rig({ kind: 'tenant', schedules: 1 }), async (r) => {
        r.startWorkload();
        await r.start();
        await r.waitFor((s) => s.phase === 'canary', 'canary');
        await r.command('pause', { reason: 'look' });
        await r.command('approve'); // rejected: nothing awaits approval
        await r.waitFor((s) => s.paused, 'paused');
        await r.command('resume');
        await r.waitPhase('completed', 60_000);
        await r.settleWorkload();
        await save(r, 'tenant-migration-completed');
      });
    // A namespace moved with drain-and-switch.
    if (wanted('namespace-migration-drain-and-switch'))
      await run(new Rig({ kind: 'namespace', jobMs: 500, input: { strategy: 'drain-and-switch', percentSteps: [] } }), async (r) => {
        r.startWorkload(40);
        await r.start();
        await r.waitPhase('completed', 60_000);
        await r.settleWorkload();
        await save(r, 'namespace-migration-drain-and-switch');
      });
    // A tenant rolled back from canary (manual mode).
    if (wanted('tenant-migration-rollback-from-canary'))
      await run(new Rig({ kind: 'tenant', input: { advanceMode: 'manual', bakeMs: 600 } }), async (r) => {
        r.startWorkload();
        await r.start();
        await driveTo(r, 'canary');
        await r.command('rollback', { reason: 'drill' });
        await r.waitPhase('rolled-back');
        await r.settleWorkload();
        await save(r, 'tenant-migration-rollback-from-canary');
      });
    // A tenant rolled back from draining after its schedule switched (manual mode): the switch back.
    if (wanted('tenant-migration-rollback-from-draining-with-schedule'))
      await run(new Rig({ kind: 'tenant', schedules: 1, input: { advanceMode: 'manual', percentSteps: [50] } }), async (r) => {
        await r.start();
        await driveTo(r, 'draining');
        await r.command('rollback', { reason: 'drill' });
        await r.waitPhase('rolled-back');
        await save(r, 'tenant-migration-rollback-from-draining-with-schedule');
      });
    // Pause and rollback as an operator sends them from the UI, without command IDs, each twice, then a
    // resume. Code that refused them (recorded as `pre-idless-…`) ends with a rollback that has an ID.
    if (wanted('tenant-migration-idless-safe-commands'))
      await run(new Rig({ kind: 'tenant', input: { advanceMode: 'manual' } }), async (r) => {
        r.startWorkload();
        await r.start();
        await driveTo(r, 'canary');
        await r.rawSignal('pause', { actor: 'oncall', reason: 'looking' });
        await r.rawSignal('pause', { actor: 'oncall', reason: 'looking' });
        await r.rawSignal('rollback', { actor: 'oncall', reason: 'emergency' });
        const s = await r.waitFor((x) => x.phase === 'rolling-back' || x.rejected.length >= 3, 'the rollback taken or refused');
        await r.rawSignal('rollback', { actor: 'oncall', reason: 'emergency' });
        await r.command('resume', { actor: 'oncall' });
        if (s.phase !== 'rolling-back') await r.command('rollback', { reason: 'drill' });
        await r.waitPhase('rolled-back');
        await r.settleWorkload();
        await save(r, 'tenant-migration-idless-safe-commands');
      });
    // A namespace that continued as new (tiny history cap): its first run and its last.
    if (wanted('namespace-migration-first-run-continued-as-new') || wanted('namespace-migration-last-run-after-continue-as-new'))
      await run(new Rig({ kind: 'namespace', input: { maxHistoryEvents: 60 } }), async (r) => {
        r.startWorkload();
        const first = await r.start();
        const done = await r.waitPhase('completed', 60_000);
        if (done.continuedAsNew < 1) throw new Error('expected a continue-as-new');
        await r.settleWorkload();
        await save(r, 'namespace-migration-first-run-continued-as-new', first.firstExecutionRunId);
        await save(r, 'namespace-migration-last-run-after-continue-as-new');
      });
    // A tenant whose routing record is deleted mid-canary (restored by the unit's check), then regressed
    // right before an advance (restored again), then forced to the source by an operator (adopted: the unit
    // rolls back keeping it).
    if (wanted('tenant-migration-route-truth'))
      await run(new Rig({ kind: 'tenant', input: { bakeMs: 600_000, routeCheckMs: 500 } }), async (r) => {
        const redis = new Redis(testStack().redisUrl);
        try {
          const store = new RoutingStore({ redis, keyPrefix: r.keyPrefix });
          r.startWorkload();
          await r.start();
          await r.waitFor((s) => s.phase === 'canary' && s.route.percent !== undefined, 'canary');
          await redis.del(store.routeKey(r.unit));
          await r.waitFor((s) => (s.routeCheck?.restores ?? 0) >= 1, 'the record restored');
          const cur = (await store.get(r.unit))!;
          await redis.set(
            store.routeKey(r.unit),
            JSON.stringify({ ...cur, epoch: cur.epoch - 1, route: { kind: 'side', side: 'source' } }),
          );
          await r.command('advance', { reason: 'skip the bake' });
          await r.waitFor((s) => s.route.percent === 50 && (s.routeCheck?.restores ?? 0) >= 2, 'restored again, next step');
          const ref = parseUnitName(r.unit)!;
          const target = { kind: 'unit' as const, name: r.unit, ref, ring: 'ring0', workflowId: r.workflowId };
          await forceRoute(store, { target, side: 'source', force: true, reason: 'control cluster down (drill)', actor: 'oncall' });
          await r.waitPhase('rolled-back', 60_000);
          await r.settleWorkload();
          await save(r, 'tenant-migration-route-truth');
        } finally {
          redis.disconnect();
        }
      });
    // A tenant that completed reversible (finalizeAfter never) with a schedule: a rollback asked, refused to its
    // asker as an approver, approved by two others, and carried out (patch `reversible-completed`).
    if (wanted('tenant-migration-reversible-rolled-back-after-completion'))
      await run(new Rig({ kind: 'tenant', schedules: 1, input: { finalizeAfterMs: 'never' } }), async (r) => {
        r.startWorkload();
        await r.start();
        await r.waitPhase('completed', 60_000);
        await r.command('rollback', { actor: 'carol', reason: 'latency on the target' });
        const asked = await r.waitFor((s) => !!s.reversal, 'the rollback request');
        const approve = (actor: string) =>
          r.rawSignal('approve', { actor, commandId: `${r.tag}-approve-${actor}`, ...asked.reversal!.binding });
        await approve('carol');
        await approve('alice');
        await r.waitFor((s) => s.reversal?.approvals.length === 1, 'one approval');
        await approve('bob');
        await r.waitPhase('rolled-back', 60_000);
        await r.settleWorkload();
        await save(r, 'tenant-migration-reversible-rolled-back-after-completion');
      });
    // A namespace that completed reversible for an hour and was finalized by an operator's command.
    if (wanted('namespace-migration-reversible-finalized'))
      await run(new Rig({ kind: 'namespace', input: { finalizeAfterMs: 3_600_000 } }), async (r) => {
        r.startWorkload();
        await r.start();
        await r.waitPhase('completed', 60_000);
        await r.command('finalize', { actor: 'alice', reason: 'target healthy' });
        await r.handle().result();
        await r.settleWorkload();
        await save(r, 'namespace-migration-reversible-finalized');
      });
  } finally {
    await closeShared();
    await stopTestStack();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
