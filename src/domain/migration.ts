/**
 * Types of the entity workflows (namespace / tenant migration): their input, their carried state,
 * the observations activities return, and the status query's shape. Pure types and tiny helpers:
 * imported by the workflows, the planner, the activities, the CLI and tests.
 */
import type { AuditLog, AuditRecord } from '../audit/chain';
import type { Truncated } from './bounds';
import type { OperatorKey } from '../operators/signing';
import type { FORWARD_PHASES, PHASES } from './constants';
import type { UnitRef } from './ids';
import type { TenantFilter } from './selectors';

export type { TenantFilter } from './selectors';

/** A unit's phase (docs/design.md, "A unit's life"). */
export type Phase = (typeof PHASES)[number];
/** A phase of the forward path. */
export type ForwardPhase = (typeof FORWARD_PHASES)[number];

/** Which cluster of a move: where the work runs today, or where it is going. */
export type Side = 'source' | 'target';

/**
 * Everything an entity workflow needs, passed as workflow input (workflows never read config).
 * Durations are milliseconds.
 */
export interface UnitMigrationInput {
  unit: UnitRef;
  /** Cluster names in the plan, for display. */
  sourceCluster: string;
  targetCluster: string;
  sourceNamespace: string;
  targetNamespace: string;
  strategy: 'dual-workers' | 'drain-and-switch';
  /** The unit's application task queues (counts and pollers are scoped to them). */
  taskQueues: string[];
  /** Tenant units only: how the tenant's workflows are found. */
  tenant?: TenantFilter;
  /** Canary steps in percent on the target, ascending (dual-workers only). */
  percentSteps: number[];
  /** Bake after each canary step. */
  bakeMs: number;
  /** How long the source may take to drain before the stragglers policy applies. */
  drainDeadlineMs: number;
  /** How often the drain is sampled. */
  drainPollMs: number;
  /** drain-and-switch: the longest new starts are held before the route switches anyway. */
  holdTimeoutMs: number;
  /**
   * The routed clients' staleness bound (plan `redis.clientStaleness`): a client cut off from Redis may
   * route by its cached routes this long. A drain is complete only this long after the route's last
   * change, so no stale client can still start work on the drained side. Unset: no wait (inputs
   * written before the field existed replay as they ran).
   */
  clientStalenessMs?: number;
  /**
   * Past the drain deadline: `wait`, `report`, `terminate` (after an approval) or `handoff` (runs that use
   * the `cutover/workflow` helper move to the other side with their state; the others are reported).
   */
  stragglers: 'wait' | 'report' | 'terminate' | 'handoff';
  /** `handoff`: how long one activity waits for asked runs to reach a safe point before the unit counts again (default 30 s). */
  handoffWaitMs?: number;
  onGateFailure: 'rollback' | 'hold';
  probe: ProbeSettings;
  /** `auto`: phases follow each other; `manual`: each phase waits for an `advance` signal. */
  advanceMode: 'auto' | 'manual';
  campaign?: string;
  ring?: string;
  /** Who asked for the migration (recorded as the actor of `pending`). */
  actor?: string;
  /** Continue-as-new once the history is longer than this (besides the server's suggestion). */
  maxHistoryEvents?: number;
  /** The unit's schedules (those its tenant selector or namespace picks). Default `{ backfill: 'gap' }`. */
  schedules?: ScheduleSettings;
  /**
   * The plan's operators and their public keys. Listed: forward commands must be signed (src/operators/policy.ts);
   * absent or empty: every command is taken on its word.
   */
  operators?: OperatorKey[];
  /** How long an approval to terminate stragglers stays open (ms; default one hour). */
  approvalTtlMs?: number;
  /**
   * How often the unit reads its routing record back while it waits (plan `redis.routeCheck`; default
   * `DEFAULT_ROUTE_CHECK_MS`): a missing or regressed record is restored within this bound.
   */
  routeCheckMs?: number;
  /**
   * Timing of the quick steps' activities (preflight, route changes, counts, reconcile, stragglers):
   * `startToCloseMs` bounds one attempt (default 30 s), `maxRetryIntervalMs` the backoff between attempts
   * (default 10 s). Either way a step gets 30 attempts before the unit is held in `failed`. Unset: the
   * defaults, as for units started before the field existed.
   */
  quickSteps?: QuickStepTiming;
  /**
   * The placement sweep (src/routing/sweep.ts): once per route of a moving unit, records every run open
   * on either cluster in Redis, so routed starts skip their look at the other cluster. The placements
   * and the marker live this long (the routed clients' placement TTL). Unset: no sweep (inputs written
   * before the field existed replay as they ran).
   */
  placementSweepTtlMs?: number;
  /**
   * How long a completed unit stays reversible (plan `defaults.finalizeAfter`): milliseconds after it
   * completed, or `never` (until `cutover finalize`). Until then its source workers keep running and a
   * rollback with two approvals moves it back; then it is final. Unset or 0: final on completion, as
   * units started before the field existed (their histories replay as they ran).
   */
  finalizeAfterMs?: number | 'never';
}

