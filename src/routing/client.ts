/**
 * The multi-cluster client: the SDK `Client` surface applications use, routed between a source and a
 * target cluster by the routing records in Redis.
 *
 * How a start is placed:
 * 1. unit (tenant or namespace) → route from the in-memory {@link RouteTable} → side by the stable
 *    hash (`hold` waits, bounded). No Redis round trip on this path.
 * 2. While the unit is settled (no record; still on the source at epoch 1; or on the target with
 *    the source drained) only one cluster can hold open runs, and the start goes straight there.
 * 3. While it is moving, the start first claims the workflow ID's placement in Redis (atomic), and
 *    looks for a running run on the other cluster. If one exists (or another client placed the ID
 *    there first), the start is sent *there* with the caller's policies, so the server applies
 *    FAIL / USE_EXISTING / TERMINATE_EXISTING exactly as if both clusters were one. Once the unit's
 *    route has been swept (src/routing/sweep.ts), a claim that finds no placement skips the look.
 * 4. A start whose outcome is unknown (deadline, unavailable) is retried on the same cluster with the
 *    same request ID — never re-routed.
 * Every start's cluster is remembered (in process, and in Redis while moving) so signals, queries,
 * updates, cancels and terminates go to it; otherwise both clusters are described (and cached).
 *
 * A run cutover hands to the other cluster (straggler policy `handoff`) closes before its successor
 * exists. Only when a call then fails as not found is the ID's handoff record read: while it is `moving`,
 * signals and updates are held (bounded by `handoffHoldMs`) instead of lost; once `done`, the call goes to
 * the new run, and handles bound to the old run follow the new one from then on.
 */
import { randomUUID } from 'node:crypto';
import { Client, ScheduleNotFoundError, WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/client';
import type {
  ScheduleDescription,
  ScheduleHandle,
  ScheduleOptions,
  ScheduleUpdateOptions,
  WorkflowHandle,
  WorkflowSignalWithStartOptions,
  WorkflowStartOptions,
  GetWorkflowHandleOptions,
} from '@temporalio/client';
import type { DataConverter, Workflow, WorkflowResultType, WithWorkflowArgs } from '@temporalio/common';
import type { Redis } from 'ioredis';
import { systemClock, type RoutingClock } from './clock';
import { HandoffHeldTimeoutError, RouteHeldTimeoutError, RoutingInputError } from './errors';
import { sideFor } from './hash';
import { checkPlanNamespace, planNamespace } from './plan-namespace';
import { RouteTable, withTimeout } from './route-table';
import { RoutingStore } from './store';
import type { HandoffRecord, PlacementRecord, SweepMarker } from './store';
import { UnitResolver } from './tenant';
import type { TenantSelector } from './tenant';
import type { RoutingRecord, Side } from './types';
import { connectCluster } from '../clusters/connect';
import { connectRedis } from './connect-redis';
import { grpcCode, GrpcStatus } from '../clusters/grpc';
import type { Plan } from '../config';
import { DEFAULT_CLIENT_STALENESS_MS, DEFAULT_PLACEMENT_TTL_MS } from '../config/defaults';

/** Defaults, named in one place. */
export const ROUTED_CLIENT_DEFAULTS = {
  holdTimeoutMs: 30_000,
  stalenessMs: DEFAULT_CLIENT_STALENESS_MS,
  refreshMs: 1_000,
  /** How long a placement record lives in Redis (runs older than this are found by describing). */
  placementTtlMs: DEFAULT_PLACEMENT_TTL_MS,
  /** A placement younger than this may have a start in flight: other clients follow it blindly. */
  inflightWindowMs: 60_000,
  /** Bound on each Redis placement call on the start path before falling back to describing. */
  redisOpTimeoutMs: 500,
  startAttempts: 4,
  startBackoffMs: 200,
  placementCacheSize: 100_000,
  /** How long a signal or update waits for a handoff (record `moving`) to finish before it fails, undelivered. */
  handoffHoldMs: 60_000,
} as const;

/** Backoff of the handoff record polls while a call is held: short first (a handoff takes one start), then capped. */
const HANDOFF_POLL_FIRST_MS = 25;
const HANDOFF_POLL_MAX_MS = 250;

/** Options that mean the same for {@link RoutedClient.create} and {@link RoutedClient.connect}. */
export interface RoutedClientTuning {
  /** How long a start waits for a `hold` route to resolve before {@link RouteHeldTimeoutError}. */
  holdTimeoutMs?: number;
  /** How long the last known routes are used without a successful refresh (then fail closed). */
  stalenessMs?: number;
  /** Timer refresh period of the routes (pub/sub pushes changes at once; this catches lost messages). */
  refreshMs?: number;
  placementTtlMs?: number;
  inflightWindowMs?: number;
  redisOpTimeoutMs?: number;
  /** Attempts for a start whose outcome is unknown (same cluster, same request ID). */
  startAttempts?: number;
  startBackoffMs?: number;
  /**
   * How long a signal or update to a workflow being handed to the other cluster waits for its new run
   * before {@link HandoffHeldTimeoutError} (nothing delivered).
   */
  handoffHoldMs?: number;
}

/** Explicit parts (tests, custom wiring). The caller owns the clients and the Redis connection. */
export interface RoutedClientParts extends RoutedClientTuning {
  /**
   * The clocks (default the process's): staleness and the hold bound are read on `monotonicMs`, so a wall
   * clock stepped back never keeps stale routes usable; placement claim times, compared across hosts, on
   * `wallMs`. Tests inject one to step the wall clock.
   */
  clock?: RoutingClock;
  /** Client bound to the source cluster and the source namespace. */
  source: Client;
  /** Client bound to the target cluster and the target namespace. */
  target: Client;
  store: RoutingStore | { redis: Redis; keyPrefix: string };
  /** The source namespace (the plan's key): names the units and placement keys. */
  namespace: string;
  /** Informational: the target namespace (defaults to `namespace`). */
  targetNamespace?: string;
  tenantSelector?: TenantSelector;
  /** The plan's tenant IDs; required with a `workflowIdPrefix` selector (an ID goes to the longest listed prefix it starts with). */
  tenants?: readonly string[];
}

/** Options of {@link RoutedClient.connect}. */
export interface RoutedClientConnectOptions extends RoutedClientTuning {
  /** Path of the plan file, or an already-parsed plan. */
  plan: string | Plan;
  /** The clocks (see {@link RoutedClientParts.clock}). */
  clock?: RoutingClock;
  /** The source namespace as keyed in the plan's `namespaces`. */
  namespace: string;
  identity?: string;
  /**
   * The application's data converter (its payload codec, failure and payload converters), used by the
   * clients of both clusters, so a run decodes the same wherever it was routed. The plan's `codec` is
   * cutover's own and is not applied here: pass `dataConverterFor(loadCodec(plan))` to use its keys.
   */
  dataConverter?: DataConverter;
}

/** Start options plus an explicit tenant (else the plan's selector decides). */
export type RoutedStartOptions<T extends Workflow = Workflow> = WorkflowStartOptions<T> & { tenant?: string };
/** Signal-with-start options plus an explicit tenant. */
export type RoutedSignalWithStartOptions<T extends Workflow, SA extends unknown[]> = WithWorkflowArgs<
  T,
  WorkflowSignalWithStartOptions<SA extends any[] ? SA : []> // eslint-disable-line @typescript-eslint/no-explicit-any
> & { tenant?: string };

/** The handle methods applications use, with the SDK's exact signatures. */
export type RoutedHandleMethods<T extends Workflow> = Pick<
  WorkflowHandle<T>,
  'workflowId' | 'signal' | 'query' | 'executeUpdate' | 'startUpdate' | 'cancel' | 'terminate' | 'describe' | 'result' | 'fetchHistory'
>;

// The SDK's own hook for the start request ID (client/src/internal.ts, pinned SDK 1.24.0): a retried
// start with the same request ID is deduplicated by the server, so an unknown outcome can be retried.
const START_OPTIONS_SYMBOL = Symbol.for('__temporal_internal_client_workflow_start_options');

const NO_FOLLOW: GetWorkflowHandleOptions = { followRuns: false };
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const other = (side: Side): Side => (side === 'source' ? 'target' : 'source');

/** No record, still on the source at epoch 1, or on the target with the source drained. */
export function isSettled(record: RoutingRecord | undefined): boolean {
  if (!record) return true;
  if (record.route.kind !== 'side') return false;
  if (record.route.side === 'source') return record.epoch === 1;
  return record.sourceWorkersMayStop;
}

/** True when a start failed in a way that leaves its outcome unknown (it may have happened). */
function isUnknownOutcome(err: unknown): boolean {
  const code = grpcCode(err);
  return code === GrpcStatus.DEADLINE_EXCEEDED || code === GrpcStatus.UNAVAILABLE || code === GrpcStatus.CANCELLED;
}

function positive(name: string, v: number | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)
    throw new RoutingInputError(name, 'must be a positive number of milliseconds');
  return v;
}

