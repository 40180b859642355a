/**
 * `cutover route show|repair <unit>`: a unit's routing record as stored in Redis, as parsed, and as the
 * unit's entity workflow — the source of truth for its route — holds it (its `status` query on the
 * control cluster); and the repair of a record that is invalid, missing, regressed or diverged, rewritten
 * from the workflow's route at an epoch above both the stored one and the workflow's, through the same
 * Lua write-and-publish path as the workflow's own compare-and-set (src/routing/store.ts).
 *
 * `judgeRoute` and `repairPlan` are pure; `inspectRoute` and `repairRoute` read and write.
 */
import * as net from 'node:net';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Redis } from 'ioredis';
import { ClusterConnectError } from '../clusters/connect';
import type { Plan } from '../config/types';
import type { Phase, UnitStatus } from '../domain/migration';
import type { OperatorSecret } from '../operators/keys';
import { operatorKeysOf } from '../operators/policy';
import { verifySigned } from '../operators/signing';
import { connectRedis } from '../routing/connect-redis';
import { RoutingStore, salvageEpoch } from '../routing/store';
import type { ForcedMark, Route, RouteChange, RoutingRecord } from '../routing/types';
import { FORCE_COMMAND } from '../workflows/route-watch-state';
import { queryStatus } from './commands';
import { openControl, type ControlClient } from './control';
import { CockpitInputError, ControlUnavailableError, RouteRepairRefusedError } from './errors';
import { DEFAULT_COMMAND_TTL_MS } from './sign';
import type { CockpitTarget } from './target';

/** Reads an epoch out of an invalid value when it has a usable one (so a repair goes above it too). */
export { salvageEpoch };

/** A unit target (not the campaign), as `resolveTarget` gives it. */
export type UnitTarget = Extract<CockpitTarget, { kind: 'unit' }>;

/** The record as Redis holds it. */
export interface StoredRoute {
  key: string;
  /** The value as stored; null when there is none. */
  raw: string | null;
  /** The parsed record, when it is valid. */
  record?: RoutingRecord;
  /** What is wrong with it, when it is not. */
  problem?: string;
}

/** The unit's route as its entity workflow holds it (its `status` query), or why it could not be read. */
export interface WorkflowRoute {
  workflowId: string;
  state: 'running' | 'closed' | 'not-started' | 'unreachable';
  phase?: Phase;
  route?: { route: Route; epoch: number; sourceWorkersMayStop: boolean };
  error?: string;
}

/** What the record is, judged against the workflow's route. */
export type RouteVerdict =
  /** The record says what the workflow says (or restates it at a higher epoch after a repair). */
  | 'consistent'
  /** No record, and the workflow has not created one yet: the unit routes to the source by design. */
  | 'not-created'
  /** Repairable from the workflow: */
  | 'invalid'
  | 'missing'
  | 'regressed'
  | 'diverged'
  /** Newer than the workflow's route: a change in flight, or written by something else. Not repaired. */
  | 'ahead'
  /** Forced to the source by an operator (`cutover route <unit> source --force`), not adopted by the workflow yet. Not repaired. */
  | 'forced'
  /** The workflow's route could not be read: judged on the record alone. */
  | 'unverified';

/** Verdicts `repairRoute` rewrites. */
export const REPAIRABLE: readonly RouteVerdict[] = ['invalid', 'missing', 'regressed', 'diverged'];

/** One unit's record, its parse, the workflow's route and the verdict. */
export interface RouteInspection {
  unit: string;
  stored: StoredRoute;
  workflow: WorkflowRoute;
  verdict: RouteVerdict;
  /** The verdict in a sentence. */
  explanation: string;
  /** The command that fixes it, when something needs fixing. */
  fix?: string;
}

/** The break-glass command for when the workflow's route cannot be read (needs only Redis). */
export function forceHint(unit: string): string {
  return `\`cutover route ${unit} source --force --reason "…"\` (sends every new start of the unit to the source without the workflow)`;
}

