/**
 * `cutover` — the operators' CLI. Thin: parse arguments, load the plan, call an exported function in
 * src/, print the result. Exit codes: 0 ok, 1 operation failed, 2 bad input.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { loadPlan, PlanError, formatIssues, validatePlanFile, type Plan } from '../src/config';
import { PlanNotFoundError, resolvePlanPath } from '../src/cli/plan-path';
import { devDown, devEnv, DevInputError, devUp, DevStackError, readDevState } from '../src/stack/dev';
import { RedisUnavailableError } from '../src/stack/redis';
import { PostgresUnavailableError } from '../src/stack/postgres';
import { prometheusVersion, PrometheusUnavailableError, resolvePrometheusTool } from '../src/stack/prometheus-binary';
import {
  CockpitInputError,
  CommandRejectedError,
  CommandUnconfirmedError,
  ControlUnavailableError,
  NotStartedError,
  RouteRepairRefusedError,
} from '../src/cockpit/errors';
import {
  checkRepairInput,
  forceMark,
  forceRoute,
  formatRouteForce,
  formatRouteInspection,
  formatRouteRepair,
  inspectRoute,
  openRouteDeps,
  repairRoute,
  type UnitTarget,
} from '../src/cockpit/route';
import { planUnitNames, resolveTarget, type CockpitTarget } from '../src/cockpit/target';
import { openControl, uiBaseUrl, type ControlClient } from '../src/cockpit/control';
import { checkCommandInput, sendCommand } from '../src/cockpit/commands';
import { formatReconcile, reconcileUnit } from '../src/cockpit/reconcile';
import { reconcileRouteOf } from '../src/activities/routing';
import { renderStatus, reversalLine } from '../src/cockpit/render';
import { dryRun } from '../src/cockpit/start';
import { sendCampaignCommand, startCampaignFromPlan } from '../src/cockpit/campaign';
import { campaignSizeProblem } from '../src/campaign/input-size';
import { getStatus } from '../src/cockpit/status';
import { watchStatus } from '../src/cockpit/watch';
import { ClusterConnectError, ClusterCredentialsError, connectCluster, credentialSource, namespaceOn } from '../src/clusters/connect';
import { CloudSetupError } from '../src/clusters/cloud-setup';
import { connectRedis, RedisAccessError, RedisCredentialsError } from '../src/routing/connect-redis';
import { renderRunbook } from '../src/runbook';
import { cliVersion, resolveTemporalCli, TemporalCliNotFoundError } from '../src/stack/temporal-cli';
import { resolveTemporalServer, TEMPORAL_SERVER_VERSION, TemporalServerBinaryError } from '../src/stack/temporal-server-binary';
import { RoutingRecordInvalidError } from '../src/routing/errors';
import { RoutingStore } from '../src/routing/store';
import { ScheduleFence } from '../src/schedules/fence';
import { MetricsAddressError, parseMetricsFlag } from '../src/metrics/endpoint';
// The worker, the demo and the servers are loaded by their commands only (`lazy`): every other command
// starts without the SDK worker's native runtime and bundler, about a second sooner.
import type { PlanCodecServer } from '../src/security/plan-codec-server';
import { lazy } from '../src/lazy';
import type * as JwksModule from '../src/stack/jwks-server';
import type * as WorkerModule from '../src/worker';
import type * as MetricsModule from '../src/metrics';
import type * as SdkWorker from '@temporalio/worker';
import type * as DemoModule from '../src/demo/run';
import type * as CodecServerModule from '../src/security/plan-codec-server';
import { onInterrupt } from '../src/stack/processes';
import { CodecKeyError, codecKeySources, PayloadCodecError } from '../src/security';
import { CodecServerInputError } from '../src/security/codec-server';
import type { CommandName } from '../src/domain/migration';
import { newOperatorKey, OperatorKeyError, resolveKey } from '../src/operators/keys';
import { actorFor, expiresIn } from '../src/cockpit/sign';
import { auditReport, formatAudit } from '../src/cockpit/audit';
import { AuditStream } from '../src/audit/stream';
import { queryCampaign } from '../src/cockpit/campaign';
import { queryStatus } from '../src/cockpit/commands';

const EXIT_OK = 0;
const EXIT_FAILED = 1;
const EXIT_BAD_INPUT = 2;

const progress = (line: string) => process.stderr.write(`${line}\n`);

/** Maps an error to its exit code and a message that names the fix. */
function fail(err: unknown): never {
  if (err instanceof PlanError) {
    process.stderr.write(
      `${formatIssues(err.issues, err.filename)}\n${err.issues.length} problem(s) in the plan; nothing was started or changed.\n`,
    );
    process.exit(EXIT_BAD_INPUT);
  }
  if (err instanceof PlanNotFoundError) {
    process.stderr.write(`error: ${err.message}\n`);
    process.exit(EXIT_BAD_INPUT);
  }
  if (err instanceof DevInputError) {
    process.stderr.write(`error: ${err.message}\nnothing was started or changed.\n`);
    process.exit(EXIT_BAD_INPUT);
  }
  if (err instanceof CockpitInputError) {
    process.stderr.write(`error: ${err.message}\nnothing was sent or changed.\n`);
    process.exit(EXIT_BAD_INPUT);
  }
  // Credentials the plan names but that cannot be read (unset variable, missing file) are bad input, and so
  // are the payload codec's keys (the message names the field, key ID and variable or file, never the key).
  if (
    err instanceof ClusterCredentialsError ||
    err instanceof RedisCredentialsError ||
    err instanceof CodecKeyError ||
    err instanceof CodecServerInputError ||
    err instanceof OperatorKeyError ||
    err instanceof MetricsAddressError
  ) {
    process.stderr.write(`error: ${err.message}\nnothing was started or changed.\n`);
    process.exit(EXIT_BAD_INPUT);
  }
  const known =
    err instanceof DevStackError ||
    err instanceof TemporalCliNotFoundError ||
    err instanceof TemporalServerBinaryError ||
    err instanceof RedisUnavailableError ||
    err instanceof PrometheusUnavailableError ||
    err instanceof PostgresUnavailableError ||
    err instanceof CommandRejectedError ||
    err instanceof CommandUnconfirmedError ||
    err instanceof NotStartedError ||
    err instanceof ControlUnavailableError ||
    err instanceof RouteRepairRefusedError ||
    // A damaged routing record (e.g. read by reconcile): the message names `cutover route show|repair <unit>`.
    err instanceof RoutingRecordInvalidError ||
    err instanceof ClusterConnectError ||
    err instanceof CloudSetupError ||
    err instanceof RedisAccessError ||
    // A payload sealed with a key this process lacks (or altered): the message names the key ID.
    err instanceof PayloadCodecError;
  process.stderr.write(`error: ${known ? (err as Error).message : ((err as Error)?.stack ?? String(err))}\n`);
  process.exit(EXIT_FAILED);
}