/** See {@link UnitMigrationInput.quickSteps}. */
export interface QuickStepTiming {
  startToCloseMs?: number;
  maxRetryIntervalMs?: number;
}

/** How a unit's schedules move (each one active on exactly one cluster). */
export interface ScheduleSettings {
  /**
   * `gap`: fires that fell between the pause on one cluster and the unpause on the other are
   * backfilled; `none`: they are only reported.
   */
  backfill: 'gap' | 'none';
}

/** The synthetic probe gate run on the target in `shadow`. */
export interface ProbeSettings {
  /** How many probe workflows to run (0 disables the probe). */
  workflows: number;
  /** Share that must succeed, 0..1. */
  minSuccess: number;
  /** Optional p99 latency bound. */
  maxP99Ms?: number;
  /** Task queue of the probe worker on the target (defaults to PROBE_TASK_QUEUE). */
  taskQueue?: string;
  /** How long to wait for the probes before counting them failed. */
  timeoutMs?: number;
}

/** A unit's route as the workflow sees it (mirrors the routing record; `epoch` 0 means no record yet). */
export interface RouteView {
  kind: 'side' | 'hold' | 'percent';
  side?: Side;
  /** Share on the target in percent (kind 'percent'). */
  percent?: number;
  epoch: number;
  sourceWorkersMayStop: boolean;
}

/**
 * The break-glass mark of a record written by `cutover route <unit> source --force` (no workflow involved):
 * who, why, when, and the operator's signature when the plan lists operators. The unit's workflow adopts
 * such a record and never writes over it.
 */
export interface ForcedMark {
  by: string;
  reason: string;
  /** ISO 8601, the operator's clock. */
  at: string;
  /** The signed `route-force` body and its signature, as `cutover audit` re-verifies them. */
  signer?: { name: string; publicKey: string; body: string; sig: string };
}

/** The routing record as an entity workflow read it back (src/activities/routing.ts `readRoute`). */
export interface RouteSeen {
  /** Why it was read: the periodic check, or a route change that lost its compare-and-set. */
  from: 'check' | 'change';
  /** SHA-1 of the stored value (absent: there is none); a restore writes only over exactly this value. */
  digest?: string;
  /** The record, when the value is one. */
  record?: {
    view: RouteView;
    changedBy: string;
    changedAt: string;
    restoredFrom?: number;
    forced?: ForcedMark;
  };
  /** The value is not a valid record: what is wrong, and an epoch still legible in it (0 when none). */
  invalid?: { problem: string; epoch: number };
}

/**
 * How the unit keeps its routing record true (absent on runs begun before it, which replay without it):
 * it reads the record back every `routeCheckMs` and restores a missing, invalid or regressed one above
 * every epoch it has seen; it adopts a record forced to the source.
 */
