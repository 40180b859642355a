/**
 * `npm run bench:cutover`: proof at load. A live cutover under sustained open-loop traffic through the
 * routed clients and injected faults, checked by a ledger of every start (bench/lib/cutover-run.ts has
 * the scenario, bench/lib/ledger.ts the ledger and its checks). The direct client's knee is measured first
 * in the same run, and the load goes at `--fraction` percent of it.
 *
 * Prints the figures, replaces its section of docs/benchmarks.md and writes bench/results/cutover.json.
 * Targets (reported beside the figures, never asserted): ≥ 100,000 acknowledged starts over ≥ 20 minutes
 * at ≥ 50 % of the direct knee; nothing lost, duplicated, misrouted or stranded; every unknown outcome
 * resolved; ≥ 99.9 % acknowledged around route changes; rollback reaching every client in ≤ 1 s (p99).
 */
import * as path from 'node:path';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { startTestStack, stopTestStack } from '../test/harness';
import { closeShared } from '../test/integration/entity.fixture';
import { parseFlags, runBench, usageOf, type FlagSpec } from './lib/args';
import { runCutoverUnderLoad, type CutoverRunResult } from './lib/cutover-run';
import { headerLine, writeBenchmarkDoc } from './lib/report';
import { markdownTable, percentile, round, writeResults } from './lib/stats';

const ROOT = path.resolve(__dirname, '..');
const SPECS: Record<string, FlagSpec> = {
  minutes: { kind: 'int', help: 'how long the load runs (default 20; 2 with --quick)' },
  fraction: { kind: 'int', help: 'load as a percentage of the direct knee (default 50)' },
  quick: { kind: 'boolean', help: 'short bakes, blocks and fault holds (a trial run)' },
  'no-write': { kind: 'boolean', help: 'print only: neither docs/benchmarks.md nor bench/results/cutover.json' },
};
const log = (line: string) => process.stderr.write(`[bench:cutover] ${line}\n`);

/** The flat figures of bench/results/cutover.json. */
export function cutoverFigures(r: CutoverRunResult): Record<string, number> {
  const c = r.reconciliation;
  return {
    acked: c.acked,
    issued: c.issued,
    failed: c.failed,
    unknown: c.unknown,
    lost: c.lost.length,
    duplicated: c.duplicated.length,
    misrouted: c.misrouted.length,
    stranded: c.stranded.length,
    unknownResolved: c.unknownResolved,
    unknownRan: c.unknownRan,
    failedButRan: c.failedButRan.length,
    onSource: c.onSource,
    onTarget: c.onTarget,
    routeChanges: r.flips.changes,
    flipAvailability: round(r.flips.flipAvailability, 5),
    flipStartsInFaults: r.flips.flipStartsInFaults,
    p99Inflation: round(r.flips.p99Inflation),
    flipP99Ms: round(r.flips.flipP99Ms, 1),
    baseP99Ms: round(r.flips.baseP99Ms, 1),
    ratePerSec: r.ratePerSec,
    directKneePerSec: round(r.directKneePerSec ?? NaN, 0),
    rateRatio: round(r.ratePerSec / (r.directKneePerSec ?? NaN)),
    scheduleFires: r.schedule.fires,
    scheduleDoubleFires: r.schedule.doubleFires,
    scheduleLostFires: r.schedule.lostFires,
    rollbacks: r.flips.rollbackMs.length,
    rollbackP99Ms: round(percentile(r.flips.rollbackMs, 99), 1),
    faultsInjected: r.ledger.timeline.filter((e) => e.kind === 'healed').length,
    minutes: r.minutes,
  };
}

