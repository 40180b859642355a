/**
 * Connections to the clusters of a plan, with their credentials (mTLS files or an API key read
 * from the environment variable the plan names — never the key itself). The one place that builds
 * SDK connection options: the worker, the CLI, the multi-cluster client, dual workers and the
 * benchmarks all connect through here.
 */
import * as fs from 'node:fs';
import { Connection, type ConnectionOptions } from '@temporalio/client';
import { NativeConnection, type NativeConnectionOptions } from '@temporalio/worker';
import type { ClusterConfig } from '../config/types';

/**
 * gRPC channel settings for client connections. The SDK means to let a client receive messages up to
 * 128 MiB, but sets grpc-js's option under a name grpc-js does not read (`max_receive_message_length`,
 * without the `grpc.` prefix), so a client keeps gRPC's 4 MiB default, and a history page larger than
 * that (a campaign at 10,000 tenants) fails with RESOURCE_EXHAUSTED. Workers connect through the SDK's
 * core, which has its own limit.
 */
const CLIENT_CHANNEL_ARGS = { 'grpc.max_receive_message_length': 128 * 1024 * 1024 } as const;

/** A plan cluster's credentials cannot be read: names the field and the fix. */
export class ClusterCredentialsError extends Error {
  override readonly name = 'ClusterCredentialsError';
  constructor(
    readonly cluster: string,
    readonly field: string,
    hint: string,
  ) {
    super(`clusters.${cluster}.${field}: ${hint}`);
  }
}

/** A plan cluster did not answer the connection. */
export class ClusterConnectError extends Error {
  override readonly name = 'ClusterConnectError';
  constructor(
    readonly cluster: string,
    readonly address: string,
    options: { cause: unknown },
  ) {
    super(
      `cannot reach cluster ${cluster} at ${address}: ${(options.cause as Error)?.message ?? String(options.cause)} — ` +
        `fix: start it or correct clusters.${cluster}.address in the plan`,
      options,
    );
  }
}

/** What both `Connection` and `NativeConnection` accept. */
export type ClusterConnectionOptions = Pick<ConnectionOptions, 'address' | 'tls' | 'apiKey'> &
  Pick<NativeConnectionOptions, 'address' | 'tls' | 'apiKey'>;

/** Connection options of a plan cluster; throws {@link ClusterCredentialsError} naming the missing file or variable. */
export function connectionOptions(name: string, cluster: ClusterConfig): ClusterConnectionOptions {
  // Read the files here, once, at start-up: the plan only names them.
  const read = (field: string, file: string | undefined) => {
    if (!file) return undefined;
    try {
      return fs.readFileSync(file);
    } catch (err) {
      throw new ClusterCredentialsError(name, `tls.${field}`, `cannot read ${file} (${(err as Error).message}); fix the path`);
    }
  };
  const opts: ClusterConnectionOptions = { address: cluster.address };
  if (cluster.tls) {
    const crt = read('clientCertPath', cluster.tls.clientCertPath);
    const key = read('clientKeyPath', cluster.tls.clientKeyPath);
    opts.tls = {
      serverNameOverride: cluster.tls.serverNameOverride,
      serverRootCACertificate: read('serverRootCACertPath', cluster.tls.serverRootCACertPath),
      clientCertPair: crt && key ? { crt, key } : undefined,
    };
  }
  if (cluster.apiKeyEnv) {
    const apiKey = process.env[cluster.apiKeyEnv];
    if (!apiKey)
      throw new ClusterCredentialsError(
        name,
        'apiKeyEnv',
        `environment variable ${cluster.apiKeyEnv} is not set; export it with the cluster's API key`,
      );
    opts.apiKey = apiKey;
    // API keys are only accepted over TLS (Temporal Cloud); default to system roots.
    opts.tls ??= true;
  }
  return opts;
}

/** A client-side connection to a plan cluster (receiving messages up to 128 MiB). */
export async function connectCluster(name: string, cluster: ClusterConfig): Promise<Connection> {
  const options = connectionOptions(name, cluster);
  try {
    return await Connection.connect({ ...options, connectTimeout: '10s', channelArgs: CLIENT_CHANNEL_ARGS });
  } catch (err) {
    throw new ClusterConnectError(name, cluster.address, { cause: err });
  }
}

/** A worker-side connection to a plan cluster. */
export async function connectNativeCluster(name: string, cluster: ClusterConfig): Promise<NativeConnection> {
  const options = connectionOptions(name, cluster);
  try {
    return await NativeConnection.connect(options);
  } catch (err) {
    throw new ClusterConnectError(name, cluster.address, { cause: err });
  }
}

/** The namespace name on a cluster (Temporal Cloud appends `.<account>`). */
export function namespaceOn(cluster: ClusterConfig, namespace: string): string {
  return cluster.namespaceSuffix ? `${namespace}${cluster.namespaceSuffix}` : namespace;
}