type Tuning = { [K in keyof RoutedClientTuning]-?: number };

function tuning(t: RoutedClientTuning): Tuning {
  const d = ROUTED_CLIENT_DEFAULTS;
  return {
    holdTimeoutMs: positive('holdTimeoutMs', t.holdTimeoutMs, d.holdTimeoutMs),
    stalenessMs: positive('stalenessMs', t.stalenessMs, d.stalenessMs),
    refreshMs: positive('refreshMs', t.refreshMs, d.refreshMs),
    placementTtlMs: positive('placementTtlMs', t.placementTtlMs, d.placementTtlMs),
    inflightWindowMs: positive('inflightWindowMs', t.inflightWindowMs, d.inflightWindowMs),
    redisOpTimeoutMs: positive('redisOpTimeoutMs', t.redisOpTimeoutMs, d.redisOpTimeoutMs),
    startAttempts: positive('startAttempts', t.startAttempts, d.startAttempts),
    startBackoffMs: positive('startBackoffMs', t.startBackoffMs, d.startBackoffMs),
    handoffHoldMs: positive('handoffHoldMs', t.handoffHoldMs, d.handoffHoldMs),
  };
}

/**
 * Bounded in-process placements (and followed handoffs), O(1) per call: two generations, the older dropped whole when the
 * newer fills. (Evicting the oldest key of one Map costs O(deleted entries) per call in V8.)
 */
class PlacementCache<V = Side> {
  private young = new Map<string, V>();
  private old = new Map<string, V>();
  constructor(private readonly capacity: number) {}

  get(id: string): V | undefined {
    return this.young.get(id) ?? this.old.get(id);
  }

  set(id: string, value: V): void {
    if (this.young.size >= this.capacity / 2) {
      this.old = this.young;
      this.young = new Map();
    }
    this.young.set(id, value);
  }

  delete(id: string): void {
    this.young.delete(id);
    this.old.delete(id);
  }
}

/** `confirm`'s deferred write, without a closure per start. */
function writeConfirmation(client: RoutedClient, workflowId: string, placed: { side: Side; epoch: number; unit: string }): void {
  client.writeConfirmation(workflowId, placed);
}

