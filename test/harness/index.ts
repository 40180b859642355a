/**
 * The test harness: one local stack per mocha run (two real dev servers — `legacy` as the source,
 * `cloud` as the target — and a Redis of its own), started by the root hooks, plus helpers to kill
 * and restart a cluster or Redis for chaos tests. Each test takes its own IDs with `uniqueId`.
 * Suites that need a self-hosted source ask for `testStack().selfHosted()`: a third cluster, a
 * temporal-server on PostgreSQL, started on first use (most runs never pay for it). Suites that cross a
 * secured boundary ask for `testStack().cloudShaped('mtls' | 'api-key')`: a Cloud-shaped cluster (TLS,
 * client certificates or API keys, suffixed namespaces), also started on first use, one per auth mode.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ClusterConfig } from '../../src/config/types';
import type { ApiKeyRole } from '../../src/stack/api-keys';
import { CloudServer, type CloudAuth } from '../../src/stack/cloud-server';
import { DevServer } from '../../src/stack/dev-server';
import { postgresClusterFactory, type PostgresTemporalServer } from '../../src/stack/postgres-server';
import { freePort } from '../../src/stack/ports';
import { resolveTemporalServer } from '../../src/stack/temporal-server-binary';
import { LocalStack, STACK_SEARCH_ATTRIBUTE_TYPES } from '../../src/stack/stack';
import { resolveTemporalCli } from '../../src/stack/temporal-cli';
import type { ClusterEndpoint } from '../../src/stack/types';
import { RedisSentinelSet, type RedisSentinelOptions } from './redis-sentinel';
import type { BundleOptions, WorkflowBundle } from '@temporalio/worker';
import { cachedWorkflowBundle } from '../../src/workflow-bundle-cache';

/** A workflow bundle from the project's bundle cache (bundled once per change of its inputs, not per suite). */
export async function workflowBundle(options: BundleOptions): Promise<WorkflowBundle> {
  return (await cachedWorkflowBundle(options)).bundle;
}

/** Namespaces registered on both clusters of the test stack. */
export const TEST_NAMESPACES = ['default', 'cutover', 'payments', 'detections'];

export type Side = 'source' | 'target';

/** Name of the self-hosted cluster in the test stack. */
export const SELF_HOSTED_NAME = 'selfhosted';
/** Its history shards: several, like the clusters users move off (a dev server has one). */
export const SELF_HOSTED_SHARDS = 4;

/** The PostgreSQL-backed cluster of the test stack (same namespaces and search attributes as the dev servers). */
export interface SelfHostedCluster {
  endpoint: ClusterEndpoint;
  /** SIGKILL the whole temporal-server. */
  kill(): Promise<void>;
  /** Start it again on the same databases and ports; resolves when every namespace is usable. */
  restart(): Promise<void>;
}

/** Account suffix of every namespace on the Cloud-shaped clusters (`payments.acct1`). */
export const CLOUD_SUFFIX = '.acct1';
/**
 * The variable the harness sets, on the first `cloudShaped('api-key')`, to a key with write permission on
 * every suffixed test namespace (what `clusterConfig()` names as `apiKeyEnv`).
 */
export const CLOUD_API_KEY_ENV = 'CUTOVER_TEST_CLOUD_API_KEY';
/** How often the Cloud-shaped test clusters re-read the JWKS: a revoked key is refused within about this. */
export const CLOUD_JWKS_REFRESH_MS = 1000;

/** A Cloud-shaped cluster of the test stack (docs/design.md, "Cloud-shaped local cluster"). */
export interface CloudShapedCluster {
  /** `host:port`; TLS only. */
  endpoint: string;
  auth: CloudAuth;
  namespaceSuffix: typeof CLOUD_SUFFIX;
  /** The server's internal-frontend (for tests of the front door itself: only the server's own services get in). */
  internalEndpoint: string;
  /** The CA that signed the server's certificate (and, for mTLS, the client certificate). */
  caPath: string;
  /** mTLS only: a client certificate the server accepts, and its key. */
  clientCertPath?: string;
  clientKeyPath?: string;
  /** The server's Prometheus endpoint (its request counters show which APIs were called). */
  metricsUrl: string;
  /** The plan's view of this cluster: address, suffix, TLS files, and (api-key) `apiKeyEnv: CLOUD_API_KEY_ENV`. */
  clusterConfig(extra?: Partial<ClusterConfig>): ClusterConfig;
  /** api-key only: a key with `<ns>:<role>` (default write) on each namespace; negative `expiresInMs` mints an expired one. */
  mintApiKey(opts: {
    namespaces: string[];
    role?: ApiKeyRole;
    expiresInMs?: number;
    subject?: string;
  }): Promise<{ token: string; kid: string }>;
  /** api-key only: removes the key's JWK; the server refuses it within about `CLOUD_JWKS_REFRESH_MS`. */
  revokeApiKey(kid: string): Promise<void>;
  /** PIDs of the server (and nothing else: the JWKS runs inside the test process). */
  pids(): number[];
  /** SIGKILL the server. */
  kill(): Promise<void>;
  /** Start it again on the same store (a SQLite file) and credentials; resolves when every namespace is usable. */
  restart(): Promise<void>;
}