const program = new Command('cutover')
  .description('Move Temporal workloads between clusters with no downtime, no lost or duplicated work, and a rollback at every step.')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride();

program
  .command('validate')
  .argument('[plan]', 'plan file (YAML or JSON)')
  .option('--plan <file>', 'the plan file, as the other commands take it')
  .description('check a plan; prints every problem with its path and fix (exit 2), or a summary and any warnings (exit 0)')
  .addHelpText('after', '\nExamples:\n  npx cutover validate examples/plan.yaml\n  npx cutover validate --plan examples/cloud-plan.yaml')
  .action(async (arg: string | undefined, opts: { plan?: string }) => {
    if (arg && opts.plan && arg !== opts.plan) {
      throw new CockpitInputError('--plan', `two plans given (${arg} and ${opts.plan})`, 'give the plan once');
    }
    const file = arg ?? opts.plan;
    if (!file) throw new CockpitInputError('plan', 'no plan given', 'pass the plan file, e.g. npx cutover validate examples/plan.yaml');
    const r = await validatePlanFile(file);
    if (!r.ok) fail(new PlanError(r.issues, file));
    const plan = r.plan!;
    // A plan can be valid and still too large for its campaign to carry (Temporal's payload limit).
    const tooLarge = campaignSizeProblem(plan);
    if (tooLarge) fail(new PlanError([tooLarge], file));
    const units = plan.rings.reduce((n, ring) => n + ring.units.length, 0);
    // Each cluster's kind and where its credentials come from (never the secret itself).
    const width = Math.max(...Object.keys(plan.clusters).map((n) => n.length));
    const addressWidth = Math.max(...Object.values(plan.clusters).map((c) => c.address.length));
    const clusters = Object.entries(plan.clusters).map(
      ([name, c]) => `  ${name.padEnd(width)}  ${c.kind.padEnd(11)}  ${c.address.padEnd(addressWidth)}  ${credentialSource(c)}`,
    );
    // Warnings go to stderr beside the summary: advice to weigh, never a reason to fail (exit 0).
    if (r.warnings.length) {
      const lines = formatIssues(r.warnings, file, 'advice').split('\n');
      process.stderr.write(`${lines.map((line) => `warning: ${line}`).join('\n')}\n`);
    }
    const warned = r.warnings.length ? ` (${r.warnings.length} warning${r.warnings.length === 1 ? '' : 's'}, on stderr)` : '';
    process.stdout.write(
      `${file}: ok${warned} — plan "${plan.name}", ${plan.source} → ${plan.target}, ${plan.rings.length} ring(s), ${units} unit(s)\n` +
        `${clusters.join('\n')}\n${plan.codec ? describeCodecSources(plan.codec) : ''}`,
    );
  });

/** The payload codec's key sources and current key, and the codec server's credential source (never a key or token). */
function describeCodecSources(codec: NonNullable<Plan['codec']>): string {
  const sources = codecKeySources(codec);
  const width = Math.max(...sources.map((k) => k.id.length));
  const server = codec.server;
  const auth = server?.tokenEnv ? `bearer token from $${server.tokenEnv}` : server?.jwksUrl ? `JWTs checked against ${server.jwksUrl}` : '';
  return (
    `codec: AES-256-GCM, current key ${codec.current}\n` +
    sources.map((k) => `  ${k.id.padEnd(width)}  ${k.source}${k.current ? '  (current)' : ''}\n`).join('') +
    (server ? `codec server: ${server.listen}, ${auth}\n` : '')
  );
}

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
    const lines = state.clusters.map((c) => {
      const what = c.cloud ? `Cloud-shaped: TLS + ${c.cloud.auth}` : c.uiUrl ? `UI ${c.uiUrl}` : '(headless)';
      return `  ${c.name.padEnd(12)} ${c.address.padEnd(18)} ${what}`;
    });
    // What `dev env` exports: the API keys it minted and the codec server's token when it supplied it.
    const exported = [
      ...state.clusters.flatMap((c) => (c.cloud?.auth === 'api-key' && c.cloud.apiKeyEnv ? [`$${c.cloud.apiKeyEnv}`] : [])),
      ...(state.codecServer?.tokenFile && state.codecServer.tokenEnv ? [`$${state.codecServer.tokenEnv}`] : []),
    ];
    process.stdout.write(
      `local stack up in ${((Date.now() - started) / 1000).toFixed(1)} s\n${lines.join('\n')}\n` +
        `  ${'redis'.padEnd(12)} ${state.redis.url}\n` +
        (state.prometheus ? `  ${'prometheus'.padEnd(12)} ${state.prometheus.url}\n` : '') +
        (state.codecServer
          ? `  ${'codec'.padEnd(12)} ${state.codecServer.url} ` +
            `(the UIs' codec endpoint; origins ${state.codecServer.origins.join(', ')})\n` +
            (state.codecServer.signInUrl
              ? `  sign in once at ${state.codecServer.signInUrl} with the token ($${state.codecServer.tokenEnv}), ` +
                "then in each UI's Data Encoder settings " +
                'use the browser\'s setting with this endpoint and "include cross-origin credentials" on\n'
              : '')
          : '') +
        `plan:  ${state.planPath}\nstate: ${state.runDir}/state.json\n` +
        (exported.length ? `credentials: eval "$(npx cutover dev env --plan ${opts.plan})" (exports ${exported.join(', ')})\n` : '') +
        'stop it with: npx cutover dev down\n',
    );
  });