type AnyHandleMethod = (...a: unknown[]) => Promise<unknown>;
function handleSignal(this: RoutedWorkflowHandle, def: unknown, ...args: unknown[]): Promise<unknown> {
  return this.call((h) => (h.signal as AnyHandleMethod)(def, ...args), HOLD);
}
function handleQuery(this: RoutedWorkflowHandle, def: unknown, ...args: unknown[]): Promise<unknown> {
  return this.call((h) => (h.query as AnyHandleMethod)(def, ...args));
}
function handleExecuteUpdate(this: RoutedWorkflowHandle, def: unknown, opts?: unknown): Promise<unknown> {
  return this.call((h) => (h.executeUpdate as AnyHandleMethod)(def, opts), HOLD);
}
function handleStartUpdate(this: RoutedWorkflowHandle, def: unknown, opts?: unknown): Promise<unknown> {
  return this.call((h) => (h.startUpdate as AnyHandleMethod)(def, opts), HOLD);
}

/** Marks the calls held during a handoff: signals and updates would be lost; the rest just fail and can be repeated. */
const HOLD = true;

/**
 * The errors a call to a run that has closed (or does not exist on that cluster) ends with. SDK 1.24
 * against the dev server: signal, executeUpdate and startUpdate on a closed run throw WorkflowNotFoundError
 * (the server's NOT_FOUND, "workflow execution already completed"), as does any call on a run or ID the
 * cluster does not have. A query or describe of a closed run still answers, for that run.
 */
function isGone(err: unknown): boolean {
  return err instanceof WorkflowNotFoundError;
}

/** A routed workflow handle: finds the run's cluster, then calls the SDK handle there. */
export class RoutedWorkflowHandle<T extends Workflow = Workflow> implements RoutedHandleMethods<T> {
  // Mutable: a handoff to the other cluster rebinds a handle bound to the old run to the new one.
  private boundRunId: string | undefined;
  private boundFirstRunId: string | undefined;

  constructor(
    private readonly owner: RoutedClient,
    readonly workflowId: string,
    runId: string | undefined,
    private readonly options: GetWorkflowHandleOptions | undefined,
    /** Set for handles returned by a start. */
    firstExecutionRunId?: string,
  ) {
    this.boundRunId = runId;
    this.boundFirstRunId = firstExecutionRunId;
  }

  /** The run this handle addresses (undefined: the latest); after a handoff, the new run. */
  get runId(): string | undefined {
    return this.boundRunId;
  }

  /** The first run of the chain (set for handles returned by a start); after a handoff, the new run. */
  get firstExecutionRunId(): string | undefined {
    return this.boundFirstRunId;
  }

  /** The cluster side the run lives on. */
  cluster(): Promise<Side> {
    return this.owner.locate(this.workflowId);
  }

  // Shared module-level functions, not per-instance arrows: a handle is built on every start, and the
  // SDK's overloaded signatures are kept by the casts.
  readonly signal = handleSignal as WorkflowHandle<T>['signal'];
  readonly query = handleQuery as WorkflowHandle<T>['query'];
  readonly executeUpdate = handleExecuteUpdate as WorkflowHandle<T>['executeUpdate'];
  readonly startUpdate = handleStartUpdate as WorkflowHandle<T>['startUpdate'];

  cancel(): ReturnType<WorkflowHandle<T>['cancel']> {
    return this.call((h) => h.cancel());
  }

  terminate(reason?: string): ReturnType<WorkflowHandle<T>['terminate']> {
    return this.call((h) => h.terminate(reason));
  }

  describe(): ReturnType<WorkflowHandle<T>['describe']> {
    return this.call((h) => h.describe());
  }

  result(): Promise<WorkflowResultType<T>> {
    return this.call((h) => h.result());
  }

  fetchHistory(): ReturnType<WorkflowHandle<T>['fetchHistory']> {
    return this.call((h) => h.fetchHistory());
  }

  private sdkHandle(side: Side): WorkflowHandle<T> {
    const opts: GetWorkflowHandleOptions = { ...this.options };
    // The handle's own binding wins over the options' (a handoff may have rebound it).
    if (this.boundFirstRunId) opts.firstExecutionRunId = this.boundFirstRunId;
    return this.owner.clientFor(side).workflow.getHandle<T>(this.workflowId, this.boundRunId, opts);
  }

  /** The run this handle is bound to (its run, else the first run of its chain); undefined: the latest run. */
  private boundTo(): string | undefined {
    return this.boundRunId ?? this.boundFirstRunId ?? this.options?.firstExecutionRunId;
  }

  /** Moves the binding from a handed-off run to its successor (both fields: the old chain ended). */
  private follow(fromRunId: string, toRunId: string): void {
    if (this.boundRunId === fromRunId) this.boundRunId = toRunId;
    if (this.boundFirstRunId === fromRunId || (!this.boundFirstRunId && this.options?.firstExecutionRunId === fromRunId))
      this.boundFirstRunId = toRunId;
  }

  /**
   * Calls on the placed cluster; on not-found there, follows a handoff of the ID (holding signals and
   * updates while it is under way, when `hold`), else looks on both once (placement may be stale).
   * @internal
   */
  async call<R>(fn: (h: WorkflowHandle<T>) => Promise<R>, hold = false): Promise<R> {
    // In-process only (no Redis): a handoff this client already followed rebinds other handles of the old run.
    const bound = this.boundTo();
    if (bound !== undefined) {
      const moved = this.owner.followedRun(bound);
      if (moved) this.follow(bound, moved);
    }
    const side = await this.owner.locate(this.workflowId);
    try {
      return await fn(this.sdkHandle(side));
    } catch (err) {
      if (!isGone(err)) throw err;
      const handoff = await this.owner.handoffAfterGone(this.workflowId, this.boundTo(), hold, err);
      if (handoff) {
        this.follow(handoff.fromRunId, handoff.toRunId as string);
        return await fn(this.sdkHandle(handoff.to));
      }
      const found = await this.owner.relocate(this.workflowId, side);
      if (found === undefined || found === side) throw err;
      return await fn(this.sdkHandle(found));
    }
  }
}

/** A routed schedule handle: the copy on the routed side is active, the other one paused. */
export class RoutedScheduleHandle {
  constructor(
    private readonly owner: RoutedClient,
    readonly scheduleId: string,
  ) {}

