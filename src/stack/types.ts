/** What the local stack knows about one running cluster process, whatever its kind. */
export interface ClusterEndpoint {
  /** Cluster name in the plan (`legacy`, `cloud`, …). */
  name: string;
  /** gRPC frontend, `127.0.0.1:PORT`. */
  address: string;
  /** Prometheus endpoint of the server, `http://127.0.0.1:PORT/metrics`. */
  metricsUrl: string;
  /** Web UI, when it runs one. */
  uiUrl?: string;
  kind: 'dev' | 'postgres' | 'cloud';
}

/**
 * A cluster process the stack can start, kill and restart on the same data
 * (a dev server on its SQLite file, or a temporal-server on its PostgreSQL databases).
 */
export interface ClusterProcess {
  readonly endpoint: ClusterEndpoint;
  /** PID of the running server process, if any. */
  readonly pid: number | undefined;
  /** Spawns the server and resolves once every namespace it must serve answers describeNamespace. */
  start(): Promise<void>;
  /** SIGKILL, and wait until the process is gone (chaos tests). */
  kill(): Promise<void>;
  /** SIGTERM, then SIGKILL after a grace period; waits for exit. Never throws if already stopped. */
  stop(): Promise<void>;
  /** Starts again on the same data and port; resolves when ready. */
  restart(): Promise<void>;
  /** Removes the cluster's data after stop (a PostgreSQL-backed server drops its databases). */
  dropData?(): Promise<void>;
  /** What a later process needs to clean up after this cluster (recorded in the dev state file). */
  readonly cleanupInfo?: { dbPrefix: string };
}

/** Progress lines for long operations (builds, start-up), so nothing waits in silence. */
export type ProgressFn = (line: string) => void;