dev
  .command('build')
  .option('--no-server', 'only the Temporal CLI (dev server) and Prometheus, not temporal-server for self-hosted clusters')
  .description(
    'find or build the Temporal CLI (dev server), prometheus + promtool, and temporal-server + temporal-sql-tool ' +
      '(self-hosted clusters) into the project cache, showing progress',
  )
  .action(async (opts: { server: boolean }) => {
    const bin = await resolveTemporalCli(progress);
    process.stdout.write(`temporal ${cliVersion(bin)} at ${bin}\n`);
    for (const tool of ['prometheus', 'promtool'] as const) {
      const found = await resolvePrometheusTool(tool, { onProgress: progress });
      process.stdout.write(`${tool} ${prometheusVersion(found)} at ${found}\n`);
    }
    if (!opts.server) return;
    const server = await resolveTemporalServer({ onProgress: progress });
    process.stdout.write(`temporal-server ${TEMPORAL_SERVER_VERSION} at ${server.server}\ntemporal-sql-tool at ${server.sqlTool}\n`);
  });
dev
  .command('env')
  .option('--plan <file>', 'the plan `dev up` was given (default: whatever stack is up here)')
  .description(
    'print `export <apiKeyEnv>=<key>` for each Cloud-shaped cluster with API keys of the stack up here, and ' +
      "`export <codec.server.tokenEnv>=<token>` when `dev up` supplied the codec server's token",
  )
  .addHelpText(
    'after',
    '\nOnly the export lines go to stdout, so the output can be evaluated:\n' +
      '  eval "$(npx cutover dev env --plan examples/cloud-plan.yaml)"',
  )
  .action((opts: { plan?: string }) => {
    const lines = devEnv({ planPath: opts.plan });
    process.stdout.write(lines.map((l) => `${l}\n`).join(''));
  });
// Started by `dev up` for each Cloud-shaped cluster with API keys; not for people.
dev
  .command('jwks', { hidden: true })
  .requiredOption('--keys <file>', 'key-ring file of the cluster')
  .requiredOption('--port <port>', 'port on 127.0.0.1')
  .description('serve the JWKS of a Cloud-shaped cluster on 127.0.0.1 until stopped')
  .action(async (opts: { keys: string; port: string }) => {
    const port = Number(opts.port);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new DevInputError('--port', `${opts.port} is not a TCP port`);
    const { JwksServer } = lazy<typeof JwksModule>(require, '../src/stack/jwks-server');
    const server = new JwksServer(opts.keys, port);
    await server.start();
    progress(`JWKS of ${opts.keys} on ${server.url}`);
    await new Promise<void>((resolve) => {
      for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => resolve());
    });
    await server.stop();
  });
dev
  .command('down')
  .option('--keep', 'keep the databases of PostgreSQL-backed clusters (the next `dev up` here reuses them)')
  .description('stop everything `cutover dev up` started here, and nothing else; drop its PostgreSQL databases')
  .action(async (opts: { keep?: boolean }) => {
    const { stopped } = await devDown({ keep: opts.keep, onProgress: progress });
    process.stdout.write(stopped.length ? `stopped ${stopped.length} process(es)\n` : 'no local stack was up\n');
  });

program
  .command('worker')
  .option('--plan <file>', "plan file (default: $CUTOVER_PLAN, ./cutover.yaml, or the dev stack's plan)")
  .option(
    '--metrics <host:port|off>',
    'Prometheus endpoint of the worker (default: 127.0.0.1:9464, or a free port when it is taken; off: none)',
  )
  .option(
    '--metrics-interval <seconds>',
    "how often the cutover_* metrics are refreshed from the units' memos (one visibility listing)",
    '5',
  )
  .option('--key <file>', "the worker's controller key: signs the commands campaigns send to their units (default: $CUTOVER_KEY)")
  .description('run the cutover worker in the foreground until Ctrl-C; several may run side by side')
  .addHelpText(
    'after',
    '\nExamples:\n  npx cutover worker --plan cutover.yaml\n' +
      '  npx cutover worker --metrics 0.0.0.0:9464\n  npx cutover worker --metrics off --key ~/.cutover/keys/worker.key',
  )
  .action(async (opts: { plan?: string; metrics?: string; metricsInterval: string; key?: string }) => {
    // Flags first: bad input is refused before the plan is read or anything is started.
    parseMetricsFlag(opts.metrics);
    const intervalMs = seconds('--metrics-interval', opts.metricsInterval, 5) * 1000;
    const plan = loadPlan(resolvePlanPath(opts.plan));
    const signer = workerKey(plan, opts.key);
    const { createCutoverWorker } = lazy<typeof WorkerModule>(require, '../src/worker');
    const { startCutoverMetrics } = lazy<typeof MetricsModule>(require, '../src/metrics');
    const { Runtime } = lazy<typeof SdkWorker>(require, '@temporalio/worker');
    const worker = await createCutoverWorker({
      plan,
      metricsAddress: opts.metrics ?? 'auto',
      onProgress: progress,
      ...(signer ? { signer } : {}),
    });
    // cutover's own metrics on the same endpoint as the SDK's (the runtime is installed by now); none with --metrics off.
    const control = await openControl(plan);
    const metrics =
      worker.metricsAddress === undefined
        ? undefined
        : startCutoverMetrics({
            client: control.client,
            units: planUnitNames(plan),
            campaign: plan.name,
            taskQueue: plan.control.taskQueue,
            meter: Runtime.instance().metricMeter,
            intervalMs,
            onError: (err) => progress(`metrics: ${(err as Error).message}`),
          });
    const unreachable = worker.unreachable();
    progress(`cutover worker running${unreachable.length ? ` without ${unreachable.join(', ')} (reconnecting)` : ''}; Ctrl-C to stop`);
    try {
      await worker.run();
    } finally {
      await metrics?.stop();
      await control.close();
    }
    progress('cutover worker stopped');
  });

/**
 * The worker's key, checked against the plan: with operators listed, campaigns' commands to their units
 * must be signed by a key with role controller (warned when missing, refused when not in the plan).
 */
