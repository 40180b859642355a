/**
 * The cutover worker (`npx cutover worker`): loads the plan, installs the SDK runtime with a
 * Prometheus endpoint, connects to the clusters of the plan, registers cutover's search attributes
 * on the control namespace (list first, add only what is missing; on a `cloud` control cluster only
 * verified, with the `tcld` commands for what is missing), and runs:
 *   - the cutover task queue on the control cluster (entity and campaign workflows; entity, gate and
 *     campaign activities);
 *   - the synthetic probe task queue in each target namespace on the target cluster.
 * The control cluster is required: without it there is nothing to serve. Another cluster that is
 * unreachable at start is reported and connected in the background with bounded backoff; until then
 * the activities that need it fail with a retryable `ClusterUnavailable` failure naming it (the
 * workflows retry them), and its workers (the target's probe workers) start once it connects.
 * Several cutover workers may poll the same task queues: the server gives each task to one of them.
 * SIGINT/SIGTERM shut it down cleanly (the SDK runtime's shutdown signals).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, type ConnectionLike } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { type ActivityInterceptorsFactory, DefaultLogger, type NativeConnection, Worker, type WorkflowBundle } from '@temporalio/worker';
import { createCutoverActivities } from './activities';
import { cloudAuthOf, verifyCloudNamespace } from './clusters/cloud-setup';
import {
  checkNamespaceAccess,
  ClusterConnectError,
  connectCluster,
  connectNativeCluster,
  namespaceOn,
  withNamespaceAccess,
} from './clusters/connect';
import { clusterUnavailableIn, LateConnection, reconnectDelayMs } from './clusters/late-connection';
import { ensureSearchAttributes } from './clusters/search-attributes';
import { connectRedis } from './routing/connect-redis';
import { cachedWorkflowBundle } from './workflow-bundle-cache';
import type { Plan } from './config/types';
import { installWorkerRuntime, parseMetricsFlag } from './metrics/endpoint';
import { RoutingStore } from './routing/store';
import { ScheduleFence } from './schedules';
import { CONTROL_BUNDLE_OPTIONS } from './worker-options';
import type { ProgressFn } from './stack/types';
import { PROBE_TASK_QUEUE } from './domain/constants';
import { parseUnitName } from './domain/ids';
import { CUTOVER_SEARCH_ATTRIBUTES } from './domain/search-attributes';
import { dataConverterFor, type EncryptionCodec, FAILURE_CONVERTER_PATH, planCodec } from './security';
import { AuditStream } from './audit/stream';
import type { OperatorSecret } from './operators/keys';

export interface CutoverWorkerOptions {
  plan: Plan;
  /**
   * The worker's Prometheus endpoint, as `--metrics` takes it: `host:port`, `auto` (127.0.0.1:9464 when
   * free, else a free port) or `off` (no endpoint). Omit to install no runtime (tests install their own).
   */
  metricsAddress?: string;
  /** Level of the SDK runtime's logger when this call installs it (default INFO; the demo keeps WARN). */
  logLevel?: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
  onProgress?: ProgressFn;
  /** The payload codec (default: the plan's `codec` section, read once per plan; none without one). */
  codec?: EncryptionCodec;
  /** The worker's controller key: signs the commands campaigns send to their units (plans with operators). */
  signer?: OperatorSecret;
}

/** A running cutover worker and everything it opened. */
export interface CutoverWorker {
  /** The workers; a cluster that connects after the start adds its workers here. */
  workers: Worker[];
  /** Where the Prometheus endpoint listens, when this call installed the runtime with one. */
  metricsAddress?: string;
  /** The clusters of the plan not connected yet (each is being reconnected in the background). */
  unreachable(): string[];
  /** Resolves when every worker has stopped (after shutdown() or a shutdown signal). */
  run(): Promise<void>;
  shutdown(): void;
}

/**
 * The bundle is built once per process and shared by every worker (both clusters). With a codec it
 * carries the failure converter too: the SDK loads it inside the sandbox from the bundle, and only a
 * worker that bundles its own workflows passes the data converter's path to the bundler.
 */
