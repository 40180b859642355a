// A self-hosted Temporal cluster for the local stack: temporal-server (frontend, history, matching and
// worker in one process) on its own pair of PostgreSQL databases, with several history shards. It
// behaves like the clusters users actually move off: no namespace until someone creates it, visibility
// that lags writes, and services, shards and a server configuration that are real.
import { createHash } from 'node:crypto';
import { promises as fs, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { Connection } from '@temporalio/client';
import type { SearchAttributeType } from '@temporalio/common';
import { msToTs } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';
import { grpcCode, GrpcStatus } from '../clusters/grpc';
import { STACK_SEARCH_ATTRIBUTES } from '../domain/search-attributes';
import { databasePair, dropDatabasePair, ensurePostgres, migrateDatabasePair, pgFromEnv } from './postgres';
import { PROJECT_ROOT } from './paths';
import { freePorts, isListening, isPortFree, PortInUseError } from './ports';
import { commandLine, isAlive, killGroup, spawnLogged, waitForExit, type SpawnedProcess } from './processes';
import type { DatabasePair, PgConnection } from './postgres';
import { resolveTemporalServer } from './temporal-server-binary';
import type { TemporalServerBinaries } from './temporal-server-binary';
import type { ClusterEndpoint, ClusterProcess, ProgressFn } from './types';

/** Search-attribute types as the CLI and the TS SDK name them. */
export type SearchAttributeTypeName = 'Keyword' | 'Text' | 'Int' | 'Double' | 'Bool' | 'Datetime' | 'KeywordList';

const IndexedValueType = temporal.api.enums.v1.IndexedValueType;
const INDEXED_VALUE_TYPES: Record<SearchAttributeTypeName, temporal.api.enums.v1.IndexedValueType> = {
  Text: IndexedValueType.INDEXED_VALUE_TYPE_TEXT,
  Keyword: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  Int: IndexedValueType.INDEXED_VALUE_TYPE_INT,
  Double: IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
  Bool: IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
  Datetime: IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
  KeywordList: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
};

/** The SDK's `SearchAttributeType` values in the names this module (and the CLI) use. */
const SDK_TYPE_NAMES: Record<SearchAttributeType, SearchAttributeTypeName> = {
  TEXT: 'Text',
  KEYWORD: 'Keyword',
  INT: 'Int',
  DOUBLE: 'Double',
  BOOL: 'Bool',
  DATETIME: 'Datetime',
  KEYWORD_LIST: 'KeywordList',
};

/** Every port the server listens on besides the frontend gRPC port (which the caller gives). */
export interface ServicePorts {
  frontendMembership: number;
  frontendHttp: number;
  historyGrpc: number;
  historyMembership: number;
  matchingGrpc: number;
  matchingMembership: number;
  workerGrpc: number;
  workerMembership: number;
  metrics: number;
}

const PORT_KEYS: (keyof ServicePorts)[] = [
  'frontendMembership',
  'frontendHttp',
  'historyGrpc',
  'historyMembership',
  'matchingGrpc',
  'matchingMembership',
  'workerGrpc',
  'workerMembership',
  'metrics',
];

/** Options of `PostgresTemporalServer`. */
export interface PostgresTemporalServerOptions {
  /** Cluster name in the plan; also the server's cluster name and the default database prefix. */
  name: string;
  /** Frontend gRPC port on 127.0.0.1. */
  port: number;
  /** Directory for the rendered config, the dynamic config and the server log. */
  runDir: string;
  /** `numHistoryShards`. Fixed for the life of the databases: a restart must use the same number. */
  shards: number;
  /** Namespaces created at start-up when missing (retention 24 h), e.g. the plan's, the control one and `default`. */
  namespaces: string[];
  /** Custom search attributes added to every namespace when missing. */
  searchAttributes: { name: string; type: SearchAttributeTypeName }[];
  binaries: Pick<TemporalServerBinaries, 'server' | 'sqlTool' | 'schemaDir'>;
  pg: PgConnection;
  /** Databases are `<dbPrefix>_persistence` and `<dbPrefix>_visibility`. Default `cutover_<name>`. */
  dbPrefix?: string;
  onProgress?: ProgressFn;
  /** Pin the service ports (e.g. those a previous `dev up` recorded); free ones are taken otherwise. */
  ports?: Partial<ServicePorts>;
  /** Adopt a server a previous process started (its PID, from the stack's state file) so it can be stopped. */
  pid?: number;
  /** Server log level. Default `warn`. */
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
  /** Bound on start-up after the process is spawned (serving, namespaces, search attributes). Default 60 s. */
  readyTimeoutMs?: number;
  /** How long `stop()` waits after SIGTERM before SIGKILL. Default 10 s. */
  stopGraceMs?: number;
  /** Extra dynamic config (`key: value`, e.g. `'limit.historyCount.suggestContinueAsNew': 200`) for this server. */
  dynamicConfig?: Record<string, unknown>;
  /**
   * Leave the server running when this process exits (`dev up`). Default false: the server is killed
   * with this process, so a test run that dies never leaves one behind.
   */
  detached?: boolean;
}

/** Where the time of the last `start()` went, in ms (for the benchmarks and `dev up`). */
export interface StartTimings {
  databasesMs: number;
  serveMs: number;
  namespacesMs: number;
  totalMs: number;
}

/** Invalid options: `field` names the option to fix. */
export class PostgresServerOptionsError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'PostgresServerOptionsError';
  }
}