export interface TestStack {
  source: ClusterEndpoint;
  target: ClusterEndpoint;
  redisUrl: string;
  /** A real Prometheus scraping both clusters every 10 s (job `temporal`, label `cluster`) and applications every second. */
  prometheusUrl: string;
  /** Adds an application target (`host:port` serving /metrics) to Prometheus (job `apps`, label `app`). */
  addScrapeTarget(address: string, name?: string): Promise<void>;
  namespaces: string[];
  runDir: string;
  /** SIGKILL the cluster's server. */
  kill(side: Side): Promise<void>;
  /** Start it again on the same SQLite file and port; resolves when ready. */
  restart(side: Side): Promise<void>;
  killRedis(): Promise<void>;
  restartRedis(): Promise<void>;
  /**
   * The self-hosted cluster (temporal-server on the machine's PostgreSQL, own databases), started on
   * the first call and shared by every later one; its databases are dropped by `stopTestStack`.
   */
  selfHosted(): Promise<SelfHostedCluster>;
  /**
   * A Cloud-shaped cluster with `TEST_NAMESPACES` suffixed `CLOUD_SUFFIX` and the test search attributes,
   * started on the first call for that auth mode and shared afterwards; stopped by `stopTestStack`.
   */
  cloudShaped(auth: CloudAuth): Promise<CloudShapedCluster>;
  /**
   * A Redis Sentinel set of its own (master, replica, three sentinels on free ports, in a directory of the
   * run's), started on each call: a test that fails it over leaves it changed. The caller stops it; any
   * still running are stopped by `stopTestStack`.
   */
  redisSentinel(opts?: RedisSentinelOptions): Promise<RedisSentinelSet>;
}

let stack: LocalStack | undefined;
let current: TestStack | undefined;
let selfHostedServer: Promise<PostgresTemporalServer> | undefined;
const cloudServers: Partial<Record<CloudAuth, Promise<CloudServer>>> = {};
const sentinelSets = new Set<RedisSentinelSet>();

const NAMES: Record<Side, string> = { source: 'legacy', target: 'cloud' };

/** Starts the shared stack (idempotent). Called by the root hooks. */
export async function startTestStack(): Promise<TestStack> {
  if (current) return current;
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cutover-test-'));
  stack = await LocalStack.start({
    runDir,
    clusters: [
      { name: NAMES.source, namespaces: TEST_NAMESPACES },
      { name: NAMES.target, namespaces: TEST_NAMESPACES },
    ],
    prometheus: 'always',
    onProgress: (line) => process.stderr.write(`[stack] ${line}\n`),
  });
  const s = stack;
  const redisServer = () => {
    if (!s.redis)
      throw new Error('REDIS_URL is set, so the harness does not own Redis and cannot kill it: unset REDIS_URL for chaos tests');
    return s.redis;
  };
  current = {
    source: s.cluster(NAMES.source).endpoint,
    target: s.cluster(NAMES.target).endpoint,
    redisUrl: s.redisUrl,
    prometheusUrl: s.prometheus!.url,
    addScrapeTarget: (address, name = address) => s.prometheus!.addScrapeTarget({ address, name }),
    namespaces: TEST_NAMESPACES,
    runDir,
    kill: (side) => s.cluster(NAMES[side]).kill(),
    restart: (side) => s.cluster(NAMES[side]).restart(),
    killRedis: () => redisServer().kill(),
    restartRedis: () => redisServer().restart(),
    selfHosted: async () => {
      const server = await (selfHostedServer ??= startSelfHosted(runDir));
      return { endpoint: server.endpoint, kill: () => server.kill(), restart: () => server.restart() };
    },
    cloudShaped: async (auth) => cloudView(await (cloudServers[auth] ??= startCloudShaped(runDir, auth))),
    redisSentinel: async (opts) => {
      const set = await RedisSentinelSet.start(fs.mkdtempSync(path.join(runDir, 'redis-sentinel-')), opts);
      sentinelSets.add(set); // stopping twice is harmless: a process already gone is skipped
      return set;
    },
  };
  return current;
}

async function startSelfHosted(runDir: string): Promise<PostgresTemporalServer> {
  const progress = (line: string) => process.stderr.write(`[stack] ${line}\n`);
  try {
    const server = await postgresClusterFactory(
      { name: SELF_HOSTED_NAME, namespaces: TEST_NAMESPACES, local: { server: 'postgres', shards: SELF_HOSTED_SHARDS } },
      { runDir, detached: false, onProgress: progress },
    );
    progress(`starting cluster ${SELF_HOSTED_NAME} (postgres, ${SELF_HOSTED_SHARDS} shards)…`);
    try {
      await server.start();
    } catch (err) {
      // start() killed the server; its databases may exist already and must not outlive the run.
      await server.dropDatabases().catch(() => undefined);
      throw err;
    }
    return server;
  } catch (err) {
    selfHostedServer = undefined; // a later suite may try again
    throw err;
  }
}