function sameRoute(a: Route, b: Route): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Judges the stored record against the workflow's route. Pure. */
export function judgeRoute(
  unit: string,
  stored: StoredRoute,
  workflow: WorkflowRoute,
): Omit<RouteInspection, 'unit' | 'stored' | 'workflow'> {
  const repair = `cutover route repair ${unit}`;
  const wf = workflow.route;
  if (!wf) {
    if (workflow.state === 'not-started') {
      if (stored.raw === null)
        return { verdict: 'not-created', explanation: 'no record and no workflow: the unit routes to the source by design' };
      return {
        verdict: 'unverified',
        explanation:
          `the unit's workflow ${workflow.workflowId} was never started on the control cluster, so nothing backs this record` +
          `${stored.problem ? `, which is invalid (${stored.problem})` : ''}`,
        fix: `start the plan (\`cutover start <plan>\`), or send the unit's starts to the source with ${forceHint(unit)}`,
      };
    }
    const why = workflow.error ?? `the workflow is ${workflow.state}`;
    const broken = stored.problem
      ? `the record is invalid (${stored.problem})`
      : stored.raw === null
        ? 'there is no record'
        : 'the record parses';
    return {
      verdict: 'unverified',
      explanation: `${broken}; the workflow's route is unknown: ${why}`,
      ...(stored.problem || stored.raw === null
        ? { fix: `bring the control cluster and the cutover worker back and run \`${repair}\`, or use ${forceHint(unit)}` }
        : {}),
    };
  }
  const at = `the workflow's route is at epoch ${wf.epoch}`;
  if (stored.problem) return { verdict: 'invalid', explanation: `the record is invalid (${stored.problem}); ${at}`, fix: repair };
  const rec = stored.record;
  if (!rec) {
    if (wf.epoch === 0)
      return {
        verdict: 'not-created',
        explanation: 'no record yet: the workflow creates it at provisioned; until then the unit routes to the source',
      };
    return { verdict: 'missing', explanation: `the record is missing (Redis lost it, or it was deleted); ${at}`, fix: repair };
  }
  const same = sameRoute(rec.route, wf.route) && rec.sourceWorkersMayStop === wf.sourceWorkersMayStop;
  if (rec.epoch === wf.epoch) {
    if (same) return { verdict: 'consistent', explanation: 'the record says what the workflow says' };
    return {
      verdict: 'diverged',
      explanation: `the record holds another route than the workflow at the same epoch ${wf.epoch}`,
      fix: repair,
    };
  }
  if (rec.epoch < wf.epoch && rec.forced) return forcedVerdict(rec, wf.epoch);
  if (rec.epoch < wf.epoch) {
    return {
      verdict: 'regressed',
      explanation: `the record is at epoch ${rec.epoch}, behind the workflow's ${wf.epoch} (a Redis failover lost writes?)`,
      fix: repair,
    };
  }
  if (rec.restoredFrom === wf.epoch && same) {
    return {
      verdict: 'consistent',
      explanation:
        `the record restates the workflow's route (epoch ${wf.epoch}) at epoch ${rec.epoch}; ` +
        'the workflow carries on from it at its next change',
    };
  }
  if (rec.forced) return forcedVerdict(rec, wf.epoch);
  return {
    verdict: 'ahead',
    explanation:
      `the record (epoch ${rec.epoch}) is newer than the workflow's route (epoch ${wf.epoch}): a route change may be in flight ` +
      '(look again in a moment), or something other than the workflow wrote it — `cutover status` shows the unit',
  };
}

/** A record an operator forced to the source that the workflow has not adopted yet: never repaired over. */
function forcedVerdict(rec: RoutingRecord, wfEpoch: number): Omit<RouteInspection, 'unit' | 'stored' | 'workflow'> {
  const f = rec.forced!;
  return {
    verdict: 'forced',
    explanation:
      `the record (epoch ${rec.epoch}) was forced to the source by ${f.by} at ${f.at} (${f.reason}); ` +
      `the workflow (epoch ${wfEpoch}) adopts it at its next check and rolls back — it never writes over it`,
  };
}