/** The server did not come up (exited, or not ready in time); the message carries the log tail. */
export class PostgresServerStartError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PostgresServerStartError';
  }
}

// From the package root: the compiled code in dist/ reads the same templates as the sources.
const TEMPLATE_DIR = path.join(PROJECT_ROOT, 'src', 'stack', 'templates');
const SERVER_TEMPLATE = path.join(TEMPLATE_DIR, 'postgres-server.yaml');
const DYNAMIC_CONFIG_TEMPLATE = path.join(TEMPLATE_DIR, 'postgres-dynamicconfig.yaml');
const RETENTION = '24h';
const EXIT_WAIT_MS = 15_000;

/**
 * Replaces every `{{NAME}}` in `template` with the JSON form of `values[NAME]` (a quoted string or a
 * number — both valid YAML scalars, so no value can break the document). Missing or unused values throw.
 */
export function renderTemplate(template: string, values: Record<string, string | number>): string {
  const used = new Set<string>();
  const out = template.replace(/\{\{([A-Z0-9_]+)\}\}/g, (_m, key: string) => {
    if (!(key in values)) {
      throw new PostgresServerOptionsError(`template.${key}`, 'the template uses a value that was not given');
    }
    used.add(key);
    return JSON.stringify(values[key]);
  });
  const unused = Object.keys(values).filter((k) => !used.has(k));
  if (unused.length > 0) {
    throw new PostgresServerOptionsError(`template.${unused[0]}`, 'a value was given that the template does not use');
  }
  return out;
}

/**
 * The dynamic-config file: the template's entries, with `extra` entries (values as JSON, which YAML reads
 * as flow style) replacing template entries of the same key — the server refuses duplicate keys.
 */
export function renderDynamicConfig(template: string, extra: Record<string, unknown>): string {
  for (const [key, value] of Object.entries(extra)) {
    if (!/^[A-Za-z][A-Za-z0-9_.-]*$/.test(key) || value === undefined) {
      throw new PostgresServerOptionsError(
        `dynamicConfig.${key}`,
        'give a dotted key (e.g. history.defaultWorkflowTaskTimeout) and a JSON value',
      );
    }
  }
  const kept: string[] = [];
  let skipping = false;
  for (const line of renderTemplate(template, {}).split('\n')) {
    const top = /^([A-Za-z][A-Za-z0-9_.-]*):\s*$/.exec(line);
    if (top) skipping = top[1]! in extra;
    else if (!/^\s/.test(line)) skipping = false;
    if (!skipping) kept.push(line);
  }
  const added = Object.entries(extra).map(([key, value]) => `${key}:\n  - value: ${JSON.stringify(value)}\n`);
  return `${kept.join('\n').trimEnd()}\n${added.join('')}`;
}

