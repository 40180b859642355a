/**
 * `cutover` — the operators' CLI. Thin: parse arguments, load the plan, call an exported function in
 * src/, print the result. Exit codes: 0 ok, 1 operation failed, 2 bad input.
 */
import { Command, CommanderError, Option } from 'commander';
import { loadPlan, PlanError, formatIssues, validatePlanFile } from '../src/config';
import { PlanNotFoundError, resolvePlanPath } from '../src/cli/plan-path';
import { devDown, devUp, DevStackError } from '../src/stack/dev';
import { TemporalCliNotFoundError } from '../src/stack/temporal-cli';
import { RedisUnavailableError } from '../src/stack/redis';

const EXIT_OK = 0;
const EXIT_FAILED = 1;
const EXIT_BAD_INPUT = 2;

const progress = (line: string) => process.stderr.write(`${line}\n`);

/** Maps an error to its exit code and a message that names the fix. */
function fail(err: unknown): never {
  if (err instanceof PlanError) {
    process.stderr.write(`${formatIssues(err.issues)}\n${err.issues.length} problem(s) in the plan; nothing was started or changed.\n`);
    process.exit(EXIT_BAD_INPUT);
  }
  if (err instanceof PlanNotFoundError) {
    process.stderr.write(`error: ${err.message}\n`);
    process.exit(EXIT_BAD_INPUT);
  }
  const known = err instanceof DevStackError || err instanceof TemporalCliNotFoundError || err instanceof RedisUnavailableError;
  process.stderr.write(`error: ${known ? (err as Error).message : ((err as Error)?.stack ?? String(err))}\n`);
  process.exit(EXIT_FAILED);
}

const program = new Command('cutover')
  .description('Move Temporal workloads between clusters with no downtime, no lost or duplicated work, and a rollback at every step.')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride();

program
  .command('validate')
  .argument('<plan>', 'plan file (YAML or JSON)')
  .description('check a plan; prints every problem with its path and fix (exit 2), or a summary (exit 0)')
  .addHelpText('after', '\nExample:\n  npx cutover validate examples/plan.yaml')
  .action(async (file: string) => {
    const r = await validatePlanFile(file);
    if (!r.ok) fail(new PlanError(r.issues));
    const plan = r.plan!;
    const units = plan.rings.reduce((n, ring) => n + ring.units.length, 0);
    process.stdout.write(`${file}: ok — plan "${plan.name}", ${plan.source} → ${plan.target}, ${plan.rings.length} ring(s), ${units} unit(s)\n`);
  });

const dev = program.command('dev').description('the local stack: clusters, Redis');
dev
  .command('up')
  .option('--plan <file>', "run the plan's clusters on its addresses, with its namespaces")
  .option('--no-ui', 'run the dev servers headless')
  .description('start the local clusters and Redis in the background and print their addresses')
  .addHelpText('after', '\nExamples:\n  npx cutover dev up\n  npx cutover dev up --plan examples/plan.yaml')
  .action(async (opts: { plan?: string; ui: boolean }) => {
    const plan = opts.plan ? { path: opts.plan, plan: loadPlan(opts.plan) } : undefined;
    const started = Date.now();
    const state = await devUp({ plan, ui: opts.ui, onProgress: progress });
    const lines = state.clusters.map((c) => `  ${c.name.padEnd(12)} ${c.address.padEnd(18)} ${c.uiUrl ? `UI ${c.uiUrl}` : '(headless)'}`);
    process.stdout.write(
      `local stack up in ${((Date.now() - started) / 1000).toFixed(1)} s\n${lines.join('\n')}\n  ${'redis'.padEnd(12)} ${state.redis.url}\n` +
        (state.prometheus ? `  ${'prometheus'.padEnd(12)} ${state.prometheus.url}\n` : '') +
        `plan:  ${state.planPath}\nstate: ${state.runDir}/state.json\nstop it with: npx cutover dev down\n`,
    );
  });
dev
  .command('build')
  .description('find or build the Temporal CLI (dev server) into the project cache, showing progress')
  .action(async () => {
    const { resolveTemporalCli, cliVersion } = await import('../src/stack/temporal-cli');
    const bin = await resolveTemporalCli(progress);
    process.stdout.write(`temporal ${cliVersion(bin)} at ${bin}\n`);
  });
dev
  .command('down')
  .description('stop everything `cutover dev up` started here, and nothing else')
  .action(async () => {
    const { stopped } = await devDown({ onProgress: progress });
    process.stdout.write(stopped.length ? `stopped ${stopped.length} process(es)\n` : 'no local stack was up\n');
  });

program
  .command('worker')
  .option('--plan <file>', 'plan file (default: $CUTOVER_PLAN, ./cutover.yaml, or the dev stack\'s plan)')
  .addOption(new Option('--metrics <host:port>', 'Prometheus endpoint of the worker').default('127.0.0.1:9464'))
  .description('run the cutover worker in the foreground until Ctrl-C')
  .action(async (opts: { plan?: string; metrics: string }) => {
    const plan = loadPlan(resolvePlanPath(opts.plan));
    const { runCutoverWorker } = await import('../src/worker');
    await runCutoverWorker({ plan, metricsAddress: opts.metrics, onProgress: progress });
  });

async function main(): Promise<void> {
  try {
    await program.parseAsync(process.argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version are successes; every other parse problem is bad input.
      process.exit(err.exitCode === 0 ? EXIT_OK : EXIT_BAD_INPUT);
    }
    fail(err);
  }
}

void main();
