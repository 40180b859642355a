/**
 * Activities that observe and change the two clusters for one unit: preflight, provision, probes,
 * open counts (drain), straggler termination and reconcile. Built by a factory that takes the
 * clusters' connections (activities never build clients); every activity is idempotent on retry.
 */
import { ApplicationFailure, Client, isGrpcServiceError, WorkflowIdConflictPolicy, WorkflowNotFoundError } from '@temporalio/client';
import type { ConnectionLike } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { optionalTsToDate } from '@temporalio/common/lib/time';
import { Context, heartbeat } from '@temporalio/activity';
import { temporal } from '@temporalio/proto';
import { DEFAULT_CLIENT_STALENESS_MS } from '../config/defaults';
import { sideFor } from '../routing/hash';
import { PROBE_TASK_QUEUE, PROBE_WORKFLOW_TYPE } from '../domain/constants';
import { HANDED_OFF_FROM_MEMO } from '../domain/handoff';
import type {
  Side,
  CountResult,
  MisroutedRun,
  PreflightResult,
  Problem,
  ProbeResult,
  ProvisionResult,
  ReconcileResult,
  ReconcileRoute,
} from '../domain/migration';
import { openQuery, startedSinceQuery, type UnitScope } from '../clusters/queries';
import { GrpcStatus } from '../clusters/grpc';
import { type CloudAuth, tcldNamespaceCreate, tcldSearchAttributesAdd, tcldType } from '../clusters/cloud-setup';

/** One cluster as the activities see it. `kind` decides what may be provisioned (never on cloud). */
export interface ClusterDep {
  name: string;
  connection: ConnectionLike;
  /** Default 'self-hosted' (namespaces and search attributes may be created). */
  kind?: 'dev' | 'self-hosted' | 'cloud';
  /** On a cloud cluster, how its namespaces authenticate (the `--auth-method` of the printed tcld commands; default api-key). */
  cloudAuth?: CloudAuth;
  /** Bound on this cluster's visibility lag, in ms (default by kind: {@link VISIBILITY_SETTLE_MS}). */
  visibilitySettleMs?: number;
}

/**
 * How long a visibility answer must hold before it is acted on, by cluster kind. Visibility is written
 * after the fact (a run shows up in list/count, and shows as closed, a moment after the write was
 * acknowledged): measured here ~10 ms on a dev server and ~50 ms on an idle temporal-server on
 * PostgreSQL, seconds under load; Cloud's Elasticsearch visibility refreshes about every second.
 * The bounds are generous because a too-short one declares a unit drained while a run is still open.
 */
export const VISIBILITY_SETTLE_MS: Record<NonNullable<ClusterDep['kind']>, number> = { dev: 500, 'self-hosted': 3_000, cloud: 3_000 };

/** Dependencies of the cluster activities. */
export interface ClusterActivityDeps {
  source: ClusterDep;
  target: ClusterDep;
  now?: () => Date;
  /** How long a namespace's listed custom search attributes are reused (default {@link SEARCH_ATTRIBUTE_TTL_MS}). */
  searchAttributeTtlMs?: number;
  /** cutover's own data converter (the plan's codec): for the probe workflows only, which are cutover's. */
  dataConverter?: DataConverter;
  /** The routed clients' placements (Redis), so reconcile can tell a placed start that landed late from a misrouted one. */
  placements?: { getPlacement(namespace: string, workflowId: string): Promise<{ side: Side } | undefined> };
}

/**
 * How long one worker reuses a namespace's custom search attributes once listed. Why they are cached:
 * on SQL visibility (a dev server's SQLite, a self-hosted cluster on PostgreSQL or MySQL) Temporal
 * 1.29's ListSearchAttributes opens a new gRPC connection from the frontend to itself on every call
 * and never closes it, so each call leaves the server two more open file descriptors for good.
 * Listing per unit (preflight and provision, source and target) took both dev servers of a
 * 10,000-tenant campaign to their 20,000-descriptor limit at 5,000 units, and would do the same to a
 * user's frontend. A cached answer is only trusted when it finds nothing missing: what preflight
 * reports missing and what provision adds come from a fresh listing. The cost of the cache: an
 * attribute added to the source, or removed from the target, is noticed up to this much later.
 */