async function startCloudShaped(runDir: string, auth: CloudAuth): Promise<CloudServer> {
  const progress = (line: string) => process.stderr.write(`[stack] ${line}\n`);
  const name = `cloud-${auth}`;
  try {
    const binaries = await resolveTemporalServer({ onProgress: progress });
    const server = await CloudServer.create({
      name,
      port: await freePort(),
      runDir: path.join(runDir, name),
      credentialsDir: path.join(runDir, `${name}-credentials`),
      auth,
      namespaces: TEST_NAMESPACES.map((ns) => `${ns}${CLOUD_SUFFIX}`),
      serverBinary: binaries.server,
      jwks: 'in-process',
      jwksRefreshInterval: `${CLOUD_JWKS_REFRESH_MS}ms`,
      onProgress: progress,
    });
    progress(`starting cluster ${name} (Cloud-shaped, ${auth})…`);
    await server.start();
    if (auth === 'api-key') process.env[CLOUD_API_KEY_ENV] = await server.cutoverApiKey();
    return server;
  } catch (err) {
    delete cloudServers[auth]; // a later suite may try again
    throw err;
  }
}

function cloudView(server: CloudServer): CloudShapedCluster {
  const mtls = server.auth === 'mtls';
  const tls = {
    serverRootCACertPath: server.pki.ca.certPath,
    ...(mtls ? { clientCertPath: server.pki.client.certPath, clientKeyPath: server.pki.client.keyPath } : {}),
  };
  return {
    endpoint: server.endpoint.address,
    internalEndpoint: server.internalFrontendAddress!,
    auth: server.auth,
    namespaceSuffix: CLOUD_SUFFIX,
    caPath: server.pki.ca.certPath,
    clientCertPath: mtls ? server.pki.client.certPath : undefined,
    clientKeyPath: mtls ? server.pki.client.keyPath : undefined,
    clusterConfig: (extra = {}) => ({
      address: server.endpoint.address,
      namespaceSuffix: CLOUD_SUFFIX,
      tls,
      ...(mtls ? {} : { apiKeyEnv: CLOUD_API_KEY_ENV }),
      ...extra,
      kind: extra.kind ?? 'cloud',
    }),
    metricsUrl: server.endpoint.metricsUrl,
    mintApiKey: (opts) => server.mintApiKey(opts),
    revokeApiKey: (kid) => server.revokeApiKey(kid),
    pids: () => server.pids(),
    kill: () => server.kill(),
    restart: () => server.restart(),
  };
}

/** Stops everything the harness started and removes its run directory. */
export async function stopTestStack(): Promise<void> {
  const s = stack;
  stack = undefined;
  const dir = current?.runDir;
  current = undefined;
  const selfHosted = selfHostedServer;
  selfHostedServer = undefined;
  const clouds = Object.values(cloudServers);
  for (const auth of Object.keys(cloudServers) as CloudAuth[]) delete cloudServers[auth];
  const sentinels = [...sentinelSets];
  sentinelSets.clear();
  await Promise.all([
    ...sentinels.map((set) => set.stop().catch(() => undefined)),
    s?.stop({ dropData: true }),
    selfHosted?.then((server) => server.dropDatabases()).catch(() => undefined),
    ...clouds.map((c) => c.then((server) => server.stop()).catch(() => undefined)),
  ]);
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
}

/** The running test stack; throws when the root hooks did not start it. */
export function testStack(): TestStack {
  if (!current)
    throw new Error('the test stack is not running: run tests through mocha with .mocharc.js (root hooks in test/setup/hooks.ts)');
  return current;
}

/**
 * One more dev server, with its Web UI (the shared stack's run headless), for the browser tests only:
 * `TEST_NAMESPACES`, the UI decoding through `codecEndpoint` when given. Tracked by PID like the stack's
 * processes; the caller stops it (`stop()`), and it dies with the test process at the latest.
 */
export async function startUiDevServer(opts: { name: string; codecEndpoint?: string }): Promise<DevServer> {
  const server = new DevServer({
    name: opts.name,
    cli: await resolveTemporalCli(),
    runDir: path.join(testStack().runDir, opts.name),
    namespaces: TEST_NAMESPACES,
    searchAttributes: STACK_SEARCH_ATTRIBUTE_TYPES,
    ui: true,
    codecEndpoint: opts.codecEndpoint,
  });
  await server.start();
  return server;
}

/** A fresh name for a task queue, workflow ID or Redis key prefix: `<prefix>-<random>`. */
export function uniqueId(prefix: string): string {
  return `${prefix}-${randomBytes(6).toString('hex')}`;
}