export interface RouteWatch {
  /** When this watch began (ms): a forced mark older than it, found on the record the unit creates, is an earlier migration's. */
  since: number;
  /** When the record was last read back (ms). */
  checkedAt?: number;
  /** The highest epoch seen in the record (read or written): a restore goes above it. */
  seenEpoch: number;
  /** The record as last read, until the planner has acted on it. */
  seen?: RouteSeen;
  /** The forced record adopted (with the epoch it was found at). */
  forced?: ForcedMark & { epoch: number };
  /** Why the next route audit record is written (a restore, an adoption), taken when it is written. */
  auditNext?: { reason: string; forced?: ForcedMark };
  /** Restores written so far. */
  restores: number;
  /** The epoch of a record ahead of the workflow already noted in the history (noted once). */
  aheadNoted?: number;
  /** Why the last read or restore failed (Redis unreachable); cleared by the next that works. */
  error?: string;
  /**
   * Periodic reads only where the unit waits (runs begun on this code): between steps the next route change's
   * compare-and-set reads the record anyway, so a unit that moves on at once spends no read on it.
   */
  atWaits?: true;
}

/** A route to set, as the planner asks for it. */
export type RouteTarget = { kind: 'side'; side: Side } | { kind: 'hold' } | { kind: 'percent'; percent: number };

/** One problem found by preflight, naming the field and the fix. */
export interface Problem {
  field: string;
  message: string;
  hint: string;
}

/** What preflight saw. `ok` is false when a problem blocks the migration. */
export interface PreflightResult {
  ok: boolean;
  problems: Problem[];
  targetNamespaceExists: boolean;
  missingSearchAttributes: string[];
  /** Pollers per target task queue. */
  targetPollers: Record<string, number>;
  sourceOpen: number;
  /** Each side's cluster kind (cloud: namespaces and search attributes only verified). Absent in older histories. */
  clusterKinds?: { source: 'dev' | 'self-hosted' | 'cloud'; target: 'dev' | 'self-hosted' | 'cloud' };
  at: string;
}

/** What provisioning did (empty arrays/false when everything was already there: idempotent). */
export interface ProvisionResult {
  namespaceCreated: boolean;
  retentionMs?: number;
  searchAttributesAdded: string[];
  at: string;
}

/** What copying a unit's schedules to the target (paused) did; a schedule that could not be copied fails the step instead. */
export interface ScheduleCopyResult {
  /** Schedules the unit's selector picked on the source. */
  selected: number;
  created: number;
  unchanged: number;
  /** Paused copies rewritten because the source changed since the last copy. */
  updated: number;
  /** Listed, then gone before they could be described (deleted meanwhile). */
  vanished: number;
  at: string;
}

/** What switching a unit's schedules to one side did (each schedule: fenced, exactly once). */
export interface ScheduleSwitchResult {
  to: Side;
  /** Schedules the unit's selector picked. */
  selected: number;
  /** Switched by this step (including switches an earlier attempt had begun and this one finished). */
  switched: number;
  /** Already active on `to` with the owner record naming it (never switched, or switched before). */
  already: number;
  /** Paused by their owner (not by cutover): left paused, not switched. At most a few dozen IDs. */
  leftPaused: string[];
  vanished: number;
  /** Nominal times that fell in the switch gaps, and those backfilled on `to` (policy `gap`). */
  missedFires: number;
  backfilledFires: number;
  at: string;
}

/** Schedules of a unit checked on both clusters: each active on exactly one, the expected one, specs equal in meaning. */
export interface ScheduleReconcileResult {
  /** The side every schedule should be active on (the target after the move, the source after a rollback); unset: not checked. */
  expected?: Side;
  schedules: number;
  /** Active on both clusters: guarantee 4 broken. */
  doubleActive: number;
  /** Paused on both by an unfinished cutover switch (a schedule its owner paused is not counted). */
  pausedOnBoth: number;
  /** Active only on the side that is not the expected one (0 when no side is expected). */
  wrongSide: number;
  /** Missing on the expected side (0 when no side is expected). */
  missing: number;
  /** The owner record names a side other than the active one. */
  ownerMismatch: number;
  /** The two copies differ in meaning (spec, action, policies other than the catch-up window, memo, search attributes). */
  specDiffers: number;
  /** Nominal times run on both clusters (checked over the move's window for units with few schedules). */
  duplicateFires: number;
  /** Nominal times run on neither cluster (reported; a skipped overlap or policy `none` explains some). */
  lostFires: number;
  /** Whether runs were checked (duplicate and lost fires). */
  runsChecked: boolean;
  /** The schedules with a problem and what it is (at most a few dozen). */
  problems: { scheduleId: string; problems: string[] }[];
  clean: boolean;
  at: string;
}