/**
 * The PostgreSQL schema stores each service's membership port in a SMALLINT (`cluster_membership.rpc_port`),
 * so a port above 32767 makes the server die at start-up ("out of range for type smallint"). The OS hands
 * out ephemeral ports from 32768 up, so service ports are chosen from this range instead — which also keeps
 * them clear of the dev servers' randomly chosen ports.
 */
export const SERVICE_PORT_RANGE = { min: 20000, max: 32767 } as const;

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Thrown by a step of the start-up that is not ready yet: retried like an unavailable server. */
class NotReadyYet extends Error {}

/** A self-hosted temporal-server on PostgreSQL that the local stack can start, kill and restart. */
export class PostgresTemporalServer implements ClusterProcess {
  /** The two databases this server runs on. */
  readonly databases: DatabasePair;
  /** Server log (stdout and stderr), appended across restarts. */
  readonly logPath: string;
  /** Timings of the last successful `start()`. */
  lastStart: StartTimings | undefined;

  private readonly opts: Required<Omit<PostgresTemporalServerOptions, 'dbPrefix' | 'onProgress' | 'ports' | 'pid'>> & {
    onProgress?: ProgressFn;
  };
  private servicePorts: ServicePorts | undefined;
  private spawned: SpawnedProcess | undefined;
  private adoptedPid: number | undefined;

  constructor(options: PostgresTemporalServerOptions) {
    validateOptions(options);
    const runDir = path.resolve(options.runDir);
    this.opts = {
      name: options.name,
      port: options.port,
      runDir,
      shards: options.shards,
      namespaces: [...new Set(options.namespaces)],
      searchAttributes: options.searchAttributes,
      binaries: options.binaries,
      pg: options.pg,
      logLevel: options.logLevel ?? 'warn',
      readyTimeoutMs: options.readyTimeoutMs ?? 60_000,
      stopGraceMs: options.stopGraceMs ?? 10_000,
      detached: options.detached ?? false,
      dynamicConfig: options.dynamicConfig ?? {},
      onProgress: options.onProgress,
    };
    this.databases = databasePair(options.dbPrefix ?? `cutover_${options.name.toLowerCase().replace(/[^a-z0-9_]/g, '_')}`);
    this.logPath = path.join(runDir, 'temporal-server.log');
    if (options.ports && PORT_KEYS.every((k) => options.ports?.[k] !== undefined)) {
      this.servicePorts = options.ports as ServicePorts;
    } else if (options.ports && Object.keys(options.ports).length > 0) {
      throw new PostgresServerOptionsError('ports', `give all of ${PORT_KEYS.join(', ')} or none`);
    }
    this.adoptedPid = options.pid;
  }

  /** Address, metrics URL (known once ports are chosen, i.e. after `start()` or with `ports`) and kind. */
  get endpoint(): ClusterEndpoint {
    return {
      name: this.opts.name,
      address: `127.0.0.1:${this.opts.port}`,
      metricsUrl: this.servicePorts ? `http://127.0.0.1:${this.servicePorts.metrics}/metrics` : '',
      kind: 'postgres',
    };
  }

  /** The service ports in use (for the stack's state file), once chosen. */
  get ports(): ServicePorts | undefined {
    return this.servicePorts ? { ...this.servicePorts } : undefined;
  }

  /** What a later process needs to adopt this server (`dev down`): pass back as `pid`, `ports` and `dbPrefix`. */
  get state(): {
    pid: number | undefined;
    port: number;
    ports: ServicePorts | undefined;
    dbPrefix: string;
    runDir: string;
    logPath: string;
  } {
    return {
      pid: this.pid,
      port: this.opts.port,
      ports: this.ports,
      dbPrefix: this.databases.persistence.replace(/_persistence$/, ''),
      runDir: this.opts.runDir,
      logPath: this.logPath,
    };
  }