export const SEARCH_ATTRIBUTE_TTL_MS = 10 * 60_000;

/** How many IDs a count or reconcile lists at most (visibility is rate limited; reports stay short). */
const LIST_LIMIT = 200;
const SAMPLE_IDS = 25;
/** Longest pause between two reads of a converging visibility check (visibility reads are rate limited). */
const CONVERGE_MAX_WAIT_MS = 1_000;
/** How long provision waits for a new namespace or search attribute to be served (heartbeating). */
const USABLE_TIMEOUT_MS = 60_000;

function isCode(err: unknown, code: number): boolean {
  return isGrpcServiceError(err) && err.code === code;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Rejects with a `CancelledFailure` when the activity running this code is cancelled; never settles
 * outside an activity. A worker that shuts down cancels its activities at once, and the server retries
 * them (on another worker, or this one restarted).
 */
function whenCancelled(): Promise<never> {
  try {
    return Context.current().cancelled;
  } catch {
    return new Promise<never>(() => undefined);
  }
}

/** Heartbeats when called from an activity; the CLI's reconcile calls the same code outside one. */
function beat(): void {
  try {
    heartbeat();
  } catch {
    // not in an activity context
  }
}

/**
 * Retries `op` with backoff (heartbeating) until it stops failing with one of `codes`, for up to
 * USABLE_TIMEOUT_MS: a namespace or search attribute is written at once but served only once the
 * frontends' caches refresh (seconds on a self-hosted cluster without a forced refresh).
 */
async function untilServed(codes: number[], op: () => Promise<unknown>): Promise<void> {
  const deadline = Date.now() + USABLE_TIMEOUT_MS;
  for (let wait = 100; ; wait = Math.min(wait * 2, CONVERGE_MAX_WAIT_MS)) {
    try {
      await op();
      return;
    } catch (err) {
      if (!codes.some((c) => isCode(err, c)) || Date.now() + wait > deadline) throw err;
    }
    beat();
    await sleep(wait);
  }
}

/** The side a client start of `workflowId` belongs on under `route` (undefined under `hold`: no verdict). */
export function routedSide(route: ReconcileRoute, workflowId: string): Side | undefined {
  if (route.kind === 'side') return route.side;
  if (route.kind === 'percent') {
    const side = sideFor({ kind: 'percent', basisPoints: Math.round((route.percent ?? 0) * 100) }, workflowId);
    return side === 'hold' ? undefined : side;
  }
  return undefined;
}

/** Arguments shared by the per-unit activities. */
export interface UnitArgs extends UnitScope {
  sourceNamespace: string;
  targetNamespace: string;
}

/** Arguments of `runProbes` (the gate activity calls it too). */
export interface RunProbesArgs {
  namespace: string;
  count: number;
  /** Probe workflow IDs are `<idPrefix>-<i>`, so a retried activity finds the same probes. */
  idPrefix: string;
  taskQueue?: string;
  timeoutMs?: number;
  minSuccess: number;
  maxP99Ms?: number;
}

/** Builds the cluster activities over the given connections. */
export function createClusterActivities(deps: ClusterActivityDeps) {
  const now = deps.now ?? (() => new Date());
  /*
   * Two kinds of client. The application's runs are counted, listed, described and terminated through
   * clients with no codec, and listed and described raw: their memos are the application's payloads,
   * maybe sealed with keys cutover does not hold, and decoding them would fail for nothing cutover needs.
   * The probes are cutover's own workflows, so they are started with cutover's data converter.
   */
  const clients = new Map<string, Client>();
  const clientOf = (key: string, make: () => Client): Client => {
    let c = clients.get(key);
    if (!c) clients.set(key, (c = make()));
    return c;
  };
  const clientFor = (side: Side, namespace: string): Client =>
    clientOf(`${side}/${namespace}`, () => new Client({ connection: deps[side].connection, namespace }));
  const probeClient = (namespace: string): Client =>
    clientOf(`probe/${namespace}`, () => new Client({ connection: deps.target.connection, namespace, dataConverter: deps.dataConverter }));
  const dep = (side: Side) => deps[side];
  const settleMs = (side: Side) => deps[side].visibilitySettleMs ?? VISIBILITY_SETTLE_MS[deps[side].kind ?? 'self-hosted'];

  async function describeNamespace(side: Side, namespace: string) {
    try {
      return await dep(side).connection.workflowService.describeNamespace({ namespace });
    } catch (err) {
      if (isCode(err, GrpcStatus.NOT_FOUND)) return undefined;
      // With per-namespace keys (Temporal Cloud), a namespace the key cannot see is refused whether or not
      // it exists: on a cloud cluster that reads as "missing or not yours", which the caller reports.
      if (deps[side].kind === 'cloud' && isCode(err, GrpcStatus.PERMISSION_DENIED)) return undefined;
      throw err;
    }
  }

  /** What to say about a namespace a cloud cluster did not describe: it is missing, or the key may not see it. */
  const notOnCloud = (side: Side, namespace: string) =>
    `namespace ${namespace} not found on ${deps[side].name} (kind cloud), or its API key has no access to it`;

  const attributeTtlMs = deps.searchAttributeTtlMs ?? SEARCH_ATTRIBUTE_TTL_MS;
  /** Listings by `side/namespace`: `at` is when the listing was asked for; concurrent callers share it. */
  const attributeListings = new Map<string, { at: number; value: Promise<Record<string, number>> }>();

  /**
   * A namespace's custom search attributes ({@link SEARCH_ATTRIBUTE_TTL_MS} says why they are cached).
   * With `askedSince`, only a listing asked for at or after that instant will do.
   */
  function customAttributes(side: Side, namespace: string, askedSince?: number): Promise<Record<string, number>> {
    const key = `${side}/${namespace}`;
    const t = Date.now();
    const hit = attributeListings.get(key);
    if (hit && (askedSince !== undefined ? hit.at >= askedSince : t - hit.at < attributeTtlMs)) return hit.value;
    const value = dep(side)
      .connection.operatorService.listSearchAttributes({ namespace })
      .then((res) => ({ ...(res.customAttributes ?? {}) }) as Record<string, number>);
    const entry = { at: t, value };
    attributeListings.set(key, entry);
    // A failed listing is not reused: the next caller asks again.
    value.catch(() => attributeListings.get(key) === entry && attributeListings.delete(key));
    return value;
  }

  /**
   * The source's custom search attributes and those of them the target lacks. A cached answer that finds
   * some missing is checked again with fresh listings of both sides before anyone acts on it.
   */
  async function attributeParity(
    sourceNamespace: string,
    targetNamespace: string | undefined,
  ): Promise<{ want: Record<string, number>; missing: string[] }> {
    const compare = async (askedSince?: number) => {
      const want = await customAttributes('source', sourceNamespace, askedSince);
      const have = targetNamespace !== undefined ? await customAttributes('target', targetNamespace, askedSince) : {};
      return {
        want,
        missing: Object.keys(want)
          .filter((k) => !(k in have))
          .sort(),
      };
    };
    const began = Date.now();
    const cached = await compare();
    return cached.missing.length === 0 ? cached : compare(began);
  }

  async function pollers(side: Side, namespace: string, taskQueue: string): Promise<number> {
    const res = await dep(side).connection.workflowService.describeTaskQueue({
      namespace,
      taskQueue: { name: taskQueue, kind: temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
      taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    });
    return res.pollers?.length ?? 0;
  }

  /** Runs matching `query`, raw: the SDK's list would decode each run's memo, which is the application's. */
  async function* listRaw(side: Side, namespace: string, query: string) {
    let nextPageToken: Uint8Array | undefined;
    do {
      const res = await dep(side).connection.workflowService.listWorkflowExecutions({ namespace, query, pageSize: 100, nextPageToken });
      for (const info of res.executions ?? []) {
        yield {
          workflowId: info.execution?.workflowId ?? '',
          runId: info.execution?.runId ?? '',
          taskQueue: info.taskQueue ?? '',
          startTime: optionalTsToDate(info.startTime) ?? new Date(0),
        };
      }
      nextPageToken = res.nextPageToken?.length ? res.nextPageToken : undefined;
    } while (nextPageToken);
  }

  async function listIds(
    side: Side,
    namespace: string,
    query: string,
  ): Promise<{ workflowId: string; runId: string; taskQueue: string }[]> {
    const out: { workflowId: string; runId: string; taskQueue: string }[] = [];
    for await (const wf of listRaw(side, namespace, query)) {
      out.push({ workflowId: wf.workflowId, runId: wf.runId, taskQueue: wf.taskQueue });
      if (out.length >= LIST_LIMIT) break;
    }
    return out;
  }

  async function count(side: Side, namespace: string, query: string): Promise<number> {
    return (await clientFor(side, namespace).workflow.count(query)).count;
  }

  /** A raw count (gRPC status codes intact, unlike the client's wrapped errors), to test that a namespace is served. */
  async function rawCount(side: Side, namespace: string, query: string): Promise<void> {
    await dep(side).connection.workflowService.countWorkflowExecutions({ namespace, query });
  }

  /**
   * Why a run is not a client's start (undefined when it is one): a continued-as-new, retried or cron
   * run follows its first run, a child runs where its parent runs, and a schedule's fires are checked
   * with the schedules. Read from the run's first event.
   */
  async function notAClientStart(side: Side, namespace: string, workflowId: string, runId: string): Promise<string | undefined> {
    const res = await dep(side).connection.workflowService.getWorkflowExecutionHistory({
      namespace,
      execution: { workflowId, runId },
      maximumPageSize: 1,
    });
    const started = res.history?.events?.[0]?.workflowExecutionStartedEventAttributes;
    if (!started) return 'no start event';
    if (started.continuedExecutionRunId) return 'continues an earlier run';
    if (started.parentWorkflowExecution?.workflowId) return 'a child workflow';
    if (started.searchAttributes?.indexedFields?.TemporalScheduledById) return 'started by a schedule';
    if (started.memo?.fields?.[HANDED_OFF_FROM_MEMO]) return "cutover's handoff of a running workflow";
    return undefined;
  }

  /**
   * Client starts on the side `route` did not give, since its change plus the grace (the clients'
   * staleness bound: until then a client may still route by the previous record). Open or closed: a
   * closed one still says some client ignores the route.
   */
  async function misroutedRuns(args: UnitArgs, route: ReconcileRoute): Promise<MisroutedRun[]> {
    const changed = Date.parse(route.changedAt);
    if (!Number.isFinite(changed)) {
      throw ApplicationFailure.create({
        type: 'InvalidInput',
        nonRetryable: true,
        message: `route.changedAt: "${route.changedAt}" is not an ISO time; pass the routing record's changedAt`,
      });
    }
    if (route.kind === 'hold') return [];
    const since = new Date(changed + (route.graceMs ?? DEFAULT_CLIENT_STALENESS_MS)).toISOString();
    // Under a side route only the other side can hold a misrouted start; under a percentage, either.
    const sides: Side[] = route.kind === 'side' ? [route.side === 'source' ? 'target' : 'source'] : ['source', 'target'];
    const ns = { source: args.sourceNamespace, target: args.targetNamespace } as const;
    const out: MisroutedRun[] = [];
    for (const side of sides) {
      let listed = 0;
      for await (const wf of listRaw(side, ns[side], startedSinceQuery(args, since))) {
        if (++listed > LIST_LIMIT) break;
        const belongs = routedSide(route, wf.workflowId);
        if (belongs === undefined || belongs === side) continue;
        beat();
        if (await notAClientStart(side, ns[side], wf.workflowId, wf.runId)) continue;
        // Placed there by a client (under an earlier route, its unknown outcome retried on the same cluster).
        if (route.placementNamespace && deps.placements) {
          // Redis unreadable: no placement to vouch for the run, so it is reported (an operator looks), never passed.
          const placed = await deps.placements.getPlacement(route.placementNamespace, wf.workflowId).catch(() => undefined);
          if (placed?.side === side) continue;
        }
        const startedAt = wf.startTime.toISOString();
        out.push({
          workflowId: wf.workflowId,
          runId: wf.runId,
          side,
          startedAt,
          why: `started on the ${side} at ${startedAt}; the route has sent it to the ${belongs} since ${route.changedAt}`,
        });
      }
    }
    return out;
  }

  /** Whether `workflowId`'s latest run is open, from describe (strongly consistent, unlike visibility); raw, as `listRaw`. */
  async function isRunning(side: Side, namespace: string, workflowId: string): Promise<boolean> {
    try {
      const d = await dep(side).connection.workflowService.describeWorkflowExecution({ namespace, execution: { workflowId } });
      return d.workflowExecutionInfo?.status === temporal.api.enums.v1.WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING;
    } catch (err) {
      if (isCode(err, GrpcStatus.NOT_FOUND)) return false;
      throw err;
    }
  }

  /** The source's retention in days, for the tcld command that creates the target namespace. */
  const retentionDays = (src: Awaited<ReturnType<typeof describeNamespace>>): number | undefined => {
    const seconds = src?.config?.workflowExecutionRetentionTtl?.seconds;
    return seconds != null ? Number(seconds) / 86_400 : undefined;
  };
  const spec = (want: Record<string, number>, names: string[]) => Object.fromEntries(names.map((k) => [k, tcldType(want[k])]));

  return {
    /** Both clusters reachable; namespaces and search attributes in parity; pollers on the target; open count. */
    async preflight(args: UnitArgs & { requirePollers: boolean }): Promise<PreflightResult> {
      const problems: Problem[] = [];
      await dep('source').connection.workflowService.getSystemInfo({});
      await dep('target').connection.workflowService.getSystemInfo({});
      const src = await describeNamespace('source', args.sourceNamespace);
      if (!src) {
        problems.push({
          field: 'sourceNamespace',
          message: `namespace ${args.sourceNamespace} not found on ${deps.source.name}`,
          hint: 'fix the namespace key in the plan',
        });
      }
      const tgt = await describeNamespace('target', args.targetNamespace);
      const cloud = deps.target.kind === 'cloud';
      let missing: string[] = [];
      let want: Record<string, number> = {};
      if (src) ({ want, missing } = await attributeParity(args.sourceNamespace, tgt ? args.targetNamespace : undefined));
      // Cloud has no operator API for its customers: what is missing there is created with tcld, by its admins.
      if (!tgt && cloud) {
        const command = tcldNamespaceCreate(args.targetNamespace, {
          attributes: spec(want, Object.keys(want)),
          retentionDays: retentionDays(src),
          auth: deps.target.cloudAuth,
        });
        problems.push({
          field: 'targetNamespace',
          message: `${notOnCloud('target', args.targetNamespace)}; create it with: ${command}`,
          hint:
            `cutover does not create namespaces on Temporal Cloud: run ${command}; if it exists, give the key access to it; ` +
            'or fix namespaces.<ns>.target',
        });
      }
      if (tgt && missing.length > 0 && cloud) {
        const command = tcldSearchAttributesAdd(args.targetNamespace, spec(want, missing));
        problems.push({
          field: 'searchAttributes',
          message: `missing on ${deps.target.name}/${args.targetNamespace} (kind cloud): ${missing.join(', ')}; add them with: ${command}`,
          hint: `cutover does not add search attributes on Temporal Cloud: run ${command}`,
        });
      }
      const targetPollers: Record<string, number> = {};
      if (tgt) {
        for (const q of args.taskQueues) targetPollers[q] = await pollers('target', args.targetNamespace, q);
      }
      if (args.requirePollers) {
        for (const q of args.taskQueues) {
          if (!targetPollers[q]) {
            const hint = tgt
              ? 'start the application with DualWorkers so the target side polls'
              : 'the target namespace does not exist yet, so nothing can poll it: create it (or move with drain-and-switch, ' +
                'which provisions it), then start DualWorkers';
            problems.push({
              field: `taskQueues.${q}`,
              message: `no workflow pollers on ${deps.target.name}/${args.targetNamespace}`,
              hint,
            });
          }
        }
      }
      const sourceOpen = src ? await count('source', args.sourceNamespace, openQuery(args)) : 0;
      return {
        ok: problems.length === 0,
        problems,
        targetNamespaceExists: !!tgt,
        missingSearchAttributes: missing,
        targetPollers,
        sourceOpen,
        clusterKinds: { source: deps.source.kind ?? 'self-hosted', target: deps.target.kind ?? 'self-hosted' },
        at: now().toISOString(),
      };
    },

    /** Registers the target namespace (self-hosted only) with the source's retention and adds missing custom search attributes. */
    async provision(args: { sourceNamespace: string; targetNamespace: string }): Promise<ProvisionResult> {
      const src = await describeNamespace('source', args.sourceNamespace);
      if (!src)
        throw ApplicationFailure.create({
          type: 'NamespaceNotFound',
          nonRetryable: true,
          message: `sourceNamespace: ${args.sourceNamespace} not found on ${deps.source.name}`,
        });
      let namespaceCreated = false;
      const retention = src.config?.workflowExecutionRetentionTtl ?? undefined;
      if (!(await describeNamespace('target', args.targetNamespace))) {
        if (deps.target.kind === 'cloud') {
          const { want } = await attributeParity(args.sourceNamespace, undefined);
          const command = tcldNamespaceCreate(args.targetNamespace, {
            attributes: spec(want, Object.keys(want)),
            retentionDays: retentionDays(src),
            auth: deps.target.cloudAuth,
          });
          throw ApplicationFailure.create({
            type: 'NamespaceNotCreatable',
            nonRetryable: true,
            message: `targetNamespace: ${notOnCloud('target', args.targetNamespace)}; create it with: ${command}`,
          });
        }
        try {
          await dep('target').connection.workflowService.registerNamespace({
            namespace: args.targetNamespace,
            workflowExecutionRetentionPeriod: retention,
            description: `created by cutover from ${deps.source.name}/${args.sourceNamespace}`,
          });
          namespaceCreated = true;
        } catch (err) {
          if (!isCode(err, GrpcStatus.ALREADY_EXISTS)) throw err; // a retry after a lost response: already done
        }
      }
      // A new namespace serves requests once the frontends' namespace caches refreshed (seconds on a
      // self-hosted cluster). Checked every time, so a provision retried after creating it still waits.
      await untilServed([GrpcStatus.NOT_FOUND, GrpcStatus.UNAVAILABLE], () => rawCount('target', args.targetNamespace, ''));
      const { want, missing: added } = await attributeParity(args.sourceNamespace, args.targetNamespace);
      if (added.length > 0 && deps.target.kind === 'cloud') {
        // Provision only verifies on Cloud: no operator API call, ever.
        const command = tcldSearchAttributesAdd(args.targetNamespace, spec(want, added));
        throw ApplicationFailure.create({
          type: 'SearchAttributesMissing',
          nonRetryable: true,
          message:
            `searchAttributes: ${added.join(', ')} missing on cloud cluster ${deps.target.name}/${args.targetNamespace}; ` +
            `add them with: ${command}`,
        });
      }
      if (added.length > 0) {
        const add = Object.fromEntries(added.map((k) => [k, want[k]!]));
        try {
          await dep('target').connection.operatorService.addSearchAttributes({ namespace: args.targetNamespace, searchAttributes: add });
          attributeListings.delete(`target/${args.targetNamespace}`); // the next preflight sees the attributes added
        } catch (err) {
          if (!isCode(err, GrpcStatus.ALREADY_EXISTS)) {
            if (isGrpcServiceError(err) && /cannot have more than/i.test(err.details ?? '')) {
              throw ApplicationFailure.create({
                type: 'SearchAttributeLimit',
                nonRetryable: true,
                message: `searchAttributes: the target has no free slot for ${added.join(', ')}`,
                cause: err,
              });
            }
            throw err;
          }
        }
      }
      // A search attribute is not usable the moment it is added: until the frontends' caches learn it
      // (a self-hosted server without a forced refresh), starts and queries naming it are refused. A
      // query naming each is the test — all of them, not only those added now, so a retry still waits.
      const names = Object.keys(want).sort();
      if (names.length > 0) {
        await untilServed([GrpcStatus.INVALID_ARGUMENT, GrpcStatus.NOT_FOUND, GrpcStatus.UNAVAILABLE], () =>
          rawCount('target', args.targetNamespace, names.map((k) => `${k} IS NULL`).join(' AND ')),
        );
      }
      const retentionMs = retention?.seconds != null ? Number(retention.seconds) * 1000 : undefined;
      return { namespaceCreated, retentionMs, searchAttributesAdded: added, at: now().toISOString() };
    },

    /** Runs `count` probe workflows on the target and measures success and latency (a gate: returns, never throws for a failed probe). */
    async runProbes(args: RunProbesArgs): Promise<ProbeResult> {
      const client = probeClient(args.namespace);
      const timeoutMs = args.timeoutMs ?? 30_000;
      const taskQueue = args.taskQueue ?? PROBE_TASK_QUEUE;
      const latencies: number[] = [];
      let succeeded = 0;
      const one = async (i: number) => {
        const t0 = Date.now();
        // Deterministic IDs + USE_EXISTING: a retried activity waits for the same probes instead of starting new ones.
        const handle = await client.workflow.start(PROBE_WORKFLOW_TYPE, {
          taskQueue,
          workflowId: `${args.idPrefix}-${i}`,
          args: [{ echo: `${args.idPrefix}-${i}` }],
          workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
          workflowExecutionTimeout: timeoutMs,
          staticSummary: 'cutover synthetic probe',
        });
        try {
          await handle.result();
          succeeded++;
          latencies.push(Date.now() - t0);
        } catch {
          // A failed or timed-out probe is a failed measurement, not an activity error.
        }
      };
      // Heartbeat while waiting, so a worker that dies mid-probe is noticed within the heartbeat timeout.
      const beat = setInterval(() => heartbeat(), 1000);
      try {
        // Stop waiting when cancelled: the probes run on this process's own probe worker, which a worker
        // shutting down stops too, so waiting would hold the shutdown until the probes time out and then
        // report them failed. The retried activity waits for the same probes (their IDs are stable).
        await Promise.race([Promise.all(Array.from({ length: args.count }, (_, i) => one(i))), whenCancelled()]);
      } finally {
        clearInterval(beat);
      }
      latencies.sort((a, b) => a - b);
      const p99Ms = latencies.length ? latencies[Math.min(latencies.length - 1, Math.ceil(latencies.length * 0.99) - 1)] : undefined;
      const share = args.count ? succeeded / args.count : 1;
      const slow = args.maxP99Ms !== undefined && p99Ms !== undefined && p99Ms > args.maxP99Ms;
      const result = share >= args.minSuccess && !slow ? 'successful' : 'failed';
      const message =
        `${succeeded}/${args.count} probes succeeded` +
        `${p99Ms !== undefined ? `, p99 ${p99Ms} ms` : ''}${slow ? ` (over ${args.maxP99Ms} ms)` : ''}`;
      return { result, value: share, message, started: args.count, succeeded, p99Ms };
    },

    /**
     * Open runs of the unit on one side, with a few of their IDs. Zero is the answer a drain acts on,
     * so a zero is returned only once it has converged: zero again in a read issued at least the side's
     * settle time after the first zero read, so every run acknowledged before that first read has had
     * time to appear. A non-zero answer is returned at once (the caller polls again; a run whose close
     * is not visible yet only makes the drain look slower).
     */
    async countOpen(args: UnitScope & { side: Side; namespace: string }): Promise<CountResult> {
      const q = openQuery(args);
      let open = await count(args.side, args.namespace, q);
      if (open === 0) {
        const confirmAt = Date.now() + settleMs(args.side);
        for (let wait = 100; open === 0; wait = Math.min(wait * 2, CONVERGE_MAX_WAIT_MS)) {
          const left = confirmAt - Date.now();
          if (left <= 0) break; // the last zero read was issued after confirmAt: converged
          beat();
          await sleep(Math.min(wait, left));
          open = await count(args.side, args.namespace, q);
        }
      }
      const sample = open > 0 ? (await listIds(args.side, args.namespace, q)).slice(0, SAMPLE_IDS) : [];
      return {
        side: args.side,
        open,
        sampleIds: sample.map((w) => w.workflowId),
        sampleRuns: sample.map((w) => ({ workflowId: w.workflowId, runId: w.runId })),
        at: now().getTime(),
      };
    },

    /** Terminates the unit's open runs on one side (stragglers, after an approval). Already-closed runs are skipped. */
    async terminateStragglers(
      args: UnitScope & { side: Side; namespace: string; reason: string; runs?: { workflowId: string; runId: string }[] },
    ): Promise<{ terminated: string[] }> {
      const client = clientFor(args.side, args.namespace);
      const terminated: string[] = [];
      // With `runs`, exactly the approved runs (by run ID: a run started after the approval is never touched).
      const targets =
        args.runs ??
        (await listIds(args.side, args.namespace, openQuery(args))).map(({ workflowId }) => ({ workflowId, runId: undefined }));
      for (const { workflowId, runId } of targets) {
        try {
          await client.workflow.getHandle(workflowId, runId).terminate(args.reason);
          terminated.push(workflowId);
        } catch (err) {
          if (!(err instanceof WorkflowNotFoundError)) throw err;
        }
      }
      return { terminated };
    },

    /**
     * Duplicates (an ID open on both clusters, or run on both since the move began), stranded runs
     * (open on the side that was drained, or open on a task queue with no pollers) and, given the
     * route, misrouted runs (a client's start on the side the route did not give).
     */
    async reconcile(
      args: UnitArgs & {
        since?: string;
        drainedSide?: Side;
        route?: ReconcileRoute;
        /** IDs cutover handed from one side to the other (policy `handoff`): one run after the other, not a duplicate. */
        handedOff?: string[];
      },
    ): Promise<ReconcileResult> {
      const handedOff = new Set(args.handedOff ?? []);
      const ns = { source: args.sourceNamespace, target: args.targetNamespace } as const;
      // The four lists of a pass are independent reads, made side by side: over a slow link a pass costs one
      // round trip, not four.
      const read = async () => {
        const since = args.since;
        const none = Promise.resolve([] as Awaited<ReturnType<typeof listIds>>);
        const [openSource, openTarget, ranSource, ranTarget] = await Promise.all([
          listIds('source', ns.source, openQuery(args)),
          listIds('target', ns.target, openQuery(args)),
          since ? listIds('source', ns.source, startedSinceQuery(args, since)) : none,
          since ? listIds('target', ns.target, startedSinceQuery(args, since)) : none,
        ]);
        const open = { source: openSource, target: openTarget };
        const dup: string[] = [];
        const openOnTarget = new Set(openTarget.map((w) => w.workflowId));
        for (const w of openSource) if (openOnTarget.has(w.workflowId)) dup.push(w.workflowId);
        const ran = new Set(ranSource.map((w) => w.workflowId));
        for (const w of ranTarget) if (ran.has(w.workflowId) && !handedOff.has(w.workflowId)) dup.push(w.workflowId);
        return { open, dup };
      };
      // Two passes, the second issued a settle time after the first: the report is as of the first
      // pass, and anything acknowledged before it has appeared by the second (visibility lags writes).
      // Problems are the union of both; a stranded run must also still be open per describe (strongly
      // consistent), so a close that visibility has not shown yet is not reported.
      const secondAt = Date.now() + Math.max(settleMs('source'), settleMs('target'));
      const first = await read();
      beat();
      await sleep(Math.max(0, secondAt - Date.now()));
      const second = await read();
      const dup = new Set([...first.dup, ...second.dup]);
      const stranded: ReconcileResult['stranded'] = [];
      for (const side of ['source', 'target'] as const) {
        const seen = new Map<string, string>();
        for (const w of [...first.open[side], ...second.open[side]]) seen.set(w.workflowId, w.taskQueue);
        const queues = new Map<string, number>();
        for (const [workflowId, taskQueue] of seen) {
          let why: string | undefined;
          if (side === args.drainedSide) why = `open on the ${side} after it was drained`;
          else {
            if (!queues.has(taskQueue)) queues.set(taskQueue, await pollers(side, ns[side], taskQueue));
            if (queues.get(taskQueue) === 0) why = `no pollers on task queue ${taskQueue}`;
          }
          if (why && (await isRunning(side, ns[side], workflowId))) stranded.push({ workflowId, side, why });
        }
      }
      // After the second pass: every start acknowledged before the first one is visible by now.
      const misrouted = args.route ? await misroutedRuns(args, args.route) : undefined;
      const open = second.open;
      const duplicates = [...dup].sort();
      return {
        clean: duplicates.length === 0 && stranded.length === 0 && (misrouted?.length ?? 0) === 0,
        sourceOpen: open.source.length,
        targetOpen: open.target.length,
        duplicates,
        stranded,
        ...(misrouted ? { misrouted } : {}),
        at: now().toISOString(),
      };
    },
  };
}