const bundles = new Map<boolean, Promise<WorkflowBundle>>();
function workflowBundle(encrypted: boolean): Promise<WorkflowBundle> {
  let bundle = bundles.get(encrypted);
  if (!bundle) {
    bundle = cachedWorkflowBundle({
      ...CONTROL_BUNDLE_OPTIONS,
      ...(encrypted ? { failureConverterPath: FAILURE_CONVERTER_PATH } : {}),
      logger: new DefaultLogger('WARN'),
    }).then((b) => b.bundle);
    bundles.set(encrypted, bundle);
  }
  return bundle;
}

/**
 * An activity that needed a cluster not connected yet fails with that cluster's `ClusterUnavailable`
 * failure itself, not with the wrapper an SDK client puts around it ("Unexpected error while making gRPC
 * request"): the failure names the cluster, and stays retryable.
 */
const surfaceUnavailable: ActivityInterceptorsFactory = () => ({
  inbound: {
    execute: async (input, next) => {
      try {
        return await next(input);
      } catch (err) {
        throw clusterUnavailableIn(err) ?? err;
      }
    },
  },
});

type Closable = { close(): Promise<unknown> | void };

/**
 * Connects to every cluster of the plan at once (an unreachable one costs its connect timeout once).
 * The control cluster is required: its failure is thrown. Another cluster that is only unreachable gets
 * a {@link LateConnection}; any other failure (TLS, credentials, permission) is a mistake in the plan or
 * on the cluster that waiting does not fix, so it stops the start, naming the cluster and the fix.
 */
async function connectClusters(
  plan: Plan,
  progress: ProgressFn,
  opened: Closable[],
): Promise<{ conns: Record<string, ConnectionLike>; late: Map<string, LateConnection> }> {
  const names = Object.keys(plan.clusters);
  const results = await Promise.allSettled(names.map((name) => connectCluster(name, plan.clusters[name]!)));
  for (const r of results) if (r.status === 'fulfilled') opened.push(r.value);
  const failed = names.flatMap((name, i) => {
    const r = results[i]!;
    return r.status === 'rejected' ? [{ name, err: r.reason as unknown }] : [];
  });
  const waitable = (f: { name: string; err: unknown }) =>
    f.name !== plan.control.cluster && f.err instanceof ClusterConnectError && f.err.failure === 'unreachable';
  const fatal = failed.find((f) => f.name === plan.control.cluster) ?? failed.find((f) => !waitable(f));
  if (fatal) throw fatal.err;
  const conns: Record<string, ConnectionLike> = {};
  const late = new Map<string, LateConnection>();
  names.forEach((name, i) => {
    const r = results[i]!;
    const cluster = plan.clusters[name]!;
    if (r.status === 'fulfilled') {
      conns[name] = r.value;
      progress(`connected to cluster ${name} at ${cluster.address} (${cluster.kind})`);
      return;
    }
    const reason = (r.reason as Error).message;
    const lc = new LateConnection(name, cluster.address, reason);
    conns[name] = lc;
    late.set(name, lc);
    progress(
      `cluster ${name} is unreachable: ${reason}\n  serving without it; reconnecting in the background ` +
        '(its steps are retried until it connects)',
    );
  });
  return { conns, late };
}

/** Target namespaces that need a probe worker: those of rings with a synthetic gate (not every namespace of a large plan). */
function probedNamespaces(plan: Plan): Set<string> {
  const target = plan.clusters[plan.target]!;
  const probed = new Set<string>();
  for (const ring of plan.rings) {
    if (!ring.gates.some((g) => plan.gates[g]?.synthetic)) continue;
    for (const u of ring.units) {
      const ref = parseUnitName(u);
      const ns = ref && plan.namespaces[ref.namespace];
      if (ns) probed.add(namespaceOn(target, ns.target));
    }
  }
  return probed;
}