  get pid(): number | undefined {
    const child = this.spawned?.child;
    if (child) {
      return child.exitCode === null && child.signalCode === null ? child.pid : undefined;
    }
    // An adopted PID (from a state file) counts only while it is still our server: PIDs get reused.
    if (this.adoptedPid === undefined || !isAlive(this.adoptedPid)) return undefined;
    const cmdline = commandLine(this.adoptedPid);
    return cmdline?.includes(this.opts.runDir) ? this.adoptedPid : undefined;
  }

  /** Creates and migrates the databases, renders the config, spawns the server and waits until every namespace is usable. */
  async start(): Promise<void> {
    if (this.pid !== undefined) return;
    const { name, pg, binaries, onProgress } = this.opts;
    const startedAt = Date.now();
    // Ports first: a taken port fails before any database is touched.
    if (!this.servicePorts) {
      const picked = await freePorts(PORT_KEYS.length, SERVICE_PORT_RANGE, [this.opts.port]);
      this.servicePorts = Object.fromEntries(PORT_KEYS.map((k, i) => [k, picked[i]])) as unknown as ServicePorts;
    }
    await this.assertPortsFree();
    const databasesAt = Date.now();
    await ensurePostgres(pg);
    await migrateDatabasePair(pg, binaries, this.databases, onProgress ? (l) => onProgress(`${name}: ${l}`) : undefined);
    const databasesMs = Date.now() - databasesAt;
    await this.writeConfig();

    const spawnedAt = Date.now();
    try {
      this.spawnServer();
    } catch (err) {
      throw new PostgresServerStartError(
        `${name}: could not run ${binaries.server}: ${(err as Error).message}; check the path (TEMPORAL_SERVER_BIN)`,
        { cause: err },
      );
    }
    const deadline = spawnedAt + this.opts.readyTimeoutMs;
    // Wait for the port before the first gRPC call: a channel that fails its first connect backs off for
    // a second or more before it tries again, which would double the start-up time.
    try {
      await this.retrying(
        'waiting for the frontend port',
        deadline,
        async () => {
          if (!(await isListening('127.0.0.1', this.opts.port, 200))) throw new NotReadyYet('not listening yet');
        },
        [GrpcStatus.UNAVAILABLE],
      );
    } catch (err) {
      await this.kill();
      throw err;
    }
    const connection = Connection.lazy({ address: this.endpoint.address });
    try {
      await this.waitServing(connection, deadline);
      const servingAt = Date.now();
      // The shard count is fixed when the databases are created; the server keeps the recorded one.
      const { historyShardCount } = await this.retrying(
        'reading the cluster info',
        deadline,
        () => connection.withDeadline(Math.min(Date.now() + 5_000, deadline), () => connection.workflowService.getClusterInfo({})),
        [GrpcStatus.UNAVAILABLE, GrpcStatus.DEADLINE_EXCEEDED],
      );
      if (historyShardCount !== this.opts.shards) {
        onProgress?.(
          `${name}: warning: its databases were created with ${historyShardCount} history shards, so the server runs ` +
            `${historyShardCount}, not ${this.opts.shards}; drop them (dev down without --keep) to change it`,
        );
      }
      await this.ensureNamespaces(connection, deadline);
      const readyAt = Date.now();
      this.lastStart = { databasesMs, serveMs: servingAt - spawnedAt, namespacesMs: readyAt - servingAt, totalMs: readyAt - startedAt };
      onProgress?.(
        `${name}: temporal-server ready on ${this.endpoint.address} (${this.opts.shards} shards, ` +
          `${this.opts.namespaces.length} namespaces) in ${this.lastStart.totalMs} ms`,
      );
    } catch (err) {
      // Never leave a half-started server behind.
      await this.kill();
      throw err;
    } finally {
      await connection.close();
    }
  }

  /** SIGKILLs the whole process group and waits until the server is gone. */
  async kill(): Promise<void> {
    const pid = this.pid;
    if (pid === undefined) return;
    killGroup(pid, 'SIGKILL');
    await this.waitExit(pid, EXIT_WAIT_MS);
  }

