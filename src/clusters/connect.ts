/**
 * Connections to the clusters of a plan, with their credentials (mTLS files or an API key read
 * from the environment variable the plan names — never the key itself).
 */
import * as fs from 'node:fs';
import { Connection, type ConnectionOptions } from '@temporalio/client';
import { NativeConnection, type NativeConnectionOptions } from '@temporalio/worker';
import type { ClusterConfig } from '../config/types';
import { CLIENT_CHANNEL_ARGS } from './channel';

export class ClusterCredentialsError extends Error {
  override name = 'ClusterCredentialsError';
}

type CommonOptions = Pick<ConnectionOptions, 'address' | 'tls' | 'apiKey'> & Pick<NativeConnectionOptions, 'address' | 'tls' | 'apiKey'>;

/** Connection options for a plan cluster; throws naming the missing file or variable. */
export function connectionOptions(name: string, cluster: ClusterConfig): CommonOptions {
  const read = (field: string, file: string | undefined) => {
    if (!file) return undefined;
    try {
      return fs.readFileSync(file);
    } catch (err) {
      throw new ClusterCredentialsError(`clusters.${name}.tls.${field}: cannot read ${file} (${(err as Error).message}); fix the path`);
    }
  };
  const opts: CommonOptions = { address: cluster.address };
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
        `clusters.${name}.apiKeyEnv: environment variable ${cluster.apiKeyEnv} is not set; export it with the cluster's API key`,
      );
    opts.apiKey = apiKey;
    // API keys are only accepted over TLS (Temporal Cloud); default to system roots.
    opts.tls ??= true;
  }
  return opts;
}

/** A client-side connection to a plan cluster. */
export function connectCluster(name: string, cluster: ClusterConfig): Promise<Connection> {
  return Connection.connect({ ...connectionOptions(name, cluster), connectTimeout: '10s', channelArgs: CLIENT_CHANNEL_ARGS });
}

/** A worker-side connection to a plan cluster. */
export function connectNativeCluster(name: string, cluster: ClusterConfig): Promise<NativeConnection> {
  return NativeConnection.connect(connectionOptions(name, cluster));
}

/** The namespace name on a cluster (Temporal Cloud appends `.<account>`). */
export function namespaceOn(cluster: ClusterConfig, namespace: string): string {
  return cluster.namespaceSuffix ? `${namespace}${cluster.namespaceSuffix}` : namespace;
}