function workerKey(plan: Plan, flag: string | undefined) {
  const signer = resolveKey(flag);
  const operators = plan.operators ?? {};
  if (Object.keys(operators).length === 0) return signer;
  if (!signer) {
    progress(
      'warning: the plan lists operators but the worker has no key (--key or $CUTOVER_KEY): units refuse the commands ' +
        'campaigns send them; give the worker a key with role controller',
    );
    return undefined;
  }
  const listed = operators[signer.name];
  if (!listed || listed.publicKey !== signer.publicKey)
    throw new OperatorKeyError(
      flag ? '--key' : '$CUTOVER_KEY',
      `${signer.file} (${signer.name}) is not an operator of the plan with this key`,
      `add operators.${signer.name}: { publicKey: ${signer.publicKey}, roles: [controller] } to the plan`,
    );
  if (!listed.roles.includes('controller'))
    throw new OperatorKeyError(
      flag ? '--key' : '$CUTOVER_KEY',
      `${signer.name} has no role controller`,
      `add controller to operators.${signer.name}.roles (the worker signs campaigns' commands with it)`,
    );
  return signer;
}

// ── The cockpit: status, operator commands, reconcile, start, runbook ────────────────────────────

/** The OS user, the default actor of every command. */
function osUser(): string {
  try {
    return os.userInfo().username;
  } catch {
    return process.env.USER ?? process.env.LOGNAME ?? 'unknown';
  }
}

/** Finds the plan: `--plan`, `$CUTOVER_PLAN`, `./cutover.yaml`, else the dev stack's. */
function planFor(flag: string | undefined): Plan {
  return loadPlan(resolvePlanPath(flag));
}

/** A positive number of seconds from a flag, or bad input naming the flag. */
function seconds(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0)
    throw new CockpitInputError(flag, `"${value}" is not a positive number of seconds`, `pass e.g. ${flag} ${fallback}`);
  return n;
}

async function withControl<T>(plan: Plan, fn: (c: ControlClient) => Promise<T>): Promise<T> {
  const control = await openControl(plan);
  try {
    return await fn(control);
  } finally {
    await control.close();
  }
}

async function uiBase(plan: Plan, flag: string | undefined): Promise<string> {
  if (flag) return flag.replace(/\/+$/, '');
  return uiBaseUrl(plan, { localUis: readDevState()?.clusters });
}

const planOption = () => new Option('--plan <file>', "plan file (default: $CUTOVER_PLAN, ./cutover.yaml, or the dev stack's plan)");
const UNIT_ARG = 'a campaign name, namespace/<ns> or tenant/<ns>/<tenant>';

