/**
 * The local stack: named clusters plus Redis, started together, stopped together. The same code
 * serves `cutover dev up` (detached, with UIs) and the test harness (tracked, headless).
 */
import * as fs from 'node:fs';
import { STACK_SEARCH_ATTRIBUTES } from '../domain/search-attributes';
import * as path from 'node:path';
import { CloudServer } from './cloud-server';
import { DevServer } from './dev-server';
import { freePort, isListening, splitAddress } from './ports';
import { postgresClusterFactory } from './postgres-server';
import { PrometheusServer, prometheusInstalled } from './prometheus';
import { resolvePrometheusTool } from './prometheus-binary';
import { RedisServer, RedisUnavailableError, waitForRedis } from './redis';
import { resolveTemporalCli } from './temporal-cli';
import { resolveTemporalServer } from './temporal-server-binary';
import type { ClusterEndpoint, ClusterProcess, ProgressFn } from './types';

/** One cluster to run: its name, gRPC port (free when omitted), namespaces, and kind. */
export interface StackClusterSpec {
  name: string;
  port?: number;
  /** The namespaces to create, as the cluster names them (suffixed on a Cloud-shaped cluster). */
  namespaces: string[];
  local?: { server: 'dev' | 'postgres' | 'cloud'; shards: number; auth?: 'mtls' | 'api-key' };
}

export interface StackOptions {
  runDir: string;
  clusters: StackClusterSpec[];
  /**
   * `url`: use the Redis there, or start one on its port when nothing answers and it is local.
   * Omitted: `REDIS_URL` when set, else a redis-server of our own on a free port.
   */
  redisUrl?: string;
  ui?: boolean;
  /** With `ui`: the codec endpoint every dev-server UI decodes payloads through. */
  codecEndpoint?: string;
  detached?: boolean;
  onProgress?: ProgressFn;
  /** Extra dynamic config for every dev server. */
  dynamicConfig?: Record<string, unknown>;
  /**
   * Run a Prometheus scraping every cluster: always (built into the project cache when none is at hand),
   * only when one is at hand without building, or never.
   */
  prometheus?: 'always' | 'if-installed' | 'never';
  /**
   * Certificates and API keys of Cloud-shaped clusters, one folder per cluster; kept by `stop()` so
   * clients configured once keep working. Default `<runDir>/credentials`.
   */
  credentialsDir?: string;
  /** How often Cloud-shaped clusters re-read their JWKS (how soon a revoked key is refused). Default `1m`. */
  jwksRefreshInterval?: string;
}

/** `Name=Type` of every search attribute the stack pre-registers (cutover's own plus TenantId). */
export const STACK_SEARCH_ATTRIBUTE_TYPES: Record<string, 'Keyword'> = Object.fromEntries(
  STACK_SEARCH_ATTRIBUTES.map((k) => [k.name, 'Keyword' as const]),
);

/** Creates the process for a cluster spec: a dev server, a temporal-server on PostgreSQL, or a Cloud-shaped one. */
type ClusterFactory = (
  spec: StackClusterSpec,
  ctx: {
    runDir: string;
    ui: boolean;
    codecEndpoint?: string;
    detached: boolean;
    onProgress: ProgressFn;
    dynamicConfig?: Record<string, unknown>;
    credentialsDir: string;
    jwksRefreshInterval?: string;
  },
) => Promise<ClusterProcess>;
const factories: Record<'dev' | 'postgres' | 'cloud', ClusterFactory> = {
  dev: async (spec, ctx) =>
    new DevServer({
      name: spec.name,
      cli: await resolveTemporalCli(ctx.onProgress),
      runDir: ctx.runDir,
      port: spec.port,
      namespaces: spec.namespaces,
      searchAttributes: STACK_SEARCH_ATTRIBUTE_TYPES,
      ui: ctx.ui,
      codecEndpoint: ctx.codecEndpoint,
      detached: ctx.detached,
      dynamicConfig: ctx.dynamicConfig,
    }),
  postgres: (spec, ctx) => postgresClusterFactory(spec, ctx),
  cloud: async (spec, ctx) =>
    CloudServer.create({
      name: spec.name,
      port: spec.port ?? (await freePort()),
      runDir: path.join(ctx.runDir, spec.name),
      credentialsDir: path.join(ctx.credentialsDir, spec.name),
      auth: spec.local?.auth ?? 'api-key',
      namespaces: spec.namespaces,
      serverBinary: (await resolveTemporalServer({ onProgress: ctx.onProgress })).server,
      jwksRefreshInterval: ctx.jwksRefreshInterval,
      // Its own process whenever the stack is detached (`dev up`): the JWKS must outlive this command.
      jwks: ctx.detached ? 'process' : 'in-process',
      detached: ctx.detached,
      onProgress: ctx.onProgress,
      dynamicConfig: ctx.dynamicConfig,
    }),
};

export class LocalStack {
  private constructor(
    readonly runDir: string,
    readonly clusters: Record<string, ClusterProcess>,
    readonly redisUrl: string,
    readonly redis: RedisServer | undefined,
    readonly prometheus: PrometheusServer | undefined,
  ) {}