  /** SIGTERM, then SIGKILL after the grace period; never throws if already stopped. */
  async stop(): Promise<void> {
    const pid = this.pid;
    if (pid === undefined) return;
    killGroup(pid, 'SIGTERM');
    try {
      await this.waitExit(pid, this.opts.stopGraceMs);
    } catch {
      await this.kill();
    }
  }

  /** Starts again on the same databases and ports (stopping first if it still runs); resolves when ready. */
  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** Drops both databases (for `dev down` without `--keep`); stops the server first if it still runs. */
  async dropDatabases(): Promise<void> {
    await this.stop();
    await dropDatabasePair(this.opts.pg, this.databases);
  }

  /** The stack's name for {@link dropDatabases}. */
  dropData(): Promise<void> {
    return this.dropDatabases();
  }

  /** Recorded in the dev state file so `dev down` (another process) can drop the databases. */
  get cleanupInfo(): { dbPrefix: string } {
    return { dbPrefix: this.state.dbPrefix };
  }

  private async assertPortsFree(): Promise<void> {
    const all: [string, number][] = [
      ['port', this.opts.port],
      ...PORT_KEYS.map((k): [string, number] => [`ports.${k}`, this.servicePorts![k]]),
    ];
    for (const [field, port] of all) {
      if (!(await isPortFree(port))) throw new PortInUseError(port, field);
    }
  }

  private async writeConfig(): Promise<void> {
    const configDir = path.join(this.opts.runDir, 'config');
    await fs.mkdir(configDir, { recursive: true });
    const p = this.servicePorts!;
    const dynamicConfigPath = path.join(configDir, 'dynamicconfig.yaml');
    const pg = this.opts.pg;
    const values: Record<string, string | number> = {
      LOG_LEVEL: this.opts.logLevel,
      NUM_HISTORY_SHARDS: this.opts.shards,
      PERSISTENCE_DB: this.databases.persistence,
      VISIBILITY_DB: this.databases.visibility,
      PG_ADDRESS: `${pg.host.includes(':') ? `[${pg.host}]` : pg.host}:${pg.port}`,
      PG_USER: pg.user,
      PG_PASSWORD: pg.password,
      METRICS_ADDRESS: `127.0.0.1:${p.metrics}`,
      FRONTEND_GRPC_PORT: this.opts.port,
      FRONTEND_MEMBERSHIP_PORT: p.frontendMembership,
      FRONTEND_HTTP_PORT: p.frontendHttp,
      HISTORY_GRPC_PORT: p.historyGrpc,
      HISTORY_MEMBERSHIP_PORT: p.historyMembership,
      MATCHING_GRPC_PORT: p.matchingGrpc,
      MATCHING_MEMBERSHIP_PORT: p.matchingMembership,
      WORKER_GRPC_PORT: p.workerGrpc,
      WORKER_MEMBERSHIP_PORT: p.workerMembership,
      CLUSTER_NAME: this.opts.name,
      FRONTEND_ADDRESS: this.endpoint.address,
      DYNAMIC_CONFIG_PATH: dynamicConfigPath,
    };
    const [serverTemplate, dynamicTemplate] = await Promise.all([
      fs.readFile(SERVER_TEMPLATE, 'utf8'),
      fs.readFile(DYNAMIC_CONFIG_TEMPLATE, 'utf8'),
    ]);
    // `--env development` makes the server read <root>/config/development.yaml.
    await fs.writeFile(path.join(configDir, 'development.yaml'), renderTemplate(serverTemplate, values), { mode: 0o600 });
    await fs.writeFile(dynamicConfigPath, renderDynamicConfig(dynamicTemplate, this.opts.dynamicConfig));
  }