/** A unit's schedule steps, carried in the state (plain JSON). Absent on units started before schedules were managed. */
export interface ScheduleMigrationState {
  /** The paused copy to the target (provisioned). */
  copy?: ScheduleCopyResult;
  /**
   * The switch to the target (cutover). `startedAt` is set before the step runs: a rollback after a
   * crash mid-switch still switches back.
   */
  forward?: { startedAt: string; done?: ScheduleSwitchResult };
  /** The switch back to the source (rolling-back). */
  back?: { startedAt: string; done?: ScheduleSwitchResult };
}

/** A gate measurement: gates return one instead of throwing. */
export interface GateMeasurement {
  result: 'successful' | 'failed' | 'inconclusive' | 'error';
  value?: number;
  message: string;
}

/** Probe outcome on the target. */
export interface ProbeResult extends GateMeasurement {
  started: number;
  succeeded: number;
  p99Ms?: number;
}

/** One count of a unit's open runs on one side. */
export interface CountResult {
  side: Side;
  open: number;
  /** Up to a few dozen IDs of the open runs (for the straggler report). */
  sampleIds: string[];
  /** The same runs with their run IDs: an approval to terminate binds to exactly these. */
  sampleRuns?: StragglerRun[];
  at: number;
}

/** Duplicates, stranded and misrouted runs of a unit. */
export interface ReconcileResult {
  clean: boolean;
  sourceOpen: number;
  targetOpen: number;
  duplicates: string[];
  stranded: { workflowId: string; side: Side; why: string }[];
  /**
   * Runs a client started (open or closed) on the side the route did not give, after the route's
   * last change plus the clients' staleness bound. Absent when reconcile was not given the route.
   */
  misrouted?: MisroutedRun[];
  at: string;
}

/** A run started on the wrong side of its unit's route. */
export interface MisroutedRun {
  workflowId: string;
  runId: string;
  side: Side;
  startedAt: string;
  why: string;
}

/** The unit's route as reconcile judges starts by it: where it sends starts, and since when. */
export interface ReconcileRoute {
  kind: 'side' | 'hold' | 'percent';
  side?: Side;
  /** Share on the target in percent (kind 'percent'). */
  percent?: number;
  /** When the route last changed (ISO; the routing record's `changedAt`). */
  changedAt: string;
  /** How long after the change a start may still follow the previous route (plan redis.clientStaleness; default its default). */
  graceMs?: number;
  /**
   * The plan's namespace, under which routed clients record placements in Redis. Given (and the worker
   * reads Redis), a run on the side its placement names is a placed start, not a misrouted one: a start
   * decided under an earlier route whose unknown outcome the client retried there, however late it landed.
   */
  placementNamespace?: string;
}

/** Drain bookkeeping for one side (forward: source; rollback: target). */
export interface DrainState {
  side: Side;
  startedAt: number;
  deadlineAt: number;
  samples: { at: number; open: number }[];
  /** When the open count is forecast to reach 0 (ms), if it is falling. */
  forecastAt?: number;
  stragglersTerminated?: boolean;
  /** When the approved runs were terminated, and which: a later count with other open runs asks again. */
  terminatedAt?: number;
  terminatedRuns?: string[];
  deadlineReported?: boolean;
  /** Policy `handoff`: the last pass (ms), and runs it left asked but not yet stopped (the next pass waits for them again). */
  handoffAt?: number;
  handoffWaiting?: number;
  /**
   * Those runs: the next pass hands them off even once they have closed (a run that reaches its safe point
   * between passes is no longer listed as open, and would be left stopped on the old side).
   */
  handoffAsked?: { workflowId: string; runId: string }[];
}

/** One run handed to the other side (straggler policy `handoff`): where it ran and where it goes on. */
export interface HandoffEntry {
  workflowId: string;
  from: Side;
  to: Side;
  fromRunId: string;
  toRunId: string;
  /** ISO time the new run was placed. */
  at: string;
}