async function main(): Promise<void> {
  const usage = usageOf('npm run bench:cutover --', SPECS);
  const flags = parseFlags(process.argv.slice(2), SPECS, usage);
  const quick = flags.quick === true;
  const minutes = (flags.minutes as number | undefined) ?? (quick ? 2 : 20);
  const fraction = ((flags.fraction as number | undefined) ?? 50) / 100;
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  await startTestStack();
  let r: CutoverRunResult;
  try {
    r = await runCutoverUnderLoad({ minutes, fraction, quick, log });
  } finally {
    await closeShared().catch(() => undefined);
    await stopTestStack();
  }
  const f = cutoverFigures(r);
  const t = (ok: boolean) => (ok ? '✓' : '✗ missed');
  const table = markdownTable(
    ['measure', 'value', 'target'],
    [
      ['starts issued / acknowledged', `${f.issued} / ${f.acked}`, `≥ 100000 acknowledged ${t(f.acked! >= 100_000)}`],
      ['minutes of load', f.minutes!, `≥ 20 ${t(f.minutes! >= 20)}`],
      [
        'rate (starts/s) / direct knee / ratio',
        `${f.ratePerSec} / ${f.directKneePerSec} / ${f.rateRatio}`,
        `≥ 0.5 ${t(f.rateRatio! >= 0.5)}`,
      ],
      [
        'lost / duplicated / misrouted / stranded',
        `${f.lost} / ${f.duplicated} / ${f.misrouted} / ${f.stranded}`,
        `0 ${t(f.lost! + f.duplicated! + f.misrouted! + f.stranded! === 0)}`,
      ],
      [
        'unknown outcomes / resolved (ran)',
        `${f.unknown} / ${f.unknownResolved} (${f.unknownRan})`,
        `all ${t(f.unknown === f.unknownResolved)}`,
      ],
      ['refused starts (that ran anyway)', `${f.failed} (${f.failedButRan})`, ''],
      [
        'acknowledged around route changes (±5 s)',
        `${round(f.flipAvailability! * 100, 3)} % over ${f.routeChanges} changes ` +
          `(${f.flipStartsInFaults} starts inside injected faults left out)`,
        `≥ 99.9 % ${t(f.flipAvailability! >= 0.999)}`,
      ],
      ['p99 around changes / elsewhere (ms)', `${f.flipP99Ms} / ${f.baseP99Ms} (×${f.p99Inflation})`, ''],
      ['rollback to every client, p99 (ms)', `${f.rollbackP99Ms} over ${f.rollbacks}`, `≤ 1000 ${t(f.rollbackP99Ms! <= 1000)}`],
      [
        'schedule fires / double / lost',
        `${f.scheduleFires} / ${f.scheduleDoubleFires} / ${f.scheduleLostFires}`,
        `0 / 0 ${t(f.scheduleDoubleFires! + f.scheduleLostFires! === 0)}`,
      ],
      ['faults injected and healed (kinds)', `${f.faultsInjected} (${r.faults.length})`, ''],
    ],
  );
  const timeline = r.ledger.timeline
    .filter((e) => e.kind !== 'route')
    .map((e) => `- +${round(e.atMs / 1000, 1)} s ${e.kind}: ${e.detail}`)
    .join('\n');
  const routes = r.ledger.timeline.filter((e) => e.kind === 'route').length;
  process.stdout.write(`\n${table}\n\nunits: ${JSON.stringify(r.phases)}\n${timeline}\n${JSON.stringify(f)}\n`);
  if (flags['no-write']) return;
  const args = process.argv.slice(2).length ? ` -- ${process.argv.slice(2).join(' ')}` : '';
  const section = `### Cutover under load — ${new Date().toISOString()}

${await headerLine(`npm run bench:cutover${args}`)}

Open-loop starts through the routed clients (latency from the intended send time) at ${f.ratePerSec} starts/s, split between a
namespace unit stepped 10 → 25 → 50 → 100 % and a tenant moved to draining, rolled back and moved again (its schedule
switched both ways), while faults were injected one after another. Every start is in the ledger and was looked up on
both clusters after the drain. Units at the end: namespace ${r.phases.namespace}; tenant ${r.phases.tenant}.
${quick ? '\nA `--quick` run: short bakes and fault holds; the targets are those of the full run.\n' : ''}
${table}

Timeline (${routes} route changes seen by the clients are left out):

${timeline}
`;
  const doc = writeBenchmarkDoc(ROOT, 'cutover', section);
  const json = writeResults(ROOT, 'cutover', f);
  log(`wrote ${path.relative(ROOT, doc)} and ${path.relative(ROOT, json)}`);
}

runBench('bench:cutover', main);