/** What a repair writes: the workflow's route at an epoch above the stored one (or any epoch it shows) and the workflow's. Pure. */
export function repairPlan(
  inspection: RouteInspection,
  actor: string,
  reason: string | undefined,
): { epoch: number; change: RouteChange } | undefined {
  const wf = inspection.workflow.route;
  if (!wf || !REPAIRABLE.includes(inspection.verdict)) return undefined;
  const stored = Math.max(inspection.stored.record?.epoch ?? 0, salvageEpoch(inspection.stored.raw));
  const why = reason?.trim() ? reason.trim() : `restored from ${inspection.workflow.workflowId} at epoch ${wf.epoch}`;
  return {
    epoch: Math.max(stored, wf.epoch) + 1,
    change: {
      route: wf.route,
      sourceWorkersMayStop: wf.sourceWorkersMayStop,
      actor,
      reason: `cutover route repair (${inspection.verdict} record): ${why}`,
      restoredFrom: wf.epoch,
    },
  };
}

/** The workflow's status route (`side` | `percent` | `hold`) as a record's route. */
export function statusRoute(route: UnitStatus['route']): Route {
  if (route.side) return { kind: 'side', side: route.side };
  if (route.percent !== undefined) return { kind: 'percent', basisPoints: Math.round(route.percent * 100) };
  return { kind: 'hold' };
}

/** What `route show` and `route repair` need: the plan's Redis, and the control cluster when it answers. */
export interface RouteDeps {
  store: RoutingStore;
  /** The control namespace's client; absent when the cluster could not be reached. */
  control?: Client;
  /** Why the control cluster could not be reached. */
  controlError?: string;
  /** Bound on the status query (ms). */
  queryTimeoutMs?: number;
}

/** Reads the unit's record and the workflow's route, and judges them. */
export async function inspectRoute(deps: RouteDeps, target: UnitTarget): Promise<RouteInspection> {
  const [read, workflow] = await Promise.all([deps.store.read(target.name), workflowRoute(deps, target)]);
  const stored: StoredRoute = {
    key: deps.store.routeKey(target.name),
    raw: read.raw,
    ...(read.record ? { record: read.record } : {}),
    ...(read.invalid ? { problem: read.invalid.problem } : {}),
  };
  return { unit: target.name, stored, workflow, ...judgeRoute(target.name, stored, workflow) };
}

async function workflowRoute(deps: RouteDeps, target: UnitTarget): Promise<WorkflowRoute> {
  const base = { workflowId: target.workflowId };
  if (!deps.control) return { ...base, state: 'unreachable', error: deps.controlError ?? 'the control cluster is unreachable' };
  const handle = deps.control.workflow.getHandle(target.workflowId);
  let running: boolean;
  try {
    running = (await handle.describe()).status.name === 'RUNNING';
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return { ...base, state: 'not-started' };
    return { ...base, state: 'unreachable', error: `the control cluster did not answer: ${(err as Error).message}` };
  }
  try {
    const status = await queryStatus(deps.control, handle, deps.queryTimeoutMs);
    return {
      ...base,
      state: running ? 'running' : 'closed',
      phase: status.phase,
      route: { route: statusRoute(status.route), epoch: status.route.epoch, sourceWorkersMayStop: status.route.sourceWorkersMayStop },
    };
  } catch (err) {
    return {
      ...base,
      state: 'unreachable',
      error: `its status query was not answered (is the cutover worker running? \`cutover worker\`): ${(err as Error).message}`,
    };
  }
}

/** A repair's outcome: the inspection before, and the record written (absent when nothing needed repair). */
export interface RouteRepairResult {
  unit: string;
  repaired: boolean;
  before: RouteInspection;
  after?: RoutingRecord;
  /** The channel the change was announced on. */
  channel: string;
}