program
  .command('status')
  .argument('[unit]', `${UNIT_ARG} (default: every unit of the plan)`)
  .addOption(planOption())
  .option('--json', 'print one JSON document (the status of each unit) and nothing else on stdout')
  .option('--watch', 'redraw the view in place until Ctrl-C')
  .option('--interval <seconds>', 'how often --watch redraws', '2')
  .option('--ui <url>', "base URL of the control cluster's Temporal UI for the links (default: $CUTOVER_UI_URL or the local one)")
  .description('where every unit stands: phase, route and epoch, bake, last gate, open runs, drain forecast, approvals, UI links')
  .addHelpText(
    'after',
    '\nExamples:\n  npx cutover status\n  npx cutover status tenant/detections/acme --json\n  npx cutover status --watch --interval 1',
  )
  .action(async (unit: string | undefined, opts: { plan?: string; json?: boolean; watch?: boolean; interval: string; ui?: string }) => {
    const plan = planFor(opts.plan);
    const target = unit ? resolveTarget(plan, unit) : undefined;
    if (opts.json && opts.watch)
      throw new CockpitInputError('--watch', 'cannot be combined with --json', 'use --json for one document, or --watch for the live view');
    const intervalMs = seconds('--interval', opts.interval, 2) * 1000;
    const base = await uiBase(plan, opts.ui);
    await withControl(plan, async ({ client, namespace }) => {
      const read = () => getStatus(client, plan, { target, namespace, uiBase: base });
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(await read(), null, 2)}\n`);
        return;
      }
      if (!opts.watch) {
        process.stdout.write(`${renderStatus(await read(), { now: new Date() })}\n`);
        return;
      }
      const stop = new AbortController();
      const onSignal = () => stop.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      progress(`watching ${target?.name ?? plan.name} every ${intervalMs / 1000} s; Ctrl-C to stop`);
      await watchStatus({
        frame: async () => `${renderStatus(await read(), { now: new Date() })}\n(every ${intervalMs / 1000} s · Ctrl-C to stop)`,
        intervalMs,
        out: process.stdout,
        signal: stop.signal,
      });
    });
  });

const COMMAND_HELP: Record<CommandName, string> = {
  advance: 'move the unit on: leave a finished phase (manual mode), skip the current bake, retry a failed step, re-run a held gate',
  pause: 'raise the paused flag: nothing changes until resume',
  resume: 'lower the paused flag',
  rollback: 'route the unit back to the source and drain the target (reason required)',
  approve: 'approve what the unit waits for (terminating stragglers; a rollback of the completed unit, by two other operators)',
  finalize:
    "make a completed unit final: its route is marked final, so the source's workers may stop and its paused schedule " +
    'copies may be deleted; until then (or its finalizeAfter) a rollback with two approvals moves it back',
};

const CAMPAIGN_HELP: Record<CommandName, string> = {
  advance: 'skip the rest of the current bake',
  pause: 'stop before the next step',
  resume: 'lower the paused flag, or release a hold (inconclusive gate, expired approval)',
  rollback: "roll back the current ring's units",
  approve: 'one of the two approvals a ring asks for (requester ≠ approver)',
  finalize: 'not taken: name a unit',
};

for (const name of ['advance', 'pause', 'resume', 'rollback', 'approve', 'finalize'] as const) {
  const cmd = program
    .command(name)
    .argument('<unit>', UNIT_ARG)
    .addOption(planOption())
    .option('--actor <name>', 'who sends the command (default: the OS user)')
    .option('--command-id <id>', 'reuse to retry a command safely (default: a fresh ID)')
    .option(
      '--key <file>',
      'sign the command with this operator key (default: $CUTOVER_KEY); needed for forward commands when the plan lists operators',
    )
    .option('--expires-in <seconds>', 'how long the signature stays valid', '600')
    .option('--timeout <seconds>', 'how long to wait for the workflow to confirm', '10')
    .option('--json', "print the confirmed command and the unit's status as one JSON document")
    .description(
      `${COMMAND_HELP[name]}; to the campaign: ${CAMPAIGN_HELP[name]}. ` +
        'Waits until the workflow confirms it, or prints why it refused (exit 1)',
    );
  if (name === 'rollback') cmd.requiredOption('--reason <text>', "why (recorded in the unit's history)");
  else cmd.option('--reason <text>', "why (recorded in the unit's history)");
  cmd.addHelpText(
    'after',
    `\nExamples:\n  npx cutover ${name} tenant/detections/acme${name === 'rollback' ? ' --reason "error rate above the gate"' : ''}\n` +
      `  npx cutover ${name} legacy-to-cloud --plan cutover.yaml${name === 'rollback' ? ' --reason "drill"' : ''}   (the campaign)`,
  );
  cmd.action(
    async (
      unit: string,
      opts: {
        plan?: string;
        actor?: string;
        commandId?: string;
        timeout: string;
        json?: boolean;
        reason?: string;
        key?: string;
        expiresIn?: string;
      },
    ) => {
      const plan = planFor(opts.plan);
      const target: CockpitTarget = resolveTarget(plan, unit);
      const timeoutMs = seconds('--timeout', opts.timeout, 10) * 1000;
      const signer = resolveKey(opts.key);
      const signing = { ...(signer ? { signer } : {}), expiresInMs: expiresIn(opts.expiresIn) };
      const actor = actorFor(signer, opts.actor, osUser());
      if (target.kind === 'campaign') {
        // finalize goes to one unit: refused here, naming the fix (exit 2).
        if (name === 'finalize') return checkCommandInput({ target, command: name, actor });
        const base = {
          target,
          command: name,
          actor,
          ...signing,
          timeoutMs,
          ...(opts.reason !== undefined ? { reason: opts.reason } : {}),
          ...(opts.commandId ? { commandId: opts.commandId } : {}),
        };
        const out = await withControl(plan, ({ client }) => sendCampaignCommand(client, base));
        if (opts.json) process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
        else {
          const a = out.status.approval;
          const approvals = name === 'approve' && a ? `; approvals ${a.approvals.length} of ${a.required}` : '';
          process.stdout.write(
            `${name} campaign ${target.name}: applied (by ${out.actor}, command ${out.commandId}); ` +
              `campaign ${out.status.phase}${out.status.paused ? ', paused' : ''}${approvals}\n`,
          );
        }
        return;
      }
      const input = { target, command: name, actor, ...(opts.reason !== undefined ? { reason: opts.reason } : {}) };
      checkCommandInput(input);
      const out = await withControl(plan, ({ client }) =>
        sendCommand(client, { ...input, ...signing, timeoutMs, ...(opts.commandId ? { commandId: opts.commandId } : {}) }),
      );
      if (opts.json) process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
      else
        process.stdout.write(
          `${name} ${target.name}: applied (by ${out.actor}, command ${out.commandId}); ` +
            `phase ${out.status.phase}${out.status.paused ? ', paused' : ''}${reversalLine(target.name, out.status)}\n`,
        );
    },
  );
}

program
  .command('reconcile')
  .argument('<unit>', 'namespace/<ns> or tenant/<ns>/<tenant>')
  .addOption(planOption())
  .option('--json', 'print the report as one JSON document')
  .description(
    'list duplicate, stranded and misrouted runs of a unit on both clusters, and schedules active on both or on the wrong side ' +
      '(reads only); exit 1 when not clean',
  )
  .addHelpText('after', '\nExample:\n  npx cutover reconcile namespace/payments --json')
  .action(async (unit: string, opts: { plan?: string; json?: boolean }) => {
    const plan = planFor(opts.plan);
    const target = resolveTarget(plan, unit);
    if (target.kind !== 'unit')
      throw new CockpitInputError('<unit>', `"${unit}" is the campaign; reconcile checks one unit`, 'name a unit, e.g. namespace/<ns>');
    const conns: { close(): Promise<void> }[] = [];
    try {
      // The source namespace is described at connect (refused credentials fail there, by name); the
      // target's may not exist yet, which reconcile reports itself.
      const open = async (name: string, namespace?: string) => {
        const c = await connectCluster(name, plan.clusters[name]!, { namespaces: namespace !== undefined ? [namespace] : [] });
        conns.push(c);
        return c;
      };
      // Schedules are checked against their owner records in the plan's Redis; the route says where they belong.
      const redis = await connectRedis(plan.redis, { maxRetriesPerRequest: 1, connectTimeout: 3_000, retryStrategy: () => null });
      redis.on('error', () => undefined);
      conns.push({ close: async () => void redis.disconnect() });
      const record = await new RoutingStore({ redis, keyPrefix: plan.redis.keyPrefix }).get(target.name);
      const expected = record?.route.kind === 'side' ? record.route.side : undefined;
      const report = await reconcileUnit(plan, target.ref, {
        source: await open(plan.source, namespaceOn(plan.clusters[plan.source]!, target.ref.namespace)),
        target: await open(plan.target),
        fence: new ScheduleFence({ redis, keyPrefix: plan.redis.keyPrefix }),
        ...(expected ? { expectedScheduleSide: expected } : {}),
        ...(record ? { route: reconcileRouteOf(record, plan.redis.clientStaleness) } : {}),
      });
      process.stdout.write(
        opts.json ? `${JSON.stringify({ unit: target.name, ...report }, null, 2)}\n` : `${formatReconcile(target.name, report)}\n`,
      );
      if (!report.clean) process.exitCode = EXIT_FAILED;
    } finally {
      for (const c of conns) await c.close();
    }
  });

// ── Routing records: show one beside its workflow's route, repair it from there ──────────────────

/** A unit of the plan: a routing record belongs to one unit, so the campaign is bad input. */
function routeUnit(plan: Plan, unit: string, verb: 'show' | 'repair' | '<unit> source --force'): UnitTarget {
  const target = resolveTarget(plan, unit);
  if (target.kind !== 'unit')
    throw new CockpitInputError('<unit>', `"${unit}" is the campaign; route ${verb} takes one unit`, 'name a unit, e.g. namespace/<ns>');
  return target;
}

// `route <unit> source --force` beside `route show|repair <unit>`: options after a subcommand's name are the
// subcommand's (both levels take --plan), so options are positional here.
program.enablePositionalOptions();
const route = program
  .command('route')
  .enablePositionalOptions()
  .argument('[unit]', 'with <side> and --force: namespace/<ns> or tenant/<ns>/<tenant>')
  .argument('[side]', 'source: the only side a route may be forced to')
  .addOption(planOption())
  .option('--force', "write the record without the unit's workflow (break-glass: the control cluster is down)")
  .option('--reason <text>', 'why (required; recorded in the record, the route log and, once it adopts it, the workflow)')
  .option('--actor <name>', 'who forces it (default: the OS user; with a key, its operator)')
  .option('--key <file>', 'sign with this operator key (default: $CUTOVER_KEY); required when the plan lists operators')
  .option('--expires-in <seconds>', 'how long the signature stays valid', '600')
  .option('--json', 'print the record before and after as one JSON document')
  .description(
    "a unit's routing record in Redis: show it beside the entity workflow's route, repair it from that route, or " +
      '(`route <unit> source --force --reason …`, needs only Redis) send every new start of the unit to the source ' +
      'without the workflow; the workflow adopts the forced record when it runs and rolls back',
  )
  .addHelpText(
    'after',
    '\nExamples:\n  npx cutover route show namespace/payments\n  npx cutover route repair namespace/payments\n' +
      '  npx cutover route namespace/payments source --force --reason "control cluster down, errors on the target"',
  )
  .action(
    async (
      unit: string | undefined,
      side: string | undefined,
      opts: { plan?: string; force?: boolean; reason?: string; actor?: string; key?: string; expiresIn?: string; json?: boolean },
    ) => {
      if (unit === undefined)
        throw new CockpitInputError('<unit>', 'missing', 'use `route show|repair <unit>`, or `route <unit> source --force --reason "…"`');
      if (side === undefined)
        throw new CockpitInputError('<side>', 'missing', `name the side to force: \`cutover route ${unit} source --force --reason "…"\``);
      const plan = planFor(opts.plan);
      const target = routeUnit(plan, unit, '<unit> source --force');
      const signer = resolveKey(opts.key);
      const input = {
        target,
        side,
        force: opts.force === true,
        actor: actorFor(signer, opts.actor, osUser()),
        ...(opts.reason !== undefined ? { reason: opts.reason } : {}),
        ...(signer ? { signer } : {}),
        ...(plan.operators ? { operators: plan.operators } : {}),
        expiresInMs: expiresIn(opts.expiresIn),
      };
      // Every check of the input before Redis is touched: bad input changes nothing.
      forceMark(input);
      // Only Redis: this is what an operator runs while the control cluster is down.
      const redis = await connectRedis(plan.redis, { maxRetriesPerRequest: 1, connectTimeout: 3_000, retryStrategy: () => null });
      redis.on('error', () => undefined);
      try {
        const r = await forceRoute(new RoutingStore({ redis, keyPrefix: plan.redis.keyPrefix }), input);
        process.stdout.write(opts.json ? `${JSON.stringify(r, null, 2)}\n` : `${formatRouteForce(r)}\n`);
      } finally {
        redis.disconnect();
      }
    },
  );
