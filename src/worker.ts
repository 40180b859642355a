/**
 * The cutover worker (`npx cutover worker`): loads the plan, installs the SDK runtime with a
 * Prometheus endpoint, connects to every cluster of the plan, registers cutover's search attributes
 * on the control namespace (list first, add only what is missing; on a `cloud` control cluster only
 * verified, with the `tcld` commands for what is missing), and runs:
 *   - the cutover task queue on the control cluster (entity and campaign workflows; entity, gate and
 *     campaign activities);
 *   - the synthetic probe task queue in each target namespace on the target cluster.
 * SIGINT/SIGTERM shut it down cleanly (the SDK runtime's shutdown signals).
 */
import { Client, type Connection } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { bundleWorkflowCode, DefaultLogger, Runtime, Worker, type WorkflowBundle } from '@temporalio/worker';
import { createCutoverActivities } from './activities';
import { cloudAuthOf, verifyCloudNamespace } from './clusters/cloud-setup';
import { checkNamespaceAccess, connectCluster, connectNativeCluster, namespaceOn, withNamespaceAccess } from './clusters/connect';
import { ensureSearchAttributes } from './clusters/search-attributes';
import { connectRedis } from './routing/connect-redis';
import type { Plan } from './config/types';
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
  /** `host:port` for the worker's Prometheus endpoint; omit to install no runtime (tests install their own). */
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
  workers: Worker[];
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
    bundle = bundleWorkflowCode({
      ...CONTROL_BUNDLE_OPTIONS,
      ...(encrypted ? { failureConverterPath: FAILURE_CONVERTER_PATH } : {}),
      logger: new DefaultLogger('WARN'),
    });
    bundles.set(encrypted, bundle);
  }
  return bundle;
}

/** Connects and creates the workers; `run()` polls until shutdown. */
export async function createCutoverWorker(opts: CutoverWorkerOptions): Promise<CutoverWorker> {
  const { plan } = opts;
  const progress = opts.onProgress ?? (() => {});
  // Keys first: a missing key is bad input, refused before anything is started or connected.
  const codec = opts.codec ?? planCodec(plan);
  // Every connection below carries it: the control namespace's histories and the probes' hold only ciphertext.
  const dataConverter: DataConverter | undefined = codec && dataConverterFor(codec);
  if (opts.metricsAddress) {
    Runtime.install({
      logger: new DefaultLogger(opts.logLevel ?? 'INFO'),
      telemetryOptions: { metrics: { prometheus: { bindAddress: opts.metricsAddress } } },
    });
    progress(`metrics: http://${opts.metricsAddress}/metrics`);
  }
  const opened: { close(): Promise<unknown> | void }[] = [];
  try {
    const conns: Record<string, Connection> = {};
    const control = plan.clusters[plan.control.cluster]!;
    const controlNs = namespaceOn(control, plan.control.namespace);
    for (const [name, cluster] of Object.entries(plan.clusters)) {
      conns[name] = await connectCluster(name, cluster);
      opened.push(conns[name]);
      progress(`connected to cluster ${name} at ${cluster.address} (${cluster.kind})`);
    }
    if (codec) progress(`payload codec: encrypting with key ${codec.currentKeyId}; decrypting with ${codec.keyIds.join(', ')}`);
    const wanted = Object.fromEntries(CUTOVER_SEARCH_ATTRIBUTES.map((k) => [k.name, 'Keyword' as const]));
    if (control.kind === 'cloud') {
      // Cloud has no operator API for its customers: the namespace and attributes are created with tcld.
      // Describing the namespace first also makes a key without access to it fail here, by name.
      await withNamespaceAccess(plan.control.cluster, control, controlNs, () =>
        verifyCloudNamespace(conns[plan.control.cluster]!, plan.control.cluster, controlNs, wanted, { auth: cloudAuthOf(control) }),
      );
    } else {
      await checkNamespaceAccess(conns[plan.control.cluster]!, plan.control.cluster, control, controlNs);
      const added = await ensureSearchAttributes(conns[plan.control.cluster]!, controlNs, wanted);
      if (added.length) progress(`registered search attributes on ${controlNs}: ${added.join(', ')}`);
    }

    const clusterDep = (name: string) => {
      const cluster = plan.clusters[name]!;
      return { name, connection: conns[name]!, kind: cluster.kind, cloudAuth: cloudAuthOf(cluster) };
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
      control: new Client({ connection: conns[plan.control.cluster]!, namespace: controlNs, dataConverter }),
      dataConverter,
      clientStalenessMs: plan.redis.clientStaleness,
      // The worker is where secrets are read: activities get a lookup, never the environment itself.
      secret: (envName) => process.env[envName],
      ...(opts.signer ? { signer: opts.signer } : {}),
    });

    const code = await workflowBundle(codec !== undefined);
    const workers: Worker[] = [];
    const controlNative = await connectNativeCluster(plan.control.cluster, control);
    opened.push(controlNative);
    workers.push(
      await Worker.create({
        connection: controlNative,
        namespace: controlNs,
        taskQueue: plan.control.taskQueue,
        workflowBundle: code,
        activities,
        dataConverter,
      }),
    );
    progress(`polling ${plan.control.cluster}/${controlNs} task queue ${plan.control.taskQueue}`);

    const target = plan.clusters[plan.target]!;
    const targetNative = await connectNativeCluster(plan.target, target);
    opened.push(targetNative);
    // Probe workers only where a ring's synthetic gate (or a unit's shadow probe) will start probes:
    // a plan of hundreds of namespaces would otherwise run hundreds of idle workers.
    const probed = new Set<string>();
    for (const ring of plan.rings) {
      if (!ring.gates.some((g) => plan.gates[g]?.synthetic)) continue;
      for (const u of ring.units) {
        const ref = parseUnitName(u);
        const ns = ref && plan.namespaces[ref.namespace];
        if (ns) probed.add(namespaceOn(target, ns.target));
      }
    }
    for (const ns of probed) {
      workers.push(
        await Worker.create({ connection: targetNative, namespace: ns, taskQueue: PROBE_TASK_QUEUE, workflowBundle: code, dataConverter }),
      );
      progress(`polling ${plan.target}/${ns} task queue ${PROBE_TASK_QUEUE} (synthetic probes)`);
    }
    return {
      workers,
      shutdown: () => workers.forEach((w) => w.getState() === 'RUNNING' && w.shutdown()),
      run: async () => {
        try {
          await Promise.all(workers.map((w) => w.run()));
        } finally {
          for (const o of opened.reverse()) await o.close();
        }
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