  private spawnServer(): void {
    // Its own process group (kill() takes the whole server); tracked and killed when this process exits
    // unless `detached` (for `dev up`, which returns while the server keeps running).
    this.spawned = spawnLogged(
      this.opts.binaries.server,
      ['--root', this.opts.runDir, '--config', 'config', '--env', 'development', '--allow-no-auth', 'start'],
      {
        logFile: this.logPath,
        cwd: this.opts.runDir,
        env: { ...process.env, TEMPORAL_VERSION_CHECK_DISABLED: '1' },
        detached: this.opts.detached,
      },
    );
    this.adoptedPid = undefined;
  }

  private exited(): boolean {
    const child = this.spawned?.child;
    return child !== undefined && (child.exitCode !== null || child.signalCode !== null || child.pid === undefined);
  }

  private async waitExit(pid: number, timeoutMs: number): Promise<void> {
    if (await waitForExit(this.spawned?.pid === pid ? this.spawned : pid, timeoutMs)) return;
    throw new PostgresServerStartError(`${this.opts.name}: temporal-server (pid ${pid}) did not exit within ${timeoutMs} ms`);
  }

  /** The last log lines, each cut short (the server logs stack traces inline), fatal and error lines first. */
  private logTail(lines = 12): string {
    let all: string[];
    try {
      all = readFileSync(this.logPath, 'utf8').trimEnd().split('\n');
    } catch {
      return '(no log)';
    }
    const cut = (l: string) => (l.length > 400 ? `${l.slice(0, 400)}…` : l);
    const severe = all.filter((l) => /"level":"(fatal|error|dpanic|panic)"/.test(l)).slice(-3);
    const tail = all.slice(-lines).filter((l) => !severe.includes(l));
    return [...severe, ...(severe.length ? ['…'] : []), ...tail].map(cut).join('\n');
  }

  private failure(what: string, cause?: unknown): PostgresServerStartError {
    return new PostgresServerStartError(`${this.opts.name}: temporal-server ${what}. Log ${this.logPath}, last lines:\n${this.logTail()}`, {
      cause,
    });
  }

  /** Retries `op` while the server is still coming up (unavailable, or the namespace not yet cached). */
  private async retrying<T>(what: string, deadline: number, op: () => Promise<T>, retryOn: number[]): Promise<T> {
    let wait = 50;
    for (;;) {
      const child = this.spawned?.child;
      if (this.exited()) throw this.failure(`exited (${child?.signalCode ?? `code ${child?.exitCode}`}) while ${what}`);
      try {
        return await op();
      } catch (err) {
        const code = err instanceof NotReadyYet ? GrpcStatus.UNAVAILABLE : grpcCode(err);
        // Anything that is not a transient gRPC status (bad options, refused requests) fails at once.
        const retryable = code !== undefined && retryOn.includes(code);
        if (!retryable) throw err;
        if (Date.now() + wait > deadline) throw this.failure(`was not ready within ${this.opts.readyTimeoutMs} ms (${what})`, err);
      }
      await delay(wait);
      wait = Math.min(wait * 2, 500);
    }
  }

  private async waitServing(connection: Connection, deadline: number): Promise<void> {
    await this.retrying(
      'waiting for the frontend',
      deadline,
      // A short deadline per attempt, so a call to a server that is not listening yet fails fast.
      () => connection.withDeadline(Math.min(Date.now() + 2_000, deadline), () => connection.workflowService.getSystemInfo({})),
      [GrpcStatus.UNAVAILABLE, GrpcStatus.DEADLINE_EXCEEDED],
    );
  }