/** Input of {@link repairRoute}. */
export interface RouteRepairInput {
  target: UnitTarget;
  actor: string;
  reason?: string;
}

/** Checks the repair's input before anything is read (bad input names the flag). */
export function checkRepairInput(input: Pick<RouteRepairInput, 'actor' | 'reason'>): void {
  if (!input.actor || input.actor.trim() === '')
    throw new CockpitInputError('--actor', 'empty actor', 'say who you are with --actor <name>, or leave it out to use the OS user');
  // The entity workflows write as `cutover/<unit>`; a repair in their name would read as their own change.
  if (input.actor.startsWith('cutover/'))
    throw new CockpitInputError(
      '--actor',
      `"${input.actor}" is the name the unit workflows write under`,
      'name yourself, e.g. --actor alice',
    );
  if (input.reason !== undefined && input.reason.trim() === '')
    throw new CockpitInputError('--reason', 'empty reason', 'say why, e.g. --reason "Redis failover lost the record", or leave it out');
}

/**
 * Rewrites an invalid, missing, regressed or diverged record from the workflow's route, at an epoch
 * above both, only if the record still holds what was read (else nothing is written: run it again).
 * Returns without writing when the record is consistent or not created yet; refuses (throws) when the
 * workflow's route cannot be read or the record is ahead of it.
 */
export async function repairRoute(deps: RouteDeps, input: RouteRepairInput): Promise<RouteRepairResult> {
  checkRepairInput(input);
  const { target } = input;
  const before = await inspectRoute(deps, target);
  const result = { unit: target.name, before, channel: deps.store.channel };
  if (before.verdict === 'consistent' || before.verdict === 'not-created') return { ...result, repaired: false };
  if (before.verdict === 'unverified') {
    const why = before.workflow.error ?? `its workflow ${before.workflow.workflowId} was never started`;
    const message =
      `cannot repair ${target.name}: the workflow's route, which a repair restores, is unknown — ${why}. ` +
      `Nothing was written. Fix: bring the control cluster and the cutover worker back and run it again, ` +
      `or send the unit's new starts to the source with ${forceHint(target.name)}`;
    if (before.workflow.state === 'unreachable') throw new ControlUnavailableError(message);
    throw new RouteRepairRefusedError(target.name, message);
  }
  const plan = repairPlan(before, input.actor, input.reason);
  if (!plan) throw new RouteRepairRefusedError(target.name, `not repaired: ${before.explanation}; nothing was written`);
  const res = await deps.store.restore(target.name, before.stored.raw, plan.epoch, plan.change);
  if (!res.ok) {
    throw new RouteRepairRefusedError(
      target.name,
      `the record of ${target.name} changed while it was being repaired; nothing was written — run \`cutover route show ${target.name}\` ` +
        'and repair again if it still needs it',
    );
  }
  return { ...result, repaired: true, after: res.record };
}

// ── Break-glass: force the route to the source without the workflow ──────────────────────────────

/** Input of {@link forceRoute}: `cutover route <unit> <side> --force --reason …`. */
export interface RouteForceInput {
  target: UnitTarget;
  /** The `<side>` argument: only `source` may be forced. */
  side: string;
  /** `--force`: the operator knows this writes without the workflow. */
  force: boolean;
  reason?: string;
  actor: string;
  /** The operator's key (`--key`, `$CUTOVER_KEY`); required when the plan lists operators. */
  signer?: OperatorSecret;
  /** The plan's operators (a signature is checked against them before anything is written). */
  operators?: Plan['operators'];
  expiresInMs?: number;
  /** Clock (ms), for tests. */
  now?: () => number;
}