/** What one `handOffRuns` pass did with each run it was given. */
export interface HandoffResult {
  items: (
    | { outcome: 'handed-off'; entry: HandoffEntry }
    /**
     * `refused`: not handoffable (no helper, no answer, or the ID open on the other side); `waiting`: asked,
     * not stopped yet; `closed`: ended on its own.
     */
    | { outcome: 'refused' | 'waiting' | 'closed'; workflowId: string; runId: string; why: string }
  )[];
  at: number;
}

/** One open run by its exact run: terminating by workflow ID alone could hit a run started after the approval. */
export interface StragglerRun {
  workflowId: string;
  runId: string;
}

/** A human approval the unit waits for. */
export interface ApprovalRequest {
  kind: 'terminate-stragglers';
  requestedAt: string;
  count: number;
  approvedBy?: string;
  /** The exact runs the approval covers (absent on requests made before approvals bound runs). */
  runs?: StragglerRun[];
  /** Digest of `runs` (src/operators/signing.ts `digestOf`): an approve names it, so it approves exactly these runs. */
  runsDigest?: string;
  /** ms since the epoch: an unanswered request past this is asked again with a fresh list of runs. */
  expiresAt?: number;
}

/** A recorded operator command. */
export interface CommandRecord {
  command: CommandName;
  actor: string;
  reason?: string;
  /** Absent only on a safe command (pause, rollback) sent without one. */
  commandId?: string;
  /** `advance` only: keep advancing through phase boundaries up to this phase (see `MigrationState.advanceUntil`). */
  until?: ForwardPhase;
}

/** Operator command names (the signal names). */
export type CommandName = 'advance' | 'pause' | 'resume' | 'rollback' | 'approve' | 'finalize';

/**
 * A completed unit's way back (units whose input sets `finalizeAfterMs`, on code with the patch
 * `reversible-completed`): it stays reversible until finalized by `finalize` or its deadline. Plain JSON.
 */
export interface Reversibility {
  /** The input's `finalizeAfterMs` as the run took it. */
  after: number | 'never';
  /** When the unit completed (ms): the deadline is this plus `after`. */
  completedAt?: number;
  /** A `finalize` taken, not yet carried out (the route step marks the source's workers free to stop). */
  finalize?: CommandRecord;
  /** Set once final: who (or the deadline) made it so. The workflow then ends. */
  finalized?: { actor: string; at: string; reason?: string; how: 'command' | 'deadline' };
  /** A rollback asked for after completion: it runs once two distinct approvers approve it (src/approvals/two-person.ts). */
  request?: ReversalRequest;
  /** Reversal requests opened so far (binds each request's approvals to it). */
  requests: number;
}

/**
 * A two-person approval request as src/approvals/two-person.ts keeps it (the same shape, written here since
 * the domain imports nothing of the project): bound, expiring, two distinct approvers, none the requester.
 */
export interface TwoPersonRequest {
  binding: { campaign: string; ring: string; step: number; epoch: number; units?: string };
  requestedBy: string;
  requestedByKey?: string;
  requestedAt: number;
  expiresAt: number;
  required: number;
  evidence: Record<string, unknown>;
  approvals: { actor: string; key?: string; at: number; commandId: string; reason?: string; evidence: Record<string, unknown> }[];
  consumedAt?: number;
}

/** A rollback of a completed unit waiting for its two-person approval. */
export interface ReversalRequest {
  /** The rollback that asked (its actor is the requester: they may not approve it). */
  rollback: CommandRecord;
  /** The two-person request: bound to the unit's workflow, its name, the request number and the route epoch. */
  approval: TwoPersonRequest;
}

/** The observations the planner decides on (activity results). */
export interface Observations {
  preflight?: PreflightResult;
  provision?: ProvisionResult;
  probe?: ProbeResult;
  reconcile?: ReconcileResult;
  /** The schedules' reconcile (units that manage schedules). */
  schedules?: ScheduleReconcileResult;
}