route
  .command('show')
  .argument('<unit>', 'namespace/<ns> or tenant/<ns>/<tenant>')
  .addOption(planOption())
  .option('--json', 'print the inspection as one JSON document')
  .option('--timeout <seconds>', 'how long to wait for the control cluster and the status query', '5')
  .description(
    "print the stored record as is, its parse (route, epoch, changedAt) or what is wrong with it, the entity workflow's route " +
      '(status query on the control cluster, or why it is unknown), the verdict and the fix (reads only)',
  )
  .addHelpText('after', '\nExamples:\n  npx cutover route show namespace/payments\n  npx cutover route show tenant/detections/acme --json')
  .action(async (unit: string, opts: { plan?: string; json?: boolean; timeout: string }) => {
    const plan = planFor(opts.plan);
    const target = routeUnit(plan, unit, 'show');
    const timeoutMs = seconds('--timeout', opts.timeout, 5) * 1000;
    const deps = await openRouteDeps(plan, { controlTimeoutMs: timeoutMs });
    try {
      const r = await inspectRoute({ ...deps, queryTimeoutMs: timeoutMs }, target);
      process.stdout.write(opts.json ? `${JSON.stringify(r, null, 2)}\n` : `${formatRouteInspection(r)}\n`);
    } finally {
      await deps.close();
    }
  });
route
  .command('repair')
  .argument('<unit>', 'namespace/<ns> or tenant/<ns>/<tenant>')
  .addOption(planOption())
  .option('--reason <text>', 'why (recorded in the record)')
  .option('--actor <name>', 'who repairs (default: the OS user)')
  .option('--json', 'print the record before and after as one JSON document')
  .option('--timeout <seconds>', 'how long to wait for the control cluster and the status query', '5')
  .description(
    "rewrite an invalid, missing, regressed or diverged record from the entity workflow's route, at an epoch above the stored " +
      "one and the workflow's, and announce it; refuses (exit 1) when the workflow's route cannot be read",
  )
  .addHelpText('after', '\nExample:\n  npx cutover route repair namespace/payments --reason "Redis failover lost the record"')
  .action(async (unit: string, opts: { plan?: string; reason?: string; actor?: string; json?: boolean; timeout: string }) => {
    const plan = planFor(opts.plan);
    const target = routeUnit(plan, unit, 'repair');
    const timeoutMs = seconds('--timeout', opts.timeout, 5) * 1000;
    const input = { target, actor: opts.actor ?? osUser(), ...(opts.reason !== undefined ? { reason: opts.reason } : {}) };
    checkRepairInput(input);
    const deps = await openRouteDeps(plan, { controlTimeoutMs: timeoutMs });
    try {
      const r = await repairRoute({ ...deps, queryTimeoutMs: timeoutMs }, input);
      process.stdout.write(opts.json ? `${JSON.stringify(r, null, 2)}\n` : `${formatRouteRepair(r)}\n`);
    } finally {
      await deps.close();
    }
  });