  private on(side: Side): ScheduleHandle {
    return this.owner.clientFor(side).schedule.getHandle(this.scheduleId);
  }

  /** The side whose copy is active (not paused); when both are paused, the first that exists. */
  async activeSide(): Promise<Side> {
    const [s, t] = await Promise.all([describeOrUndefined(this.on('source')), describeOrUndefined(this.on('target'))]);
    if (t && !t.state.paused) return 'target';
    if (s && !s.state.paused) return 'source';
    if (s) return 'source';
    if (t) return 'target';
    throw new ScheduleNotFoundError('schedule not found on either cluster', this.scheduleId);
  }

  /** Describes the active copy. */
  async describe(): Promise<ScheduleDescription> {
    return await this.on(await this.activeSide()).describe();
  }

  /**
   * Updates both copies: the active one as asked, then the standby one to what the active one now holds,
   * kept paused — so a later switch finds an up-to-date copy, and the two are never both active.
   */
  async update(updateFn: (previous: ScheduleDescription) => ScheduleUpdateOptions): Promise<void> {
    const active = await this.activeSide();
    await this.on(active).update(updateFn);
    await this.owner.writeStandby(this.scheduleId, active, 'update');
  }

  /** Pauses the active copy (the standby copy is paused already). */
  async pause(note?: string): Promise<void> {
    await this.on(await this.activeSide()).pause(note);
  }

  /** Unpauses the copy on the routed side only. */
  async unpause(note?: string): Promise<void> {
    await this.on(await this.owner.scheduleSide(this.scheduleId)).unpause(note);
  }

  async trigger(...args: Parameters<ScheduleHandle['trigger']>): Promise<void> {
    await this.on(await this.activeSide()).trigger(...args);
  }

  async backfill(...args: Parameters<ScheduleHandle['backfill']>): Promise<void> {
    await this.on(await this.activeSide()).backfill(...args);
  }

  /** Deletes both copies. */
  async delete(): Promise<void> {
    let found = false;
    for (const side of ['source', 'target'] as const) {
      try {
        await this.on(side).delete();
        found = true;
      } catch (err) {
        if (!(err instanceof ScheduleNotFoundError)) throw err;
      }
    }
    if (!found) throw new ScheduleNotFoundError('schedule not found on either cluster', this.scheduleId);
  }
}

const STANDBY_NOTE = 'cutover: standby copy (paused until this side is routed)';

async function describeOrUndefined(h: ScheduleHandle): Promise<ScheduleDescription | undefined> {
  try {
    return await h.describe();
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) return undefined;
    throw err;
  }
}

/** The multi-cluster client. Build with {@link RoutedClient.connect} (plan) or {@link RoutedClient.create} (parts). */
export class RoutedClient {
  readonly namespace: string;
  readonly targetNamespace: string;
  /** The routing store (records and placements). */
  readonly store: RoutingStore;
  /** The in-memory routes. */
  readonly routes: RouteTable;
  private readonly clients: Record<Side, Client>;
  private readonly units: UnitResolver;
  /** Per unit, the latest `validUntil` of a sweep marker seen on a claim (see {@link ttlFor}). */
  private readonly sweptUntil = new Map<string, number>();
  private readonly t: Tuning;
  private readonly clock: RoutingClock;
  private readonly placements = new PlacementCache(ROUTED_CLIENT_DEFAULTS.placementCacheSize);
  /** Handed-off runs this client has followed: old run ID → new run ID. */
  private readonly followedRuns = new PlacementCache<string>(ROUTED_CLIENT_DEFAULTS.placementCacheSize);
  private readonly owned: (() => Promise<void>)[] = [];
  private closed = false;

  /** Workflow operations, shaped like `Client.workflow`. */
  readonly workflow = {
    start: <T extends Workflow>(type: string | T, options: RoutedStartOptions<T>): Promise<RoutedWorkflowHandle<T>> =>
      this.start(type, options),
    execute: <T extends Workflow>(type: string | T, options: RoutedStartOptions<T>): Promise<WorkflowResultType<T>> =>
      this.execute(type, options),
    signalWithStart: <T extends Workflow, SA extends unknown[] = []>(
      type: string | T,
      options: RoutedSignalWithStartOptions<T, SA>,
    ): Promise<RoutedWorkflowHandle<T> & { signaledRunId: string }> => this.signalWithStart(type, options),
    getHandle: <T extends Workflow>(workflowId: string, runId?: string, options?: GetWorkflowHandleOptions): RoutedWorkflowHandle<T> =>
      new RoutedWorkflowHandle<T>(this, workflowId, runId, options),
  };

  /** Schedule operations, shaped like `Client.schedule`. */
  readonly schedule = {
    create: (options: ScheduleOptions & { tenant?: string }): Promise<RoutedScheduleHandle> => this.createSchedule(options),
    getHandle: (scheduleId: string): RoutedScheduleHandle => new RoutedScheduleHandle(this, scheduleId),
  };

  private constructor(parts: RoutedClientParts) {
    if (!parts.source || !parts.target)
      throw new RoutingInputError(parts.source ? 'target' : 'source', 'pass a Client bound to that cluster and namespace');
    if (typeof parts.namespace !== 'string' || parts.namespace === '')
      throw new RoutingInputError('namespace', "pass the source namespace (the plan's namespaces key)");
    this.namespace = parts.namespace;
    this.targetNamespace = parts.targetNamespace ?? parts.namespace;
    this.clients = { source: parts.source, target: parts.target };
    this.clock = parts.clock ?? systemClock;
    this.store = parts.store instanceof RoutingStore ? parts.store : new RoutingStore({ ...parts.store, clock: this.clock });
    this.units = new UnitResolver(parts.namespace, parts.tenantSelector, parts.tenants);
    this.t = tuning(parts);
    this.routes = new RouteTable({
      store: this.store,
      units: this.units.knownUnits(),
      refreshMs: this.t.refreshMs,
      stalenessMs: this.t.stalenessMs,
      clock: this.clock,
    });
  }