/** Connects and creates the workers; `run()` polls until shutdown. */
export async function createCutoverWorker(opts: CutoverWorkerOptions): Promise<CutoverWorker> {
  const { plan } = opts;
  const progress = opts.onProgress ?? (() => {});
  // Keys first: a missing key is bad input, refused before anything is started or connected.
  const codec = opts.codec ?? planCodec(plan);
  // Every connection below carries it: the control namespace's histories and the probes' hold only ciphertext.
  const dataConverter: DataConverter | undefined = codec && dataConverterFor(codec);
  let metricsAddress: string | undefined;
  if (opts.metricsAddress !== undefined) {
    const installed = await installWorkerRuntime(parseMetricsFlag(opts.metricsAddress), { logLevel: opts.logLevel });
    metricsAddress = installed.address;
    if (installed.preferredTaken) progress(`metrics: ${installed.preferredTaken} is in use (another worker on this host?), so a free port`);
    progress(metricsAddress ? `metrics: http://${metricsAddress}/metrics` : 'metrics: off (no Prometheus endpoint)');
  }
  const opened: Closable[] = [];
  try {
    const control = plan.clusters[plan.control.cluster]!;
    const controlNs = namespaceOn(control, plan.control.namespace);
    const { conns, late } = await connectClusters(plan, progress, opened);
    const controlConn = conns[plan.control.cluster]!;
    if (codec) progress(`payload codec: encrypting with key ${codec.currentKeyId}; decrypting with ${codec.keyIds.join(', ')}`);
    const wanted = Object.fromEntries(CUTOVER_SEARCH_ATTRIBUTES.map((k) => [k.name, 'Keyword' as const]));
    if (control.kind === 'cloud') {
      // Cloud has no operator API for its customers: the namespace and attributes are created with tcld.
      // Describing the namespace first also makes a key without access to it fail here, by name.
      await withNamespaceAccess(plan.control.cluster, control, controlNs, () =>
        verifyCloudNamespace(controlConn, plan.control.cluster, controlNs, wanted, { auth: cloudAuthOf(control) }),
      );
    } else {
      await checkNamespaceAccess(controlConn, plan.control.cluster, control, controlNs);
      const added = await ensureSearchAttributes(controlConn, controlNs, wanted);
      if (added.length) progress(`registered search attributes on ${controlNs}: ${added.join(', ')}`);
    }

    const clusterDep = (name: string) => {
      const cluster = plan.clusters[name]!;
      // A dev server (`local.server: dev`, as `cutover dev up` runs one) shows a start or a close in visibility
      // within its 0.5 s settle time; other self-hosted clusters are given 3 s.
      const kind = cluster.local?.server === 'dev' ? ('dev' as const) : cluster.kind;
      return { name, connection: conns[name]!, kind, cloudAuth: cloudAuthOf(cluster) };
    };
    const redis = await connectRedis(plan.redis);
    redis.on('error', (err) => progress(`redis: ${err.message}`));
    opened.push({ close: () => redis.disconnect() });
    const routing = new RoutingStore({ redis, keyPrefix: plan.redis.keyPrefix });
    const activities = createCutoverActivities({
      source: clusterDep(plan.source),
      target: clusterDep(plan.target),
      routing,
      scheduleFence: new ScheduleFence({ redis, keyPrefix: plan.redis.keyPrefix }),
      audit: new AuditStream({ redis, keyPrefix: plan.redis.keyPrefix }),
      control: new Client({ connection: controlConn, namespace: controlNs, dataConverter }),
      dataConverter,
      clientStalenessMs: plan.redis.clientStaleness,
      // The worker is where secrets are read: activities get a lookup, never the environment itself.
      secret: (envName) => process.env[envName],
      ...(opts.signer ? { signer: opts.signer } : {}),
    });

    const code = await workflowBundle(codec !== undefined);
    const controlNative = await connectNativeCluster(plan.control.cluster, control);
    opened.push(controlNative);
    const controlWorker = await Worker.create({
      connection: controlNative,
      namespace: controlNs,
      taskQueue: plan.control.taskQueue,
      workflowBundle: code,
      activities,
      dataConverter,
      interceptors: { activity: [surfaceUnavailable] },
    });
    progress(`polling ${plan.control.cluster}/${controlNs} task queue ${plan.control.taskQueue}`);

    // Workers join while running when their cluster connects late: `add` starts them if `run()` has begun.
    const workers: Worker[] = [];
    const runs: Promise<void>[] = [];
    let running = false;
    let failure: unknown;
    const stop = new AbortController();
    const shutdown = () => {
      stop.abort();
      for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
    };
    const start = (w: Worker) => {
      runs.push(
        w.run().catch((err: unknown) => {
          // One worker failing stops the others: a partial worker would hide it.
          failure ??= err;
          shutdown();
        }),
      );
      if (stop.signal.aborted && w.getState() === 'RUNNING') w.shutdown();
    };
    const add = (w: Worker) => {
      workers.push(w);
      if (running) start(w);
    };
    add(controlWorker);

    const target = plan.clusters[plan.target]!;
    const probed = probedNamespaces(plan);
    const addProbeWorkers = async (native: NativeConnection) => {
      for (const ns of probed) {
        add(await Worker.create({ connection: native, namespace: ns, taskQueue: PROBE_TASK_QUEUE, workflowBundle: code, dataConverter }));
        progress(`polling ${plan.target}/${ns} task queue ${PROBE_TASK_QUEUE} (synthetic probes)`);
      }
    };
    if (probed.size > 0 && !late.has(plan.target)) {
      const targetNative = await connectNativeCluster(plan.target, target);
      opened.push(targetNative);
      await addProbeWorkers(targetNative);
    }

    /** Connects a cluster that was unreachable, with bounded backoff, until it connects or the worker stops. */
    const keepConnecting = async (name: string, lc: LateConnection): Promise<void> => {
      const cluster = plan.clusters[name]!;
      const needsNative = name === plan.target && probed.size > 0;
      for (let attempt = 1; ; attempt++) {
        try {
          await sleep(reconnectDelayMs(attempt), undefined, { signal: stop.signal });
        } catch {
          return; // stopped
        }
        const got: Closable[] = [];
        try {
          const conn = await connectCluster(name, cluster);
          got.push(conn);
          const native = needsNative ? await connectNativeCluster(name, cluster) : undefined;
          if (native) got.push(native);
          if (stop.signal.aborted) throw new Error('stopped');
          opened.push(...got);
          lc.connect(conn);
          progress(`connected to cluster ${name} at ${cluster.address} (${cluster.kind}), ${attempt} attempt(s) after the start`);
          if (native) {
            // A probe worker that cannot start is reported: the synthetic gates then measure failed probes.
            await addProbeWorkers(native).catch((err: unknown) => progress(`probe workers on ${name}: ${(err as Error).message}`));
          }
          return;
        } catch (err) {
          for (const c of got.reverse()) await Promise.resolve(c.close()).catch(() => undefined);
          if (stop.signal.aborted) return;
          const reason = (err as Error).message;
          // Quiet while nothing changes: a new reason at once (e.g. it answers now, but refuses the key), else every 10th attempt.
          if (reason !== lc.why || attempt % 10 === 0) progress(`cluster ${name} still not connected (attempt ${attempt}): ${reason}`);
          lc.setReason(reason);
        }
      }
    };
    const reconnecting = [...late].map(([name, lc]) => keepConnecting(name, lc));

    return {
      workers,
      ...(metricsAddress !== undefined ? { metricsAddress } : {}),
      unreachable: () => [...late].filter(([, lc]) => !lc.connected).map(([name]) => name),
      shutdown,
      run: async () => {
        running = true;
        for (const w of workers) start(w);
        // The control worker is what the process is for: when it stops (shutdown, a signal), everything stops.
        void runs[0]!.finally(shutdown);
        try {
          // Workers that join meanwhile (a cluster connected late) are awaited too.
          for (let done = 0; done < runs.length;) {
            const batch = runs.slice(done);
            await Promise.all(batch);
            done += batch.length;
          }
        } finally {
          stop.abort();
          await Promise.all(reconnecting);
          // A worker that joined while the others stopped was shut down at once: wait for it too.
          await Promise.all(runs);
          for (const o of opened.reverse()) await o.close();
        }
        if (failure !== undefined) throw failure;
      },
    };
  } catch (err) {
    for (const o of opened.reverse()) await Promise.resolve(o.close()).catch(() => undefined);
    throw err;
  }
}

/** `cutover worker`: create and run until Ctrl-C. */
export async function runCutoverWorker(opts: CutoverWorkerOptions): Promise<void> {
  const worker = await createCutoverWorker(opts);
  opts.onProgress?.('cutover worker running; Ctrl-C to stop');
  await worker.run();
  opts.onProgress?.('cutover worker stopped');
}