program
  .command('start')
  .argument('<plan>', 'plan file (YAML or JSON)')
  .option('--dry-run', 'print every step of the campaign and its minimum duration; start nothing')
  .option('--drill', 'a rehearsal: each batch goes to cutover, bakes with its gates, and is rolled back automatically')
  .option('--actor <name>', 'who starts the campaign (default: the OS user; the requester of its approvals)')
  .option(
    '--key <file>',
    "sign the start (default: $CUTOVER_KEY); required when the plan lists operators: the key is the approvals' requester",
  )
  .option('--expires-in <seconds>', 'how long the signature stays valid', '600')
  .option('--json', 'print the result as one JSON document')
  .description('start the campaign workflow of the plan (or attach to the running one: its ID is stable); it walks the rings')
  .addHelpText(
    'after',
    '\nExamples:\n  npx cutover start examples/plan.yaml --dry-run\n  npx cutover start cutover.yaml --drill\n' +
      '  npx cutover start cutover.yaml',
  )
  .action(
    async (file: string, opts: { dryRun?: boolean; drill?: boolean; actor?: string; json?: boolean; key?: string; expiresIn?: string }) => {
      const plan = loadPlan(file);
      if (opts.dryRun) {
        const r = dryRun(plan, opts.drill === true);
        process.stdout.write(opts.json ? `${JSON.stringify(r.campaign, null, 2)}\n` : `${r.text}\n`);
        return;
      }
      const signer = resolveKey(opts.key);
      const actor = actorFor(signer, opts.actor, osUser());
      if (actor.trim() === '')
        throw new CockpitInputError('--actor', 'empty actor', 'say who you are with --actor <name>, or leave it out to use the OS user');
      const expiresInMs = expiresIn(opts.expiresIn);
      const result = await withControl(plan, ({ client }) =>
        startCampaignFromPlan(client, plan, {
          actor,
          drill: opts.drill === true,
          ...(signer ? { signer } : {}),
          ...(expiresInMs !== undefined ? { expiresInMs } : {}),
        }),
      );
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
        return;
      }
      const what = result.drill ? 'drill' : 'campaign';
      process.stdout.write(
        `${what} ${result.plan}: ${result.started ? 'started' : 'already running (attached)'} — ` +
          `${result.units} unit(s), ${result.steps} step(s)\n` +
          `  workflow ${result.workflowId}\n` +
          `watch it:   npx cutover status --watch --plan ${file}\n` +
          `pause it:   npx cutover pause ${result.plan} --plan ${file}\n` +
          `roll back:  npx cutover rollback ${result.plan} --plan ${file} --reason "…"\n`,
      );
    },
  );