  /** Builds a client from explicit parts and loads the routes (throws when Redis cannot be read). */
  static async create(parts: RoutedClientParts): Promise<RoutedClient> {
    const c = new RoutedClient(parts);
    await c.routes.start();
    return c;
  }

  /** Connects to the plan's source and target clusters and Redis; `close()` releases all of it. */
  static async connect(opts: RoutedClientConnectOptions): Promise<RoutedClient> {
    const { plan, config: ns, sides } = planNamespace(opts.plan, opts.namespace);
    // cutover's drains wait the plan's bound after a route change; a client keeping stale routes longer could start work on a drained side.
    if (opts.stalenessMs !== undefined && opts.stalenessMs > plan.redis.clientStaleness) {
      throw new RoutingInputError(
        'stalenessMs',
        `${opts.stalenessMs} ms is longer than the plan's redis.clientStaleness (${plan.redis.clientStaleness} ms); ` +
          'leave it out, or raise redis.clientStaleness in the plan',
      );
    }
    const cleanups: (() => Promise<void>)[] = [];
    try {
      // Both namespaces are described now, so a key without permission fails here with its own error.
      const srcConn = await connectCluster(sides.source.name, sides.source.cluster, { namespaces: [sides.source.namespace] });
      cleanups.push(() => srcConn.close());
      const dstConn = await connectCluster(sides.target.name, sides.target.cluster);
      cleanups.push(() => dstConn.close());
      await checkPlanNamespace(dstConn, sides.target);
      const redis = await connectRedis(plan.redis, { maxRetriesPerRequest: 1 });
      redis.on('error', () => undefined); // outages surface as staleness and typed errors
      cleanups.push(async () => void redis.disconnect());
      const client = await RoutedClient.create({
        ...opts,
        source: new Client({
          connection: srcConn,
          namespace: sides.source.namespace,
          identity: opts.identity,
          dataConverter: opts.dataConverter,
        }),
        target: new Client({
          connection: dstConn,
          namespace: sides.target.namespace,
          identity: opts.identity,
          dataConverter: opts.dataConverter,
        }),
        store: { redis, keyPrefix: plan.redis.keyPrefix },
        namespace: opts.namespace,
        targetNamespace: sides.target.namespace,
        tenantSelector: ns.tenants?.selector,
        tenants: ns.tenants?.ids,
        holdTimeoutMs: opts.holdTimeoutMs ?? plan.defaults.holdTimeout,
        stalenessMs: opts.stalenessMs ?? plan.redis.clientStaleness,
      });
      client.owned.push(...cleanups.reverse());
      return client;
    } catch (err) {
      for (const c of cleanups.reverse()) await c().catch(() => undefined);
      throw err;
    }
  }

  /** The SDK client of one side. */
  clientFor(side: Side): Client {
    return this.clients[side];
  }

  /** Stops the route subscription and timer; closes connections that `connect` opened. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.routes.close();
    for (const c of this.owned) await c().catch(() => undefined);
  }

  /** The unit a start belongs to (tenant, else namespace). */
  unitOf(options: { workflowId: string; tenant?: string; typedSearchAttributes?: unknown; searchAttributes?: unknown }): string {
    return this.units.unitOf(options as Parameters<UnitResolver['unitOf']>[0]);
  }

  /**
   * The side a new start of `workflowId` in `unit` goes to under the current route, waiting (bounded)
   * while the route is `hold`. Throws RoutingUnavailableError when the routes are stale.
   */
  async decide(unit: string, workflowId: string): Promise<{ side: Side; record: RoutingRecord | undefined }> {
    if (!this.routes.knows(unit)) await this.routes.track(unit);
    let record = this.routes.lookup(unit);
    let side: Side | 'hold' = record ? sideFor(record.route, workflowId) : 'source';
    if (side !== 'hold') return { side, record };
    // Elapsed time, on the monotonic clock: a wall clock stepped back must not hold a start for an hour.
    const started = this.clock.monotonicMs();
    const deadline = started + this.t.holdTimeoutMs;
    for (;;) {
      const remaining = deadline - this.clock.monotonicMs();
      if (remaining <= 0) throw new RouteHeldTimeoutError(unit, Math.round(this.clock.monotonicMs() - started));
      // Wake on the change, or at each refresh period (to re-check staleness and timer refreshes).
      await this.routes.waitForChange(unit, Math.min(remaining, this.t.refreshMs));
      if (this.closed) throw new RoutingInputError('client', 'closed while a start was held; create a new client');
      record = this.routes.lookup(unit);
      side = record ? sideFor(record.route, workflowId) : 'source';
      if (side !== 'hold') return { side, record };
    }
  }

  /**
   * The route decision alone, synchronously (what a start would do under the current in-memory route):
   * the unit, the side (or `hold`) and the epoch it was decided under. No I/O. Throws
   * RoutingUnavailableError when the routes are stale; a unit never seen before reads as untracked.
   */
  routeOf(options: { workflowId: string; tenant?: string; typedSearchAttributes?: unknown; searchAttributes?: unknown }): {
    unit: string;
    side: Side | 'hold';
    epoch: number;
    tracked: boolean;
  } {
    const unit = this.units.unitOf(options as Parameters<UnitResolver['unitOf']>[0]);
    const tracked = this.routes.knows(unit);
    const record = tracked ? this.routes.lookup(unit) : undefined;
    return { unit, side: record ? sideFor(record.route, options.workflowId) : 'source', epoch: record?.epoch ?? 0, tracked };
  }