  private async ensureNamespaces(connection: Connection, deadline: number): Promise<void> {
    const transient = [GrpcStatus.UNAVAILABLE, GrpcStatus.DEADLINE_EXCEEDED, GrpcStatus.INTERNAL];
    const ws = connection.workflowService;
    const ops = connection.operatorService;
    const withDeadline = <T>(fn: () => Promise<T>) => connection.withDeadline(Math.min(Date.now() + 5_000, deadline), fn);
    // One namespace at a time: the server's namespace cache refreshes as a whole, so parallel creation
    // would not be faster, and the errors stay readable.
    for (const namespace of this.opts.namespaces) {
      await this.retrying(
        `creating namespace ${namespace}`,
        deadline,
        async () => {
          try {
            await withDeadline(() => ws.describeNamespace({ namespace }));
          } catch (err) {
            if (grpcCode(err) !== GrpcStatus.NOT_FOUND) throw err;
            try {
              await withDeadline(() => ws.registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs(RETENTION) }));
            } catch (regErr) {
              if (grpcCode(regErr) !== GrpcStatus.ALREADY_EXISTS) throw regErr;
            }
          }
        },
        transient,
      );
    }
    for (const namespace of this.opts.namespaces) {
      // describeNamespace reads the database; a start or a visibility query goes through the namespace
      // cache, which learns new namespaces on its next refresh. Count answers only once the cache has it.
      await this.retrying(
        `waiting for namespace ${namespace} to be usable`,
        deadline,
        () => withDeadline(() => ws.countWorkflowExecutions({ namespace, query: '' })),
        [...transient, GrpcStatus.NOT_FOUND],
      );
    }
    for (const namespace of this.opts.namespaces) {
      await this.retrying(
        `adding search attributes to ${namespace}`,
        deadline,
        async () => {
          const listed = await withDeadline(() => ops.listSearchAttributes({ namespace }));
          const existing = { ...(listed.customAttributes ?? {}), ...(listed.systemAttributes ?? {}) };
          const missing: Record<string, temporal.api.enums.v1.IndexedValueType> = {};
          for (const attr of this.opts.searchAttributes) {
            const want = INDEXED_VALUE_TYPES[attr.type];
            const have = existing[attr.name];
            if (have === undefined) {
              missing[attr.name] = want;
            } else if (have !== want) {
              throw new PostgresServerOptionsError(
                `searchAttributes.${attr.name}`,
                `already exists in namespace ${namespace} with type ${IndexedValueType[have]}, not ${attr.type}; ` +
                  'use that type or another name',
              );
            }
          }
          if (Object.keys(missing).length === 0) return;
          try {
            await withDeadline(() => ops.addSearchAttributes({ namespace, searchAttributes: missing }));
          } catch (err) {
            // Added by someone else meanwhile: the next round lists it.
            if (grpcCode(err) !== GrpcStatus.ALREADY_EXISTS) throw err;
            throw new NotReadyYet('search attributes changed concurrently');
          }
        },
        // NOT_FOUND: the namespace is created but the frontend's cache does not know it yet.
        [...transient, GrpcStatus.NOT_FOUND],
      );
    }
  }
}

/** What the local stack knows about a cluster to run (structurally the stack's `StackClusterSpec`). */
export interface PostgresClusterSpec {
  name: string;
  port?: number;
  namespaces: string[];
  local?: { server: 'dev' | 'postgres'; shards: number };
}

/** Default history shards of a local self-hosted cluster when the plan gives none. */
export const DEFAULT_LOCAL_SHARDS = 4;

/**
 * The stack's factory for `local.server: postgres` clusters: `registerClusterKind('postgres', postgresClusterFactory)`.
 * Binaries come from `resolveTemporalServer` (built once), PostgreSQL from `PG_URL` or the local server, the
 * run directory is `<runDir>/<name>`, and the databases are `cutover_<name>_<hash of that directory>`: the
 * same for every `dev up` / `dev down` of one stack directory, different for every test run.
 */
export async function postgresClusterFactory(
  spec: PostgresClusterSpec,
  ctx: {
    runDir: string;
    detached: boolean;
    onProgress: ProgressFn;
    dynamicConfig?: Record<string, unknown>;
    searchAttributes?: { name: string; type: SearchAttributeTypeName }[];
  },
): Promise<PostgresTemporalServer> {
  const runDir = path.resolve(ctx.runDir, spec.name);
  const binaries = await resolveTemporalServer({ onProgress: ctx.onProgress });
  const port = spec.port ?? (await freePorts(1, SERVICE_PORT_RANGE))[0]!;
  const hash = createHash('sha256').update(runDir).digest('hex').slice(0, 8);
  return new PostgresTemporalServer({
    name: spec.name,
    port,
    runDir,
    shards: spec.local?.shards ?? DEFAULT_LOCAL_SHARDS,
    namespaces: spec.namespaces,
    searchAttributes: ctx.searchAttributes ?? STACK_SEARCH_ATTRIBUTES.map((k) => ({ name: k.name, type: SDK_TYPE_NAMES[k.type] })),
    binaries,
    pg: pgFromEnv(),
    dbPrefix: `cutover_${spec.name
      .toLowerCase()
      .replace(/[^a-z0-9_]/g, '_')
      .slice(0, 30)}_${hash}`,
    onProgress: ctx.onProgress,
    detached: ctx.detached,
    dynamicConfig: ctx.dynamicConfig,
  });
}

