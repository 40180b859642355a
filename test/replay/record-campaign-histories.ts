/**
 * Records the stored histories of the campaign workflow that campaign-replay.test.ts replays
 * (test/replay/histories/campaign/*.json): real campaigns on the local test stack (two dev servers,
 * Redis, Prometheus), driven through their operator commands. Re-run after a deliberate, patched
 * change to the campaign workflow (an optional argument prefixes the file names):
 *
 *   node --require tsx/cjs test/replay/record-campaign-histories.ts [prefix]
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { startTestStack, stopTestStack, testStack } from '../harness';
import { delay, Rig, STARTER, type RigOptions } from '../integration/campaign.fixture';
import { closeShared } from '../integration/entity.fixture';

const OUT = path.join(__dirname, 'histories', 'campaign');
const PREFIX = process.argv[2] ?? '';

const fast = { interval: '400ms', count: 1, consecutiveErrorLimit: 2 };
/** A Prometheus gate on the rig's own failure counter (0: passes). */
const clean = (r: Rig) => ({ clean: { prometheus: { url: testStack().prometheusUrl, query: r.metrics.query, max: 0 }, ...fast } });

async function save(rig: Rig, name: string, runId?: string): Promise<void> {
  const history = await rig.control.workflow.getHandle(rig.workflowId, runId).fetchHistory();
  fs.writeFileSync(path.join(OUT, `${PREFIX}${name}.json`), historyToJSON(history) + '\n');
  process.stderr.write(`saved ${PREFIX}${name} (${history.events?.length ?? 0} events)\n`);
}

async function run(opts: RigOptions, body: (r: Rig) => Promise<void>): Promise<void> {
  const rig = new Rig(opts);
  try {
    await rig.setUp();
    await body(rig);
  } finally {
    await rig.tearDown();
  }
}

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  fs.mkdirSync(OUT, { recursive: true });
  await startTestStack();
  try {
    // Two rings; the second waits for a two-person approval (a self-approval refused on the way).
    await run(
      {
        gates: clean,
        rings: [
          { name: 'ring0', units: ['A'], gates: ['clean'] },
          { name: 'ring1', units: ['B'], gates: ['clean'], approval: 'two-person' },
        ],
      },
      async (r) => {
        await r.start();
        const s = await r.waitFor((x) => x.phase === 'awaiting-approval' && x.approval !== undefined, 'approval request', 150_000);
        const binding = s.approval!.binding;
        await r.approve(STARTER, binding);
        await r.waitFor((x) => x.rejected.some((j) => j.code === 'self-approval'), 'self-approval refused');
        await r.approve('bob', binding);
        await r.approve('carol', binding);
        await r.waitFor((x) => x.phase === 'completed', 'completed', 150_000);
        await save(r, 'campaign-two-rings-approval-completed');
      },
    );
    // A gate with no data fails: the ring rolls back at once (onGateFailure rollback).
    await run(
      {
        gates: (r) => ({
          nodata: { prometheus: { url: testStack().prometheusUrl, query: `sum(metric_absent_${r.metrics.test})`, max: 1 }, ...fast },
        }),
        rings: [{ name: 'ring0', units: ['A'], gates: ['nodata'] }],
      },
      async (r) => {
        await r.start();
        await r.waitFor((x) => x.phase === 'rolled-back', 'ring rolled back', 120_000);
        await save(r, 'campaign-gate-failure-ring-rolled-back');
      },
    );
    // Paused mid-bake and resumed (a resume that is not needed refused), then a bake skipped by advance.
    await run({ gates: clean, rings: [{ name: 'ring0', units: ['A'], gates: ['clean'] }], defaults: { bake: '3s' } }, async (r) => {
      await r.start();
      await r.waitFor((x) => x.phase === 'baking', 'first bake', 120_000);
      await r.signal('pause', 'operator', 'look');
      await r.waitFor((x) => x.paused, 'paused');
      await delay(4000);
      await r.signal('resume');
      await r.waitFor((x) => !x.paused, 'resumed');
      await r.signal('resume'); // refused: neither paused nor held
      await r.waitFor((x) => x.phase === 'baking' && x.step?.kind === 'cutover', 'cutover bake', 120_000);
      await r.signal('advance', 'operator', 'enough');
      await r.waitFor((x) => x.phase === 'completed', 'completed', 120_000);
      await save(r, 'campaign-paused-resumed-advanced-completed');
    });
    // A gate failure held for an operator (onGateFailure hold), who rolls the ring back.
    await run(
      {
        gates: (r) => ({
          nodata: { prometheus: { url: testStack().prometheusUrl, query: `sum(metric_absent_${r.metrics.test})`, max: 1 }, ...fast },
        }),
        rings: [{ name: 'ring0', units: ['A'], gates: ['nodata'] }],
        defaults: { onGateFailure: 'hold' },
      },
      async (r) => {
        await r.start();
        await r.waitFor((x) => x.phase === 'held', 'held', 120_000);
        await r.signal('rollback', 'operator', 'no data');
        await r.waitFor((x) => x.phase === 'rolled-back', 'rolled back by the operator', 120_000);
        await save(r, 'campaign-held-then-rolled-back');
      },
    );
    // A drill: each unit to cutover and back.
    await run(
      { gates: () => ({}), rings: [{ name: 'ring0', units: ['A'], gates: [] }], defaults: { bake: '500ms' }, drill: true },
      async (r) => {
        await r.start();
        await r.waitFor((x) => x.phase === 'completed', 'drill completed', 120_000);
        await save(r, 'campaign-drill-completed');
      },
    );
    // A campaign that continued as new (tiny history cap): its first run and its last.
    await run(
      {
        gates: clean,
        rings: [
          { name: 'ring0', units: ['A'], gates: ['clean'] },
          { name: 'ring1', units: ['B'], gates: ['clean'] },
        ],
        maxHistoryEvents: 60,
      },
      async (r) => {
        const first = await r.start();
        const done = await r.waitFor((x) => x.phase === 'completed', 'completed', 150_000);
        if (done.continuedAsNew < 1) throw new Error('expected a continue-as-new');
        await save(r, 'campaign-first-run-continued-as-new', first.runId);
        await save(r, 'campaign-last-run-after-continue-as-new');
      },
    );
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
