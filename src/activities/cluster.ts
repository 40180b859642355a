/**
 * Activities that observe and change the two clusters for one unit: preflight, provision, probes,
 * open counts (drain), straggler termination and reconcile. Built by a factory that takes the
 * clusters' connections (STYLE example 8); every activity is idempotent on retry.
 */
import { ApplicationFailure, Client, isGrpcServiceError, WorkflowIdConflictPolicy, WorkflowNotFoundError } from '@temporalio/client';
import type { ConnectionLike } from '@temporalio/client';
import { heartbeat } from '@temporalio/activity';
import { PROBE_TASK_QUEUE, PROBE_WORKFLOW_TYPE } from '../workflows/constants';
import type {
  ClusterSide,
  CountResult,
  PreflightResult,
  Problem,
  ProbeResult,
  ProvisionResult,
  ReconcileResult,
} from '../workflows/migration-types';
import { openQuery, startedSinceQuery, type UnitScope } from './queries';

/** One cluster as the activities see it. `kind` decides what may be provisioned (never on cloud). */
export interface ClusterDep {
  name: string;
  connection: ConnectionLike;
  /** Default 'self-hosted' (namespaces and search attributes may be created). */
  kind?: 'dev' | 'self-hosted' | 'cloud';
}

/** Dependencies of the cluster activities. */
export interface ClusterActivityDeps {
  source: ClusterDep;
  target: ClusterDep;
  now?: () => Date;
}

// gRPC status codes (grpc.status) that the activities tell apart.
const NOT_FOUND = 5;
const ALREADY_EXISTS = 6;
// temporal.api.enums.v1 values used on raw requests.
const TASK_QUEUE_KIND_NORMAL = 1;
const TASK_QUEUE_TYPE_WORKFLOW = 1;
/** How many IDs a count or reconcile lists at most (visibility is rate limited; reports stay short). */
const LIST_LIMIT = 200;
const SAMPLE_IDS = 25;

function isCode(err: unknown, code: number): boolean {
  return isGrpcServiceError(err) && err.code === code;
}

/** Arguments shared by the per-unit activities. */
export interface UnitArgs extends UnitScope {
  sourceNamespace: string;
  targetNamespace: string;
}