function validateOptions(o: PostgresTemporalServerOptions): void {
  if (typeof o.name !== 'string' || !/^[A-Za-z][A-Za-z0-9_-]{0,62}$/.test(o.name)) {
    throw new PostgresServerOptionsError(
      'name',
      `"${String(o.name)}" must start with a letter and hold only letters, digits, "_" and "-" (e.g. legacy)`,
    );
  }
  if (!Number.isInteger(o.port) || o.port < 1 || o.port > 65535) {
    throw new PostgresServerOptionsError('port', `${String(o.port)} is not a TCP port; give an integer 1-65535 (the frontend gRPC port)`);
  }
  if (typeof o.runDir !== 'string' || o.runDir.trim() === '') {
    throw new PostgresServerOptionsError('runDir', 'give a directory for the config and the log');
  }
  if (!Number.isInteger(o.shards) || o.shards < 1 || o.shards > 16384) {
    throw new PostgresServerOptionsError('shards', `${String(o.shards)} must be an integer from 1 to 16384 (history shards, e.g. 4)`);
  }
  if (!Array.isArray(o.namespaces) || o.namespaces.length === 0) {
    throw new PostgresServerOptionsError('namespaces', 'give at least one namespace to create (e.g. ["default"])');
  }
  o.namespaces.forEach((ns, i) => {
    if (typeof ns !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]{1,254}$/.test(ns)) {
      throw new PostgresServerOptionsError(
        `namespaces[${i}]`,
        `"${String(ns)}" is not a valid namespace name (2-255 letters, digits, ".", "_", "-")`,
      );
    }
  });
  (o.searchAttributes ?? []).forEach((sa, i) => {
    if (typeof sa?.name !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(sa.name)) {
      throw new PostgresServerOptionsError(
        `searchAttributes[${i}].name`,
        `"${String(sa?.name)}" must be letters, digits and "_" (e.g. TenantId)`,
      );
    }
    if (!(sa.type in INDEXED_VALUE_TYPES)) {
      throw new PostgresServerOptionsError(
        `searchAttributes[${i}].type`,
        `"${String(sa.type)}" must be one of ${Object.keys(INDEXED_VALUE_TYPES).join(', ')}`,
      );
    }
  });
  if (!o.binaries?.server || !o.binaries.sqlTool || !o.binaries.schemaDir) {
    throw new PostgresServerOptionsError('binaries', 'give { server, sqlTool, schemaDir } from resolveTemporalServer()');
  }
  if (o.ports) {
    for (const [key, port] of Object.entries(o.ports)) {
      if (!PORT_KEYS.includes(key as keyof ServicePorts)) {
        throw new PostgresServerOptionsError(`ports.${key}`, `unknown port; the ports are ${PORT_KEYS.join(', ')}`);
      }
      if (!Number.isInteger(port) || (port as number) < 1 || (port as number) > 65535) {
        throw new PostgresServerOptionsError(`ports.${key}`, `${String(port)} is not a TCP port (1-65535)`);
      }
      if (key.endsWith('Membership') && (port as number) > SERVICE_PORT_RANGE.max) {
        throw new PostgresServerOptionsError(
          `ports.${key}`,
          `${String(port)} is above ${SERVICE_PORT_RANGE.max}: the PostgreSQL schema stores membership ports as SMALLINT`,
        );
      }
    }
  }
}