program
  .command('audit')
  .argument('<unit>', UNIT_ARG)
  .addOption(planOption())
  .option('--json', 'print the records and the verdict as one JSON document')
  .option('--verify', "check the hash chain, the workflow's head and every signature; exit 1 on any break")
  .description(
    "print a unit's (or a campaign's) audit log: every command accepted or refused, route change and gate verdict, " +
      'hash-chained; from its Redis stream and the workflow',
  )
  .addHelpText('after', '\nExamples:\n  npx cutover audit tenant/detections/acme --verify\n  npx cutover audit legacy-to-cloud --json')
  .action(async (unit: string, opts: { plan?: string; json?: boolean; verify?: boolean }) => {
    const plan = planFor(opts.plan);
    const target = resolveTarget(plan, unit);
    const redis = await connectRedis(plan.redis, { maxRetriesPerRequest: 1, connectTimeout: 3_000, retryStrategy: () => null });
    redis.on('error', () => undefined);
    try {
      // The workflow's own head and unmirrored records, when the control cluster answers; the stream alone otherwise.
      const workflow = await withControl(plan, async ({ client }) => {
        const handle = client.workflow.getHandle(target.workflowId);
        const status = target.kind === 'campaign' ? await queryCampaign(client, handle) : await queryStatus(client, handle);
        return status.audit;
      }).catch((err: unknown) => {
        progress(`note: the workflow did not answer (${(err as Error).message}); checking the Redis stream alone`);
        return undefined;
      });
      const report = await auditReport({
        operators: plan.operators,
        unit: target.name,
        workflowId: target.workflowId,
        stream: new AuditStream({ redis, keyPrefix: plan.redis.keyPrefix }),
        ...(workflow ? { workflow } : {}),
        ...(target.kind === 'unit'
          ? { routeLog: await new RoutingStore({ redis, keyPrefix: plan.redis.keyPrefix }).routeLog(target.name) }
          : {}),
      });
      process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatAudit(report, opts.verify === true)}\n`);
      if (opts.verify && !report.ok) process.exitCode = EXIT_FAILED;
    } finally {
      redis.disconnect();
    }
  });

const keys = program.command('keys').description('operator keys: Ed25519 key pairs that sign commands');
keys
  .command('new')
  .argument('<name>', "the operator's name, as the plan lists it under operators")
  .option('--dir <dir>', 'where to write <name>.key (mode 0600) and <name>.pub', path.join(os.homedir(), '.cutover', 'keys'))
  .description("write a new key pair and print the plan's operators entry for it")
  .addHelpText('after', '\nExamples:\n  npx cutover keys new alice\n  npx cutover keys new worker --dir /etc/cutover')
  .action((name: string, opts: { dir: string }) => {
    const k = newOperatorKey({ name, dir: opts.dir });
    process.stdout.write(
      `wrote ${k.keyFile} (secret, mode 0600: keep it to yourself) and ${k.pubFile}\n` +
        `add to the plan:\n  operators:\n    ${name}:\n      publicKey: ${k.publicKey}\n      roles: [operator, approver]\n` +
        `sign with: --key ${k.keyFile}  (or export CUTOVER_KEY=${k.keyFile})\n`,
    );
  });

program
  .command('runbook')
  .argument('<plan>', 'plan file (YAML or JSON)')
  .option('-o, --out <file>', 'write the Markdown to a file instead of stdout')
  .description('write the Markdown runbook of a plan: every step, its gates, approvers and rollback command')
  .addHelpText('after', '\nExample:\n  npx cutover runbook examples/plan.yaml -o RUNBOOK.md')
  .action(async (file: string, opts: { out?: string }) => {
    const plan = loadPlan(file);
    const md = renderRunbook(plan, { planPath: file });
    if (opts.out) {
      fs.writeFileSync(opts.out, md);
      progress(`runbook written to ${opts.out}`);
    } else process.stdout.write(md);
  });

program
  .command('demo')
  .option('--quick', 'minimal bakes, no UI; exit 0 only when the campaign completed and reconcile is clean')
  .option('--no-ui', 'run the dev servers headless')
  .option('--self-hosted', 'run `legacy` as temporal-server on PostgreSQL (4 shards), as examples/plan.yaml says')
  .option('--rate <starts-per-second>', 'application load through the multi-cluster client')
  .description(
    'the whole story on a local stack: clusters, Redis, Prometheus, the cutover worker, a sample application under load, ' +
      'and the example campaign, live',
  )
  .addHelpText('after', '\nExamples:\n  npm run demo\n  npm run demo -- --quick\n  npm run demo -- --self-hosted')
  .action(async (opts: { quick?: boolean; ui: boolean; selfHosted?: boolean; rate?: string }) => {
    const quick = opts.quick === true;
    const rate = opts.rate === undefined ? undefined : Number(opts.rate);
    if (rate !== undefined && !(Number.isFinite(rate) && rate > 0 && rate <= 500)) {
      throw new CockpitInputError(
        '--rate',
        `"${opts.rate}" is not a rate between 1 and 500 starts per second`,
        'pass e.g. --rate 20 (a 2-core dev server sustains ~250 starts/s)',
      );
    }
    const { formatDemoResult, runDemo } = lazy<typeof DemoModule>(require, '../src/demo/run');
    const stop = new AbortController();
    // Ctrl-C stops the demo and then everything it started (a second Ctrl-C kills at once).
    onInterrupt(async () => {
      progress('\ninterrupted: stopping the demo…');
      stop.abort();
      await demoDone.catch(() => undefined);
    });
    const demoDone = runDemo({
      quick,
      ui: quick ? false : opts.ui,
      selfHosted: opts.selfHosted === true,
      ...(rate !== undefined ? { rate } : {}),
      onLine: progress,
      out: process.stdout,
      signal: stop.signal,
      beforeTeardown: async (r) => {
        process.stdout.write(formatDemoResult(r));
        if (quick || stop.signal.aborted) return;
        process.stdout.write('\nThe stack stays up so you can explore it through the links above. Ctrl-C stops everything.\n');
        await new Promise<void>((resolve) => stop.signal.addEventListener('abort', () => resolve(), { once: true }));
      },
    });
    const result = await demoDone;
    if (!result.ok) process.exitCode = EXIT_FAILED;
  });

// ── Payload encryption ──────────────────────────────────────────────────────────────────────────

/** What the codec server enforces, for the operator (the token's variable, never the token). */
function describeCodecServer(server: PlanCodecServer): string {
  const auth =
    server.auth.kind === 'token'
      ? `bearer token from $${server.auth.tokenEnv}`
      : `JWTs (RS256) checked against ${server.auth.jwksUrl}` +
        `${server.auth.audience ? `, aud ${server.auth.audience}` : ''}${server.auth.issuer ? `, iss ${server.auth.issuer}` : ''}`;
  const keys = server.keyIds.map((id) => (id === server.current ? `${id} (current)` : id)).join(', ');
  return (
    `codec server on ${server.url}\n` +
    `  auth:        ${auth}\n` +
    `  origins:     ${server.origins.length ? server.origins.join(', ') : '(none: no browser may call it; the CLI and curl may)'}\n` +
    `  credentials: ${server.includeCredentials ? 'allowed (the UI\'s "include cross-origin credentials")' : 'not allowed'}\n` +
    (server.signInUrl ? `  sign-in:     ${server.signInUrl} (browsers sign in once with the token)\n` : '') +
    `  max body:    ${server.maxBodyBytes} bytes\n` +
    `  keys:        ${keys}\n`
  );
}

program
  .command('codec-server')
  .addOption(planOption())
  .option('--listen <host:port>', "where to listen (default: the plan's codec.server.listen, else 127.0.0.1:8888)")
  .option('--origin <url...>', "a Temporal UI origin allowed beside the plan's codec.server.origins (repeatable)")
  .description(
    "decode (and encode) payloads for the Temporal UI and the temporal CLI with the plan's codec keys, " +
      'behind a bearer token or JWTs and CORS for the UI origins; runs until Ctrl-C',
  )
  .addHelpText(
    'after',
    '\nExamples:\n' +
      '  export CUTOVER_CODEC_TOKEN=$(openssl rand -hex 32)\n' +
      '  npx cutover codec-server --plan cutover.yaml\n' +
      '  npx cutover codec-server --listen 127.0.0.1:8899 --origin http://localhost:8233\n' +
      '  temporal workflow show -w <id> --codec-endpoint http://127.0.0.1:8888 --codec-auth "Bearer $CUTOVER_CODEC_TOKEN"',
  )
  .action(async (opts: { plan?: string; listen?: string; origin?: string[] }) => {
    const plan = planFor(opts.plan);
    const { startPlanCodecServer } = lazy<typeof CodecServerModule>(require, '../src/security/plan-codec-server');
    const server = await startPlanCodecServer(plan, {
      listen: opts.listen,
      extraOrigins: opts.origin,
      log: progress,
      logger: { warn: (message: string) => progress(`codec: ${message}`) },
    });
    process.stdout.write(`${describeCodecServer(server)}UI codec endpoint: ${server.url}\nCtrl-C to stop\n`);
    await new Promise<void>((resolve) => {
      for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => resolve());
    });
    await server.close();
    progress('codec server stopped');
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
