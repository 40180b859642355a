/**
 * The cockpit's connection to the control cluster (where cutover's own workflows run), and where the
 * Temporal UI of that cluster lives (for the links in `status`).
 */
import { Client } from '@temporalio/client';
import { ClusterConnectError, connectCluster, namespaceOn } from '../clusters/connect';
import { isCloudAddress } from '../config/defaults';
import type { Plan } from '../config/types';
import { dataConverterFor, type EncryptionCodec, planCodec } from '../security';
import { ControlUnavailableError } from './errors';

/** A client on the control namespace, and how to close it. */
export interface ControlClient {
  client: Client;
  /** The control namespace as the cluster names it (with any Cloud suffix). */
  namespace: string;
  close(): Promise<void>;
}

/**
 * Connects to the plan's control cluster; throws `ControlUnavailableError` naming the fix. The client
 * carries the plan's payload codec (or `opts.codec`): cutover's own workflows take and answer only
 * encrypted payloads. A codec key that cannot be read is a `CodecKeyError`, before anything connects.
 */
export async function openControl(plan: Plan, opts: { codec?: EncryptionCodec } = {}): Promise<ControlClient> {
  const codec = opts.codec ?? planCodec(plan);
  const dataConverter = codec && dataConverterFor(codec);
  const cluster = plan.clusters[plan.control.cluster]!;
  const namespace = namespaceOn(cluster, plan.control.namespace);
  let connection;
  try {
    // The control namespace is described at connect: a key without access to it fails here, by name.
    connection = await connectCluster(plan.control.cluster, cluster, { namespaces: [namespace] });
  } catch (err) {
    // Refused credentials are the operator's to fix, not an outage: they keep their own error (and exit code).
    if (err instanceof ClusterConnectError && err.failure !== 'unreachable') throw err;
    // connectCluster's errors name the cluster and the fix.
    throw new ControlUnavailableError(`control cluster: ${(err as Error).message} (\`cutover dev up\` starts the local stack)`, {
      cause: err,
    });
  }
  const conn = connection;
  return { client: new Client({ connection: conn, namespace, dataConverter }), namespace, close: () => conn.close() };
}

/**
 * Base URL of the control cluster's Temporal UI: `$CUTOVER_UI_URL`, else the one the local stack
 * recorded for that address, else Temporal Cloud's for a cloud cluster, else the dev server's
 * default (gRPC port + 1000).
 */
export function uiBaseUrl(plan: Plan, opts: { env?: NodeJS.ProcessEnv; localUis?: { address: string; uiUrl?: string }[] } = {}): string {
  const env = opts.env ?? process.env;
  if (env.CUTOVER_UI_URL) return env.CUTOVER_UI_URL.replace(/\/+$/, '');
  const cluster = plan.clusters[plan.control.cluster]!;
  const local = opts.localUis?.find((c) => c.address === cluster.address && c.uiUrl);
  if (local?.uiUrl) return local.uiUrl.replace(/\/+$/, '');
  // A Cloud-shaped local cluster has keys too, but its UI is the local one (or the dev server's default).
  if (isCloudAddress(cluster.address)) return 'https://cloud.temporal.io';
  const m = /^(.*):(\d+)$/.exec(cluster.address);
  if (!m) return `http://${cluster.address}`;
  return `http://${m[1]}:${Number(m[2]) + 1000}`;
}

/** The Temporal UI page of one workflow. */
export function workflowUrl(base: string, namespace: string, workflowId: string): string {
  return `${base}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}`;
}