/** One line of the unit's story. */
export interface HistoryEntry {
  phase: Phase;
  at: string;
  actor?: string;
  reason?: string;
  evidence?: Record<string, unknown>;
}

/** The entity's whole state: plain JSON (no Map/Set/Date), carried whole through continue-as-new. */
export interface MigrationState {
  phase: Phase;
  paused?: { actor: string; reason?: string; at: string };
  /** An `advance` not yet consumed (consumed by the next transition or bake). */
  advance?: CommandRecord;
  /**
   * Set by an `advance` with `until`: in manual mode the unit keeps passing phase boundaries up to
   * that phase without a further advance (a campaign sends one command per step, not one per phase).
   * Cleared on reaching it, and by a rollback or a failure.
   */
  advanceUntil?: { phase: ForwardPhase; actor: string; commandId: string };
  /**
   * `routeFirst`: the route goes back to the source before the schedules do (the rollback reaches the clients
   * at once; runs recorded before that order keep schedules first).
   */
  rollback?: CommandRecord & { from: Phase; at: string; routeFirst?: boolean };
  failure?: { phase: Phase; step: string; type: string; message: string; at: string };
  route: RouteView;
  canary: { index: number; bakeUntil?: number };
  drain?: DrainState;
  approval?: ApprovalRequest;
  obs: Observations;
  /** ISO time of the first route change that sent starts to the target. */
  moveStartedAt?: string;
  /** When the routing record last changed (ms since epoch): drains wait the clients' staleness bound after it. */
  routeChangedAt?: number;
  /** The last placement sweep: the epoch it was made under, and what it found (src/routing/sweep.ts). */
  sweep?: { epoch: number; marked: boolean; reason?: string; listed: { source: number; target: number }; seeded: number; at: number };
  /** Rollback progress: compensations run in reverse of the forward steps that need one. */
  compensations: { name: string; done: boolean }[];
  history: HistoryEntry[];
  gates: { name: string; result: GateMeasurement['result']; value?: number; at: string; message?: string }[];
  counts: { sourceOpen: number; targetOpen: number; duplicates: number; stranded: number; schedulesDoubleActive?: number };
  /** Schedule steps (absent: this unit does not manage schedules — it began before they were managed). */
  schedules?: ScheduleMigrationState;
  rejected: { command: string; commandId?: string; actor?: string; reason: string; code?: string; phase: Phase; at: string }[];
  /** Command IDs already applied or rejected (dedupe), oldest first, bounded (src/operators/command-ids.ts: long IDs by digest). */
  seenCommandIds: string[];
  /** The digest of the command each seen ID carried, at the same index ('' unknown): a reused ID with another command is refused. */
  seenCommandDigests?: string[];
  /** What the bounds on signals dropped or clipped so far (domain/bounds.ts); absent while nothing was. */
  truncated?: Truncated;
  stragglers: string[];
  /** The stragglers with their run IDs (the last count's sample). */
  stragglerRuns?: StragglerRun[];
  /** Runs handed to the other side (policy `handoff`), newest last; a rollback hands back those still there. */
  handoffs?: HandoffEntry[];
  /** Target runs of handoffs a rollback found ended or not handoffable: not handed back (reported in the history). */
  handBackSkipped?: string[];
  /** The hash-chained audit log (absent on runs begun before it existed). */
  audit?: AuditLog;
  /** Routing record checks and restores (absent on runs begun before them). */
  routeWatch?: RouteWatch;
  /** A completed unit's way back (absent: final on completion, as runs begun before it). */
  reversible?: Reversibility;
  /**
   * The `provisioned` phase runs as one activity (provision, schedule copy, routing record: `prepareTarget`)
   * in runs begun on that code; absent: one activity per step, as older runs recorded.
   */
  mergedSteps?: true;
  /** Steps run, for idempotency keys of activities (probe IDs etc.). */
  stepSeq: number;
  runs: number;
}