  /**
   * The cluster of a workflow ID: this process's record, then Redis, then a look on both clusters. A
   * placement in Redis that is invalid is not followed (it reads as none: the clusters are asked).
   */
  async locate(workflowId: string): Promise<Side> {
    const cached = this.placements.get(workflowId);
    if (cached) return cached;
    if (this.redisReady()) {
      try {
        const p = await withTimeout(this.store.getPlacement(this.namespace, workflowId), this.t.redisOpTimeoutMs);
        if (p) {
          this.remember(workflowId, p.side);
          return p.side;
        }
      } catch {
        // fall through to describing
      }
    }
    return (await this.lookBoth(workflowId)) ?? (await this.defaultSide(workflowId));
  }

  /** Forgets a placement that proved wrong and looks on both clusters; undefined when on neither. */
  async relocate(workflowId: string, _wrong: Side): Promise<Side | undefined> {
    this.placements.delete(workflowId);
    return await this.lookBoth(workflowId);
  }

  /** The run a handed-off run was followed to by this client, if any (in process, no I/O). @internal */
  followedRun(runId: string): string | undefined {
    return this.followedRuns.get(runId);
  }

  /**
   * After a call to `workflowId` failed as not found: the finished handoff to follow, if the ID has one
   * that concerns the run the handle is bound to (`boundTo`; undefined for the latest run). Read only on
   * this failure path, so calls that succeed never touch Redis. While the record reads `moving`, a `hold`
   * call waits for `done` (polling, bounded by `handoffHoldMs`, then {@link HandoffHeldTimeoutError}); other
   * calls do not wait. Undefined — the caller's usual handling — when there is no record, it is not
   * `done` (and not held), it was cleared (handoff abandoned) or Redis cannot be read. @internal
   */
  async handoffAfterGone(
    workflowId: string,
    boundTo: string | undefined,
    hold: boolean,
    cause: unknown,
  ): Promise<(HandoffRecord & { toRunId: string }) | undefined> {
    // A handle bound to some other run (an older one, or the successor itself) is not concerned.
    const concerns = (r: HandoffRecord): boolean => boundTo === undefined || boundTo === r.fromRunId;
    let record = await this.readHandoff(workflowId);
    if (record === 'unavailable' || !record || !concerns(record)) return undefined;
    if (record.state === 'moving') {
      if (!hold) return undefined;
      // Elapsed time on the monotonic clock, as for held starts.
      const started = this.clock.monotonicMs();
      let pause = HANDOFF_POLL_FIRST_MS;
      while (record === 'unavailable' || record.state === 'moving') {
        const remaining = started + this.t.handoffHoldMs - this.clock.monotonicMs();
        if (remaining <= 0) throw new HandoffHeldTimeoutError(workflowId, Math.round(this.clock.monotonicMs() - started), { cause });
        await sleep(Math.min(pause, remaining));
        pause = Math.min(pause * 2, HANDOFF_POLL_MAX_MS);
        if (this.closed) throw new RoutingInputError('client', 'closed while a call was held for a handoff; create a new client');
        // A failed read mid-hold is a Redis blip, not an answer: the record said a handoff is under way, so
        // keep waiting (bounded) rather than fail a call that the new run could take.
        record = await this.readHandoff(workflowId);
        // Cleared (the handoff was abandoned) or replaced by another run's: the usual handling.
        if (!record || (record !== 'unavailable' && !concerns(record))) return undefined;
      }
    }
    const done = record as HandoffRecord & { toRunId: string }; // parseHandoff guarantees toRunId when done
    this.remember(workflowId, done.to);
    this.followedRuns.set(done.fromRunId, done.toRunId);
    return done;
  }

  /** The ID's handoff record; `unavailable` when Redis is not connected or does not answer in time. */
  private async readHandoff(workflowId: string): Promise<HandoffRecord | undefined | 'unavailable'> {
    if (!this.redisReady()) return 'unavailable';
    try {
      return await withTimeout(this.store.getHandoff(this.namespace, workflowId), this.t.redisOpTimeoutMs);
    } catch {
      return 'unavailable';
    }
  }

  /** The side a schedule's copy should be active on, by the route of its unit. */
  async scheduleSide(scheduleId: string, tenant?: string): Promise<Side> {
    const unit = this.units.unitOf({ workflowId: scheduleId, tenant });
    return (await this.decide(unit, scheduleId)).side;
  }

  private async defaultSide(workflowId: string): Promise<Side> {
    try {
      return (await this.decide(this.units.unitOf({ workflowId }), workflowId)).side;
    } catch {
      return 'source';
    }
  }

  private redisReady(): boolean {
    return this.store.redis.status === 'ready';
  }

  private remember(workflowId: string, side: Side): void {
    this.placements.set(workflowId, side);
  }

  /** Describes on both clusters; prefers a running run, else the most recently started one. */
  private async lookBoth(workflowId: string): Promise<Side | undefined> {
    const [s, t] = await Promise.all((['source', 'target'] as const).map((side) => this.describeOn(side, workflowId)));
    let found: Side | undefined;
    if (s && t) {
      if (s.running !== t.running) found = s.running ? 'source' : 'target';
      else found = s.startTime >= t.startTime ? 'source' : 'target';
    } else if (s) found = 'source';
    else if (t) found = 'target';
    if (found) this.remember(workflowId, found);
    return found;
  }

  private async describeOn(side: Side, workflowId: string): Promise<{ running: boolean; startTime: number } | undefined> {
    try {
      const d = await this.clients[side].workflow.getHandle(workflowId).describe();
      return { running: d.status.name === 'RUNNING', startTime: d.startTime.getTime() };
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return undefined;
      throw err;
    }
  }