/** A forced route's outcome. */
export interface RouteForceResult {
  unit: string;
  /** False when the record was already forced to the source (nothing written). */
  forced: boolean;
  before: StoredRoute;
  after: RoutingRecord;
  channel: string;
  /** Things the operator should know (a completed unit's source workers may have stopped). */
  warnings: string[];
}

/**
 * Checks a forced route's input and builds its mark (signed when a key is given, and checked against the
 * plan's operators): every problem is bad input, found before Redis is read. Pure apart from the clock.
 */
export function forceMark(input: RouteForceInput): ForcedMark {
  if (input.side !== 'source')
    throw new CockpitInputError(
      '<side>',
      `"${input.side}" cannot be forced`,
      `only \`source\` is a way back without the workflow: \`cutover route ${input.target.name} source --force --reason "…"\``,
    );
  if (!input.force)
    throw new CockpitInputError(
      '--force',
      "required: this writes the unit's routing record without its workflow (break-glass)",
      `add --force, or, while the control cluster answers, roll back with \`cutover rollback ${input.target.name} --reason "…"\``,
    );
  if (input.reason === undefined || input.reason.trim() === '')
    throw new CockpitInputError(
      '--reason',
      'required: a forced route records why',
      'say why, e.g. --reason "control cluster down, errors on the target"',
    );
  checkRepairInput({ actor: input.actor });
  const operators = operatorKeysOf(input.operators);
  if (operators.length > 0 && !input.signer)
    throw new CockpitInputError(
      '--key',
      'the plan lists operators: a forced route must be signed',
      'pass --key <file> (or set $CUTOVER_KEY) with a key the plan lists under operators with role operator',
    );
  const by = input.signer?.name ?? input.actor;
  const reason = input.reason.trim();
  const now = input.now?.() ?? Date.now();
  const mark: ForcedMark = { by, reason, at: new Date(now).toISOString() };
  if (!input.signer) return mark;
  const signature = input.signer.sign({
    command: FORCE_COMMAND,
    commandId: `force-${now}`,
    workflowId: input.target.workflowId,
    args: { unit: input.target.name, route: 'source', reason },
    issuedAt: now,
    expiresAt: now + (input.expiresInMs ?? DEFAULT_COMMAND_TTL_MS),
  });
  if (operators.length > 0) {
    const v = verifySigned({ signature }, operators, {
      command: FORCE_COMMAND,
      workflowId: input.target.workflowId,
      runIds: [],
      runOptional: true,
      now,
      roles: ['operator'],
    });
    if (!v.ok)
      throw new CockpitInputError(
        '--key',
        v.reason.replace(/^signature: /, ''),
        'sign with a key the plan lists under operators with role operator',
      );
  }
  return { ...mark, signer: { name: input.signer.name, publicKey: input.signer.publicKey, body: signature.body, sig: signature.sig } };
}

/** The stored value as `route show` prints it. */
function storedOf(store: RoutingStore, unit: string, read: Awaited<ReturnType<RoutingStore['read']>>): StoredRoute {
  return {
    key: store.routeKey(unit),
    raw: read.raw,
    ...(read.record ? { record: read.record } : {}),
    ...(read.invalid ? { problem: read.invalid.problem } : {}),
  };
}

/**
 * Writes the unit's record all on the source, marked `forced`, at an epoch above the stored one (or any
 * epoch an invalid value or the route log shows), with the store's checks and in its one write-and-publish
 * script (so the route log has it and clients are told at once). Needs only Redis. The unit's workflow,
 * when it runs (or comes back), adopts the record and rolls back; it never writes over it. A record already
 * forced to the source is left as it is.
 */