  /** Starts every cluster and Redis; on any failure, stops what already started and rethrows. */
  static async start(opts: StackOptions): Promise<LocalStack> {
    const progress = opts.onProgress ?? (() => {});
    fs.mkdirSync(opts.runDir, { recursive: true });
    const started: ClusterProcess[] = [];
    let redis: RedisServer | undefined;
    let prometheus: PrometheusServer | undefined;
    try {
      const clusters: Record<string, ClusterProcess> = {};
      // Resolve the binaries up front so a first-time build reports progress before anything starts.
      if (opts.clusters.some((c) => (c.local?.server ?? 'dev') === 'dev')) await resolveTemporalCli(progress);
      if (opts.prometheus === 'always') await resolvePrometheusTool('prometheus', { onProgress: progress });
      const ctx = {
        runDir: opts.runDir,
        ui: opts.ui ?? false,
        codecEndpoint: opts.codecEndpoint,
        detached: opts.detached ?? false,
        onProgress: progress,
        dynamicConfig: opts.dynamicConfig,
        credentialsDir: opts.credentialsDir ?? path.join(opts.runDir, 'credentials'),
        jwksRefreshInterval: opts.jwksRefreshInterval,
      };
      // Sequential on purpose: on 2 cores parallel boots only contend, and each takes ~0.2 s.
      for (const spec of opts.clusters) {
        const kind = spec.local?.server ?? 'dev';
        const proc = await factories[kind](spec, ctx);
        progress(`starting cluster ${spec.name} (${kind})…`);
        await proc.start();
        started.push(proc);
        clusters[spec.name] = proc;
      }
      let redisUrl: string;
      const wanted = opts.redisUrl ?? process.env.REDIS_URL;
      if (wanted && (await redisAnswers(wanted))) {
        redisUrl = wanted;
      } else if (wanted && opts.redisUrl) {
        const { host, port } = splitAddress(new URL(wanted).host);
        if (!['127.0.0.1', 'localhost'].includes(host)) {
          throw new RedisUnavailableError(
            `Redis at ${wanted} does not answer and is not local: start it, or point redis.url at a reachable Redis`,
          );
        }
        redis = new RedisServer({ runDir: opts.runDir, port, detached: opts.detached });
        await redis.start();
        redisUrl = redis.url;
      } else if (wanted) {
        throw new RedisUnavailableError(
          `REDIS_URL=${wanted} does not answer: start that Redis, or unset REDIS_URL to let cutover start its own`,
        );
      } else {
        redis = new RedisServer({ runDir: opts.runDir, detached: opts.detached });
        await redis.start();
        redisUrl = redis.url;
      }
      const wantProm = opts.prometheus ?? 'never';
      const runProm = wantProm === 'always' || (wantProm === 'if-installed' && prometheusInstalled());
      if (wantProm === 'if-installed' && !runProm) progress('no prometheus at hand, so none runs (`npx cutover dev build` builds one)');
      if (runProm) {
        prometheus = new PrometheusServer({
          runDir: opts.runDir,
          detached: opts.detached,
          onProgress: progress,
          clusters: Object.values(clusters).map((c) => ({ name: c.endpoint.name, address: new URL(c.endpoint.metricsUrl).host })),
        });
        progress('starting prometheus…');
        await prometheus.start();
      }
      return new LocalStack(opts.runDir, clusters, redisUrl, redis, prometheus);
    } catch (err) {
      // Leave nothing behind, databases included: a half-started stack is never reused.
      await Promise.all(started.map((p) => (p.dropData ? p.dropData() : p.stop()).catch(() => undefined)));
      await redis?.stop().catch(() => undefined);
      await prometheus?.stop().catch(() => undefined);
      throw err;
    }
  }

  /** The endpoints of every cluster, by name. */
  endpoints(): Record<string, ClusterEndpoint> {
    return Object.fromEntries(Object.entries(this.clusters).map(([n, c]) => [n, c.endpoint]));
  }

  cluster(name: string): ClusterProcess {
    const c = this.clusters[name];
    if (!c) throw new Error(`no cluster named ${name} in this stack (have: ${Object.keys(this.clusters).join(', ')})`);
    return c;
  }

  /**
   * Stops every process the stack started (Redis it did not start is left alone); with `dropData`,
   * PostgreSQL-backed clusters also drop their databases.
   */
  async stop(opts: { dropData?: boolean } = {}): Promise<void> {
    await Promise.all(
      Object.values(this.clusters).map((c) => (opts.dropData && c.dropData ? c.dropData() : c.stop()).catch(() => undefined)),
    );
    await this.redis?.stop().catch(() => undefined);
    await this.prometheus?.stop().catch(() => undefined);
  }
}

async function redisAnswers(url: string): Promise<boolean> {
  try {
    const { host, port } = splitAddress(new URL(url).host);
    if (!(await isListening(host, port))) return false;
    await waitForRedis(url, 1000);
    return true;
  } catch {
    return false;
  }
}