  /**
   * Where a start of a moving unit must go so that one workflow ID never runs on both clusters.
   * See the file comment, step 3.
   */
  private async placeWhileMoving(unit: string, workflowId: string, side: Side, epoch: number): Promise<Side> {
    const mine: PlacementRecord = { side, epoch, at: this.clock.wallMs(), pending: true };
    let claim: Awaited<ReturnType<RoutingStore['claimPlacement']>> | 'unavailable' = 'unavailable';
    let swept = false;
    if (this.redisReady()) {
      try {
        const r = await withTimeout(
          this.store.claimPlacementSwept(unit, this.namespace, workflowId, mine, this.t.placementTtlMs),
          this.t.redisOpTimeoutMs,
        );
        claim = r.claim;
        swept = this.sweepHolds(r.sweep, epoch);
        if (r.sweep) this.sweptUntil.set(unit, Math.max(this.sweptUntil.get(unit) ?? 0, r.sweep.validUntil));
      } catch {
        claim = 'unavailable';
      }
    }
    if (claim !== 'unavailable' && claim?.state === 'invalid') return await this.replaceInvalidPlacement(unit, workflowId, mine, claim.raw);
    if (claim !== 'unavailable' && claim !== undefined) {
      const placed = claim.placement.side;
      if (placed === side) return side;
      // Another start placed this ID on the other side: it may still be in flight, or running there. The
      // claim time is the claiming host's wall clock, so only wall time can age it: hosts' clocks must agree
      // within the in-flight window (docs/design.md, "Failure modes").
      if (claim.placement.pending && this.clock.wallMs() - claim.placement.at < this.t.inflightWindowMs) return placed;
      if ((await this.describeOn(placed, workflowId))?.running) return placed;
      const moved = await this.store.movePlacement(this.namespace, workflowId, claim.raw, mine, this.ttlFor(unit));
      if (moved) return side;
      const now = await this.store.getPlacement(this.namespace, workflowId);
      return now?.side ?? side;
    }
    // Claimed, under a sweep of this very route: every run open on the other side has a placement
    // (swept, or claimed since), and there is none for this ID, so nothing of it runs there.
    if (claim === undefined && swept) return side;
    // Claimed (or Redis unreachable: then every client holds the same last known route, so starts of
    // one ID agree on the side). Runs started before the client existed are found by describing.
    const there = await this.describeOn(other(side), workflowId);
    if (there?.running) {
      if (claim === undefined) {
        await withTimeout(
          this.store.setPlacement(this.namespace, workflowId, { ...mine, side: other(side), pending: false }, this.ttlFor(unit)),
          this.t.redisOpTimeoutMs,
        ).catch(() => undefined);
      }
      return other(side);
    }
    return side;
  }

  /**
   * A sweep marker vouches for the other cluster only for the route it was made under (`epoch`, the
   * record this start was routed by), before its placements may expire, and only where the unit is a
   * function of the workflow ID: with a search-attribute selector the same ID could belong to another
   * unit whose runs that sweep did not list.
   */
  /**
   * The TTL of a placement this client writes for `unit`: its own, but never ending before a sweep marker
   * it has seen stops vouching (other clients skip their look at the other cluster on that promise).
   */
  private ttlFor(unit: string): number {
    return Math.max(this.t.placementTtlMs, (this.sweptUntil.get(unit) ?? 0) - this.clock.wallMs());
  }

  private sweepHolds(sweep: SweepMarker | undefined, epoch: number): boolean {
    if (!sweep || sweep.epoch !== epoch || this.units.byAttribute) return false;
    return this.clock.wallMs() < sweep.validUntil;
  }

  /**
   * A placement value that does not parse or holds invalid values is never followed: the ID's run is
   * looked for on both clusters, and the value replaced (only if it is still the same) by where the run
   * lives, else by this start's claim.
   */
  private async replaceInvalidPlacement(unit: string, workflowId: string, mine: PlacementRecord, raw: string): Promise<Side> {
    const [s, t] = await Promise.all((['source', 'target'] as const).map((sd) => this.describeOn(sd, workflowId)));
    const running: Side | undefined = s?.running ? 'source' : t?.running ? 'target' : undefined;
    const placement = running ? { ...mine, side: running, pending: false } : mine;
    const moved = await withTimeout(
      this.store.movePlacement(this.namespace, workflowId, raw, placement, this.ttlFor(unit)),
      this.t.redisOpTimeoutMs,
    ).catch(() => false);
    if (moved || running) return placement.side;
    // Someone replaced it first: follow theirs when it is valid.
    const now = await withTimeout(this.store.readPlacement(this.namespace, workflowId), this.t.redisOpTimeoutMs).catch(() => undefined);
    return now?.state === 'valid' ? now.placement.side : mine.side;
  }

  /** Decides the cluster of a start (route, then the moving-unit checks). */
  private async placeStart(options: {
    workflowId: string;
    tenant?: string;
  }): Promise<{ side: Side; moving: boolean; epoch: number; unit: string }> {
    if (!options || typeof options.workflowId !== 'string' || options.workflowId === '') {
      throw new RoutingInputError(
        'workflowId',
        'every start through the routed client needs an explicit workflowId (it decides the route)',
      );
    }
    const unit = this.units.unitOf(options as Parameters<UnitResolver['unitOf']>[0]);
    const { side, record } = await this.decide(unit, options.workflowId);
    if (isSettled(record)) return { side, moving: false, epoch: record?.epoch ?? 0, unit };
    const epoch = record?.epoch ?? 0;
    return { side: await this.placeWhileMoving(unit, options.workflowId, side, epoch), moving: true, epoch, unit };
  }