export async function forceRoute(store: RoutingStore, input: RouteForceInput): Promise<RouteForceResult> {
  const mark = forceMark(input);
  const unit = input.target.name;
  for (let attempt = 0; attempt < 3; attempt++) {
    const read = await store.read(unit);
    const before = storedOf(store, unit, read);
    const result = { unit, before, channel: store.channel, warnings: [] as string[] };
    const cur = read.record;
    if (cur?.forced) return { ...result, forced: false, after: cur };
    if (cur?.sourceWorkersMayStop)
      result.warnings.push(`${unit} was final (its source workers may stop): start the source's workers before new starts arrive there`);
    const epoch = Math.max(cur?.epoch ?? 0, salvageEpoch(read.raw), await store.lastLoggedEpoch(unit)) + 1;
    const res = await store.restore(unit, read.raw, epoch, {
      route: { kind: 'side', side: 'source' },
      sourceWorkersMayStop: false,
      actor: mark.by,
      reason: `forced to the source: ${mark.reason}`,
      forced: mark,
    });
    if (res.ok) return { ...result, forced: true, after: res.record };
  }
  throw new RouteRepairRefusedError(
    unit,
    `the record of ${unit} kept changing while it was being forced; nothing was written — run it again (\`cutover route show ${unit}\`)`,
  );
}

/** The text of a forced route. */
export function formatRouteForce(r: RouteForceResult): string {
  const f = r.after.forced;
  const by = f ? `${f.by}${f.signer ? ` (signed ${f.signer.name})` : ''}` : r.after.changedBy;
  const before = r.before.record
    ? recordWords(r.before.record)
    : r.before.problem
      ? `INVALID — ${r.before.problem}: ${shownRaw(r.before.raw)}`
      : '(no record)';
  return [
    r.forced
      ? `forced ${r.unit} to the source by ${by}: ${f?.reason ?? ''}`
      : `${r.unit} is already forced to the source by ${by} (${f?.at ?? r.after.changedAt}): nothing written`,
    `  before:  ${before}`,
    `  after:   ${recordWords(r.after)}`,
    ...(r.forced
      ? [`  announced on ${r.channel}: routed clients read the record at once (or at their next refresh); new starts go to the source`]
      : []),
    "  the unit's workflow adopts it at its next check and rolls back; it never writes over it",
    ...r.warnings.map((w) => `  warning: ${w}`),
  ].join('\n');
}

/** Opens what the route verbs need; the control cluster is optional (its absence is reported, not thrown). */
export async function openRouteDeps(plan: Plan, opts: { controlTimeoutMs?: number } = {}): Promise<RouteDeps & { close(): Promise<void> }> {
  const redis: Redis = await connectRedis(plan.redis, { maxRetriesPerRequest: 1, connectTimeout: 3_000, retryStrategy: () => null });
  redis.on('error', () => undefined);
  let control: ControlClient | undefined;
  let controlError: string | undefined;
  try {
    control = await openControlQuickly(plan, opts.controlTimeoutMs ?? 10_000);
  } catch (err) {
    // Refused credentials are the operator's to fix and fail the command; an outage is reported.
    if (err instanceof ClusterConnectError && err.failure !== 'unreachable') {
      redis.disconnect();
      throw err;
    }
    controlError = (err as Error).message;
  }
  return {
    store: new RoutingStore({ redis, keyPrefix: plan.redis.keyPrefix }),
    ...(control ? { control: control.client } : { controlError }),
    close: async () => {
      await control?.close();
      redis.disconnect();
    },
  };
}

/**
 * Opens the control client after a TCP probe of its address: a cluster that is down is reported within
 * the probe's bound, where the client's own connect would wait its 10 s deadline — the route verbs are
 * what an operator runs while the control cluster is down.
 */
async function openControlQuickly(plan: Plan, timeoutMs: number): Promise<ControlClient> {
  const address = plan.clusters[plan.control.cluster]!.address;
  const problem = await tcpProbe(address, Math.min(timeoutMs, 3_000));
  if (problem) {
    throw new ControlUnavailableError(`control cluster ${plan.control.cluster} at ${address} is unreachable (${problem})`);
  }
  return await openControl(plan);
}