/** The `status` query's answer (docs/design.md, "Status query and memo"). */
export interface UnitStatus {
  id: string;
  kind: 'namespace' | 'tenant';
  unit: string;
  phase: Phase;
  paused: boolean;
  pausedBy?: { actor: string; reason?: string; at: string };
  /** A standing `advance … until`: the phase the unit keeps advancing to without another command. */
  advanceUntil?: ForwardPhase;
  route: {
    side?: Side;
    percent?: number;
    hold?: boolean;
    epoch: number;
    sourceWorkersMayStop: boolean;
    /** The record was forced to the source by an operator, and the unit adopted it. */
    forced?: { by: string; reason: string; at: string; signedBy?: string };
  };
  /** The unit's checks of its routing record: when it was last read back, restores written, the last failure. */
  routeCheck?: { checkedAt?: string; restores: number; error?: string };
  /** The last placement sweep (docs/design.md, "The placement sweep"): at which epoch, and whether clients may rely on it. */
  placementSweep?: {
    epoch: number;
    marked: boolean;
    listed: { source: number; target: number };
    seeded: number;
    at: string;
    reason?: string;
  };
  strategy: UnitMigrationInput['strategy'];
  waitingFor?: string;
  /** What the unit waits on while `waitingFor` is set. */
  waitingOn?: 'advance' | 'resume' | 'approval' | 'timer' | 'operator';
  history: HistoryEntry[];
  gates: MigrationState['gates'];
  counts: MigrationState['counts'];
  rejected: MigrationState['rejected'];
  failure?: MigrationState['failure'];
  approval?: ApprovalRequest;
  /**
   * The drain of `side`: open runs at the last count, the rate they fall at (runs per minute over the last
   * ten samples; negative while they grow) and when they are forecast to reach 0 (absent while not falling).
   */
  drain?: { side: Side; deadlineAt: string; lastOpen?: number; ratePerMin?: number; forecastAt?: string };
  stragglers: string[];
  /** Runs handed to the other side with their state (policy `handoff`). */
  handoffs?: HandoffEntry[];
  compensations: MigrationState['compensations'];
  /** The last reconcile; `clean` also covers the schedules, reported under `schedules`. */
  reconcile?: ReconcileResult & { schedules?: ScheduleReconcileResult };
  /** The unit's schedule steps: the paused copy, the switch to the target, the switch back. */
  schedules?: ScheduleMigrationState;
  continuedAsNew: number;
  /**
   * True while the unit is completed and not yet final: a rollback with two approvals still moves it back, and
   * its source workers keep running. False otherwise (every unit before completion can be rolled back anyway).
   */
  reversible?: boolean;
  /** Until when it stays reversible (ISO), or `finalize` (only `cutover finalize` ends it); absent when not reversible. */
  reversibleUntil?: string;
  /** Who or what made a reversible unit final. */
  finalized?: Reversibility['finalized'];
  /** A rollback of the completed unit waiting for two approvals: who asked, why, the approvals so far, the binding to approve. */
  reversal?: {
    requestedBy: string;
    reason?: string;
    approvals: { actor: string; at: string }[];
    required: number;
    expiresAt: string;
    binding: { ring: string; step: number; epoch: number };
  };
  /** What a signed command binds to: the chain's first run and the current one; whether signatures are required. */
  signing?: { firstRunId: string; runId: string; required: boolean };
  /** The audit log's head and latest records (the whole log: `cutover audit <unit>`). */
  audit?: { seq: number; head: string; mirrored: number; records: AuditRecord[] };
  /**
   * What the bounds dropped or clipped (docs/design.md, "Bounds on signals and state"): `history.length +
   * truncated.history` lines were written in all; absent while nothing was.
   */
  truncated?: Truncated;
}

/** The initial state of a unit. */
export function initialState(): MigrationState {
  return {
    phase: 'pending',
    route: { kind: 'side', side: 'source', epoch: 0, sourceWorkersMayStop: false },
    canary: { index: 0 },
    obs: {},
    compensations: [],
    history: [],
    gates: [],
    counts: { sourceOpen: 0, targetOpen: 0, duplicates: 0, stranded: 0, schedulesDoubleActive: 0 },
    rejected: [],
    seenCommandIds: [],
    stragglers: [],
    stepSeq: 0,
    runs: 0,
  };
}