  /**
   * Runs a start on the placed cluster; an unknown outcome is retried there (same request ID), never
   * re-routed. While the unit moves, the placement is then confirmed (not pending) in the background.
   */
  private async onSameCluster(
    workflowId: string,
    placed: { side: Side; moving: boolean; epoch: number; unit: string },
    call: 'start' | 'signalWithStart',
    type: string | Workflow,
    options: object,
  ): Promise<{ firstExecutionRunId?: string; signaledRunId?: string }> {
    // No closures on this path: it runs for every start (and closures are costly under tsx's keepNames).
    const wf = this.clients[placed.side].workflow;
    for (let attempt = 1; ; attempt++) {
      try {
        const r =
          call === 'start'
            ? await wf.start(type, options as WorkflowStartOptions)
            : await wf.signalWithStart(type, options as Parameters<Client['workflow']['signalWithStart']>[1]);
        this.confirm(workflowId, placed);
        return r;
      } catch (err) {
        if (err instanceof WorkflowExecutionAlreadyStartedError) this.confirm(workflowId, placed);
        if (attempt >= this.t.startAttempts || !isUnknownOutcome(err)) throw err;
        await sleep(this.t.startBackoffMs * attempt);
      }
    }
  }

  private confirm(workflowId: string, placed: { side: Side; moving: boolean; epoch: number; unit: string }): void {
    this.remember(workflowId, placed.side);
    if (!placed.moving) return;
    // Fire and forget, after the start has returned to its caller (the write is not the caller's wait): a lost
    // confirmation only makes other clients describe before moving the ID.
    setImmediate(writeConfirmation, this, workflowId, placed);
  }

  /** @internal The confirmation itself (see `confirm`); not part of the client's surface. */
  writeConfirmation(workflowId: string, placed: { side: Side; epoch: number; unit: string }): void {
    if (this.closed || !this.redisReady()) return;
    this.store
      .setPlacement(
        this.namespace,
        workflowId,
        { side: placed.side, epoch: placed.epoch, at: this.clock.wallMs(), pending: false },
        this.ttlFor(placed.unit),
      )
      .catch(() => undefined);
  }

  private async start<T extends Workflow>(type: string | T, options: RoutedStartOptions<T>): Promise<RoutedWorkflowHandle<T>> {
    const placed = await this.placeStart(options);
    const { tenant: _tenant, ...sdkOptions } = options;
    const withId = { ...sdkOptions, [START_OPTIONS_SYMBOL]: { requestId: randomUUID() } } as WorkflowStartOptions<T>;
    const h = await this.onSameCluster(options.workflowId, placed, 'start', type, withId);
    return new RoutedWorkflowHandle<T>(
      this,
      options.workflowId,
      undefined,
      options.followRuns === false ? NO_FOLLOW : undefined,
      h.firstExecutionRunId,
    );
  }

  private async execute<T extends Workflow>(type: string | T, options: RoutedStartOptions<T>): Promise<WorkflowResultType<T>> {
    const h = await this.start(type, options);
    return await h.result();
  }

  private async signalWithStart<T extends Workflow, SA extends unknown[]>(
    type: string | T,
    options: RoutedSignalWithStartOptions<T, SA>,
  ): Promise<RoutedWorkflowHandle<T> & { signaledRunId: string }> {
    const placed = await this.placeStart(options);
    const { tenant: _tenant, ...sdkOptions } = options;
    const h = await this.onSameCluster(options.workflowId, placed, 'signalWithStart', type, sdkOptions);
    const handle = new RoutedWorkflowHandle<T>(this, options.workflowId, undefined, options.followRuns === false ? NO_FOLLOW : undefined);
    return Object.assign(handle, { signaledRunId: h.signaledRunId as string });
  }

  /**
   * Creates the schedule on both clusters: active (as asked) on the routed side first, then a paused
   * copy on the other side — the order means a crash in between never leaves two active copies.
   */
  private async createSchedule(options: ScheduleOptions & { tenant?: string }): Promise<RoutedScheduleHandle> {
    if (!options || typeof options.scheduleId !== 'string' || options.scheduleId === '') {
      throw new RoutingInputError('scheduleId', 'pass a non-empty schedule ID');
    }
    const { tenant, ...sdkOptions } = options;
    const side = await this.scheduleSide(options.scheduleId, tenant);
    await this.clients[side].schedule.create(sdkOptions);
    await this.writeStandby(options.scheduleId, side, 'create');
    return new RoutedScheduleHandle(this, options.scheduleId);
  }

  /**
   * Writes the standby copy of a schedule from the active copy as the server holds it, paused. The
   * payloads (action input, memo) are the active copy's bytes: encoded once, so the two copies are equal
   * byte for byte even when a codec seals each encoding with a fresh IV. `update` leaves a standby that
   * does not exist alone. @internal
   */
  async writeStandby(scheduleId: string, active: Side, mode: 'create' | 'update'): Promise<void> {
    const from = this.clients[active];
    const to = this.clients[other(active)];
    const d = await from.workflowService.describeSchedule({ namespace: from.options.namespace, scheduleId });
    const s = d.schedule ?? {};
    const schedule = {
      spec: s.spec,
      action: s.action,
      policies: s.policies,
      state: { paused: true, notes: STANDBY_NOTE, limitedActions: s.state?.limitedActions, remainingActions: s.state?.remainingActions },
    };
    const request = { namespace: to.options.namespace, scheduleId, identity: to.options.identity, schedule };
    if (mode === 'create') {
      try {
        await to.workflowService.createSchedule({
          ...request,
          requestId: randomUUID(),
          memo: d.memo,
          searchAttributes: d.searchAttributes,
        });
        return;
      } catch (err) {
        // A copy left from an earlier attempt: bring it in line below, still paused.
        if (grpcCode(err) !== GrpcStatus.ALREADY_EXISTS) throw err;
      }
    }
    try {
      await to.workflowService.updateSchedule({
        ...request,
        requestId: randomUUID(),
        searchAttributes: d.searchAttributes ?? { indexedFields: {} },
      });
    } catch (err) {
      if (grpcCode(err) !== GrpcStatus.NOT_FOUND) throw err;
    }
  }
}