/** Connects to `host:port` and hangs up; the reason when it could not, undefined when it could. */
export function tcpProbe(address: string, timeoutMs: number): Promise<string | undefined> {
  const m = /^\[?(.*?)\]?:(\d+)$/.exec(address);
  if (!m) return Promise.resolve(undefined); // let the client explain an address it cannot use
  return new Promise((resolve) => {
    const socket = net.connect({ host: m[1]!, port: Number(m[2]) });
    const done = (why: string | undefined) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(why);
    };
    const timer = setTimeout(() => done(`no answer within ${timeoutMs} ms`), timeoutMs);
    socket.once('connect', () => done(undefined));
    socket.once('error', (err: NodeJS.ErrnoException) => done(err.code ?? err.message));
  });
}

// ── Text output ──────────────────────────────────────────────────────────────────────────────────

/** A route in words: `side target`, `percent 10% on the target`, `hold`. */
export function routeWords(route: Route): string {
  if (route.kind === 'side') return `all on the ${route.side}`;
  if (route.kind === 'percent') return `${route.basisPoints / 100}% on the target`;
  return 'hold (starts wait)';
}

function recordWords(r: RoutingRecord): string {
  return (
    `${routeWords(r.route)} · epoch ${r.epoch}` +
    `${r.restoredFrom !== undefined ? ` (restates the workflow's epoch ${r.restoredFrom})` : ''}` +
    `${r.forced ? ` · FORCED by ${r.forced.by}${r.forced.signer ? ` (signed ${r.forced.signer.name})` : ''} at ${r.forced.at}` : ''}` +
    ` · source workers may stop: ${r.sourceWorkersMayStop ? 'yes' : 'no'} · changed ${r.changedAt} by ${r.changedBy}` +
    `${r.reason ? ` (${r.reason})` : ''}`
  );
}

/** A stored value as printed: as is when it is one printable line, else quoted. */
function shownRaw(raw: string | null): string {
  if (raw === null) return '(none)';
  return /^[^\u0000-\u001f\u007f]*$/.test(raw) ? raw : JSON.stringify(raw);
}

/** The text of `route show`. */
export function formatRouteInspection(i: RouteInspection): string {
  const wf = i.workflow;
  const where = `${wf.workflowId} (${wf.state}${wf.phase ? `, phase ${wf.phase}` : ''})`;
  const mayStop = wf.route?.sourceWorkersMayStop ? 'yes' : 'no';
  const wfText = wf.route
    ? `${where}: ${routeWords(wf.route.route)} · epoch ${wf.route.epoch} · source workers may stop: ${mayStop}`
    : `${where}: route unknown${wf.error ? ` — ${wf.error}` : ''}`;
  const parsed = i.stored.record ? recordWords(i.stored.record) : i.stored.problem ? `INVALID — ${i.stored.problem}` : '(no record)';
  return [
    `${i.unit} — routing record ${i.stored.key}`,
    `  stored:    ${shownRaw(i.stored.raw)}`,
    `  parsed:    ${parsed}`,
    `  workflow:  ${wfText}`,
    `  verdict:   ${i.verdict} — ${i.explanation}`,
    ...(i.fix ? [`  fix:       ${i.fix}`] : []),
  ].join('\n');
}

/** The text of `route repair`. */
export function formatRouteRepair(r: RouteRepairResult): string {
  if (!r.repaired || !r.after) return `${r.unit}: nothing to repair — ${r.before.explanation}`;
  const before = r.before.stored.record
    ? recordWords(r.before.stored.record)
    : r.before.stored.problem
      ? `INVALID — ${r.before.stored.problem}: ${shownRaw(r.before.stored.raw)}`
      : '(no record)';
  return [
    `repaired ${r.unit} (the record was ${r.before.verdict}) from ${r.before.workflow.workflowId}`,
    `  before:  ${before}`,
    `  after:   ${recordWords(r.after)}`,
    `  announced on ${r.channel}: clients read the record again at once (or at their next refresh)`,
  ].join('\n');
}