/** Builds the cluster activities over the given connections. */
export function createClusterActivities(deps: ClusterActivityDeps) {
  const now = deps.now ?? (() => new Date());
  const clients = new Map<string, Client>();
  const clientFor = (side: ClusterSide, namespace: string): Client => {
    const key = `${side}/${namespace}`;
    let c = clients.get(key);
    if (!c) {
      c = new Client({ connection: deps[side].connection, namespace });
      clients.set(key, c);
    }
    return c;
  };
  const dep = (side: ClusterSide) => deps[side];

  async function describeNamespace(side: ClusterSide, namespace: string) {
    try {
      return await dep(side).connection.workflowService.describeNamespace({ namespace });
    } catch (err) {
      if (isCode(err, NOT_FOUND)) return undefined;
      throw err;
    }
  }

  async function customAttributes(side: ClusterSide, namespace: string): Promise<Record<string, number>> {
    const res = await dep(side).connection.operatorService.listSearchAttributes({ namespace });
    return { ...(res.customAttributes ?? {}) } as Record<string, number>;
  }

  async function pollers(side: ClusterSide, namespace: string, taskQueue: string): Promise<number> {
    const res = await dep(side).connection.workflowService.describeTaskQueue({
      namespace,
      taskQueue: { name: taskQueue, kind: TASK_QUEUE_KIND_NORMAL },
      taskQueueType: TASK_QUEUE_TYPE_WORKFLOW,
    });
    return res.pollers?.length ?? 0;
  }

  async function listIds(side: ClusterSide, namespace: string, query: string): Promise<{ workflowId: string; taskQueue: string }[]> {
    const out: { workflowId: string; taskQueue: string }[] = [];
    for await (const wf of clientFor(side, namespace).workflow.list({ query, pageSize: 100 })) {
      out.push({ workflowId: wf.workflowId, taskQueue: wf.taskQueue });
      if (out.length >= LIST_LIMIT) break;
    }
    return out;
  }

  async function count(side: ClusterSide, namespace: string, query: string): Promise<number> {
    return (await clientFor(side, namespace).workflow.count(query)).count;
  }

  return {
    /** Both clusters reachable; namespaces and search attributes in parity; pollers on the target; open count. */
    async preflight(args: UnitArgs & { requirePollers: boolean }): Promise<PreflightResult> {
      const problems: Problem[] = [];
      await dep('source').connection.workflowService.getSystemInfo({});
      await dep('target').connection.workflowService.getSystemInfo({});
      const src = await describeNamespace('source', args.sourceNamespace);
      if (!src) {
        problems.push({ field: 'sourceNamespace', message: `namespace ${args.sourceNamespace} not found on ${deps.source.name}`, hint: 'fix the namespace key in the plan' });
      }
      const tgt = await describeNamespace('target', args.targetNamespace);
      if (!tgt && deps.target.kind === 'cloud') {
        problems.push({ field: 'targetNamespace', message: `namespace ${args.targetNamespace} not found on ${deps.target.name} (cloud)`, hint: 'create it in Temporal Cloud first, or fix namespaces.<ns>.target' });
      }
      let missing: string[] = [];
      if (src) {
        const want = await customAttributes('source', args.sourceNamespace);
        const have = tgt ? await customAttributes('target', args.targetNamespace) : {};
        missing = Object.keys(want).filter((k) => !(k in have)).sort();
        if (missing.length > 0 && deps.target.kind === 'cloud') {
          problems.push({ field: 'searchAttributes', message: `missing on the target: ${missing.join(', ')}`, hint: 'add them to the cloud namespace first' });
        }
      }
      const targetPollers: Record<string, number> = {};
      if (tgt) {
        for (const q of args.taskQueues) targetPollers[q] = await pollers('target', args.targetNamespace, q);
      }
      if (args.requirePollers) {
        for (const q of args.taskQueues) {
          if (!targetPollers[q]) {
            problems.push({ field: `taskQueues.${q}`, message: `no workflow pollers on ${deps.target.name}/${args.targetNamespace}`, hint: 'start the application with DualWorkers so the target side polls' });
          }
        }
      }
      const sourceOpen = src ? await count('source', args.sourceNamespace, openQuery(args)) : 0;
      return { ok: problems.length === 0, problems, targetNamespaceExists: !!tgt, missingSearchAttributes: missing, targetPollers, sourceOpen, at: now().toISOString() };
    },

    /** Registers the target namespace (self-hosted only) with the source's retention and adds missing custom search attributes. */
    async provision(args: { sourceNamespace: string; targetNamespace: string }): Promise<ProvisionResult> {
      const src = await describeNamespace('source', args.sourceNamespace);
      if (!src) throw ApplicationFailure.create({ type: 'NamespaceNotFound', nonRetryable: true, message: `sourceNamespace: ${args.sourceNamespace} not found on ${deps.source.name}` });
      let namespaceCreated = false;
      const retention = src.config?.workflowExecutionRetentionTtl ?? undefined;
      if (!(await describeNamespace('target', args.targetNamespace))) {
        if (deps.target.kind === 'cloud') {
          throw ApplicationFailure.create({ type: 'NamespaceNotCreatable', nonRetryable: true, message: `targetNamespace: ${args.targetNamespace} does not exist on cloud cluster ${deps.target.name}; create it there first` });
        }
        try {
          await dep('target').connection.workflowService.registerNamespace({
            namespace: args.targetNamespace,
            workflowExecutionRetentionPeriod: retention,
            description: `created by cutover from ${deps.source.name}/${args.sourceNamespace}`,
          });
          namespaceCreated = true;
        } catch (err) {
          if (!isCode(err, ALREADY_EXISTS)) throw err; // a retry after a lost response: already done
        }
        // A new namespace serves requests once the frontend's namespace cache refreshed (seconds).
        for (let i = 0; ; i++) {
          try {
            await count('target', args.targetNamespace, '');
            break;
          } catch (err) {
            if (i >= 60) throw err;
            heartbeat();
            await new Promise((r) => setTimeout(r, 500));
          }
        }
      }
      const want = await customAttributes('source', args.sourceNamespace);
      const have = await customAttributes('target', args.targetNamespace);
      const add: Record<string, number> = {};
      for (const [k, t] of Object.entries(want)) if (!(k in have)) add[k] = t;
      const added = Object.keys(add).sort();
      if (added.length > 0) {
        try {
          await dep('target').connection.operatorService.addSearchAttributes({ namespace: args.targetNamespace, searchAttributes: add });
        } catch (err) {
          if (!isCode(err, ALREADY_EXISTS)) {
            if (isGrpcServiceError(err) && /cannot have more than/i.test(err.details ?? '')) {
              throw ApplicationFailure.create({ type: 'SearchAttributeLimit', nonRetryable: true, message: `searchAttributes: the target has no free slot for ${added.join(', ')}`, cause: err });
            }
            throw err;
          }
        }
      }
      const retentionMs = retention?.seconds != null ? Number(retention.seconds) * 1000 : undefined;
      return { namespaceCreated, retentionMs, searchAttributesAdded: added, at: now().toISOString() };
    },

    /** Runs `count` probe workflows on the target and measures success and latency (a gate: returns, never throws for a failed probe). */
    async runProbes(args: { namespace: string; count: number; idPrefix: string; taskQueue?: string; timeoutMs?: number; minSuccess: number; maxP99Ms?: number }): Promise<ProbeResult> {
      const client = clientFor('target', args.namespace);
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
        await Promise.all(Array.from({ length: args.count }, (_, i) => one(i)));
      } finally {
        clearInterval(beat);
      }
      latencies.sort((a, b) => a - b);
      const p99Ms = latencies.length ? latencies[Math.min(latencies.length - 1, Math.ceil(latencies.length * 0.99) - 1)] : undefined;
      const share = args.count ? succeeded / args.count : 1;
      const slow = args.maxP99Ms !== undefined && p99Ms !== undefined && p99Ms > args.maxP99Ms;
      const result = share >= args.minSuccess && !slow ? 'successful' : 'failed';
      const message = `${succeeded}/${args.count} probes succeeded${p99Ms !== undefined ? `, p99 ${p99Ms} ms` : ''}${slow ? ` (over ${args.maxP99Ms} ms)` : ''}`;
      return { result, value: share, message, started: args.count, succeeded, p99Ms };
    },

    /** Open runs of the unit on one side, with a few of their IDs. */
    async countOpen(args: UnitScope & { side: ClusterSide; namespace: string }): Promise<CountResult> {
      const q = openQuery(args);
      const open = await count(args.side, args.namespace, q);
      const sampleIds = open > 0 ? (await listIds(args.side, args.namespace, q)).slice(0, SAMPLE_IDS).map((w) => w.workflowId) : [];
      return { side: args.side, open, sampleIds, at: now().getTime() };
    },

    /** Terminates the unit's open runs on one side (stragglers, after an approval). Already-closed runs are skipped. */
    async terminateStragglers(args: UnitScope & { side: ClusterSide; namespace: string; reason: string }): Promise<{ terminated: string[] }> {
      const client = clientFor(args.side, args.namespace);
      const terminated: string[] = [];
      for (const { workflowId } of await listIds(args.side, args.namespace, openQuery(args))) {
        try {
          await client.workflow.getHandle(workflowId).terminate(args.reason);
          terminated.push(workflowId);
        } catch (err) {
          if (!(err instanceof WorkflowNotFoundError)) throw err;
        }
      }
      return { terminated };
    },

    /**
     * Duplicates (an ID open on both clusters, or run on both since the move began) and stranded runs
     * (open on the side that was drained, or open on a task queue with no pollers).
     */
    async reconcile(args: UnitArgs & { since?: string; drainedSide?: ClusterSide }): Promise<ReconcileResult> {
      const ns = { source: args.sourceNamespace, target: args.targetNamespace } as const;
      const open = {
        source: await listIds('source', ns.source, openQuery(args)),
        target: await listIds('target', ns.target, openQuery(args)),
      };
      const dup = new Set<string>();
      const openTarget = new Set(open.target.map((w) => w.workflowId));
      for (const w of open.source) if (openTarget.has(w.workflowId)) dup.add(w.workflowId);
      if (args.since) {
        const ran = new Set((await listIds('source', ns.source, startedSinceQuery(args, args.since))).map((w) => w.workflowId));
        for (const w of await listIds('target', ns.target, startedSinceQuery(args, args.since))) if (ran.has(w.workflowId)) dup.add(w.workflowId);
      }
      const stranded: ReconcileResult['stranded'] = [];
      for (const side of ['source', 'target'] as const) {
        const queues = new Map<string, number>();
        for (const w of open[side]) {
          if (side === args.drainedSide) {
            stranded.push({ workflowId: w.workflowId, side, why: `open on the ${side} after it was drained` });
            continue;
          }
          if (!queues.has(w.taskQueue)) queues.set(w.taskQueue, await pollers(side, ns[side], w.taskQueue));
          if (queues.get(w.taskQueue) === 0) stranded.push({ workflowId: w.workflowId, side, why: `no pollers on task queue ${w.taskQueue}` });
        }
      }
      const duplicates = [...dup].sort();
      return {
        clean: duplicates.length === 0 && stranded.length === 0,
        sourceOpen: open.source.length,
        targetOpen: open.target.length,
        duplicates,
        stranded,
        at: now().toISOString(),
      };
    },
  };
}
