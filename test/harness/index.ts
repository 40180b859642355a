/**
 * The test harness: one local stack per mocha run (two real dev servers — `legacy` as the source,
 * `cloud` as the target — and a Redis of its own), started by the root hooks, plus helpers to kill
 * and restart a cluster or Redis for chaos tests. Each test takes its own IDs with `uniqueId`.
 * Suites that need a self-hosted source ask for `testStack().selfHosted()`: a third cluster, a
 * temporal-server on PostgreSQL, started on first use (most runs never pay for it).
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { postgresClusterFactory, type PostgresTemporalServer } from '../../src/stack/postgres-server';
import { LocalStack } from '../../src/stack/stack';
import type { ClusterEndpoint } from '../../src/stack/types';

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

export interface TestStack {
  source: ClusterEndpoint;
  target: ClusterEndpoint;
  redisUrl: string;
  /** A real Prometheus scraping both clusters every second (job `temporal`, label `cluster`). */
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
}

let stack: LocalStack | undefined;
let current: TestStack | undefined;
let selfHostedServer: Promise<PostgresTemporalServer> | undefined;

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

/** Stops everything the harness started and removes its run directory. */
export async function stopTestStack(): Promise<void> {
  const s = stack;
  stack = undefined;
  const dir = current?.runDir;
  current = undefined;
  const selfHosted = selfHostedServer;
  selfHostedServer = undefined;
  await Promise.all([s?.stop({ dropData: true }), selfHosted?.then((server) => server.dropDatabases()).catch(() => undefined)]);
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
}

/** The running test stack; throws when the root hooks did not start it. */
export function testStack(): TestStack {
  if (!current)
    throw new Error('the test stack is not running: run tests through mocha with .mocharc.js (root hooks in test/setup/hooks.ts)');
  return current;
}

/** A fresh name for a task queue, workflow ID or Redis key prefix: `<prefix>-<random>`. */
export function uniqueId(prefix: string): string {
  return `${prefix}-${randomBytes(6).toString('hex')}`;
}
