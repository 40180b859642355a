// A self-hosted Temporal cluster for the local stack: temporal-server (frontend, history, matching and
// worker in one process) on its own pair of PostgreSQL databases, with several history shards. It
// behaves like the clusters users actually move off: no namespace until someone creates it, visibility
// that lags writes, and services, shards and a server configuration that are real. The process itself is
// the stack's `TemporalServer` (src/stack/temporal-server.ts) with a PostgreSQL store and an open door.
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import type { SearchAttributeType } from '@temporalio/common';
import { STACK_SEARCH_ATTRIBUTES } from '../domain/search-attributes';
import { databasePair, dropDatabasePair, ensurePostgres, migrateDatabasePair, pgFromEnv } from './postgres';
import { freePorts } from './ports';
import type { DatabasePair, PgConnection } from './postgres';
import { resolveTemporalServer } from './temporal-server-binary';
import type { TemporalServerBinaries } from './temporal-server-binary';
import {
  SERVICE_PORT_RANGE,
  TemporalServer,
  TemporalServerOptionsError,
  TemporalServerStartError,
  type SearchAttributeTypeName,
  type ServicePorts,
  type TemporalServerOptions,
  type TemporalServerStore,
} from './temporal-server';
import type { ProgressFn } from './types';

// The names this module had before the server was generalised: callers and tests keep using them.
export {
  renderDynamicConfig,
  renderTemplate,
  SERVICE_PORT_RANGE,
  type SearchAttributeTypeName,
  type ServicePorts,
  type StartTimings,
} from './temporal-server';
/** Invalid options: `field` names the option to fix. */
export const PostgresServerOptionsError = TemporalServerOptionsError;
export type PostgresServerOptionsError = TemporalServerOptionsError;
/** The server did not come up (exited, or not ready in time); the message carries the log tail. */
export const PostgresServerStartError = TemporalServerStartError;
export type PostgresServerStartError = TemporalServerStartError;

/** The SDK's `SearchAttributeType` values in the names the server module (and the CLI) use. */
export const SDK_TYPE_NAMES: Record<SearchAttributeType, SearchAttributeTypeName> = {
  TEXT: 'Text',
  KEYWORD: 'Keyword',
  INT: 'Int',
  DOUBLE: 'Double',
  BOOL: 'Bool',
  DATETIME: 'Datetime',
  KEYWORD_LIST: 'KeywordList',
};

/** Two PostgreSQL databases (persistence, visibility), created and migrated before every start. */
export class PostgresStore implements TemporalServerStore {
  readonly label = 'PostgreSQL';
  readonly durable = true;

  constructor(
    readonly pg: PgConnection,
    readonly binaries: Pick<TemporalServerBinaries, 'sqlTool' | 'schemaDir'>,
    readonly databases: DatabasePair,
  ) {}

  async prepare(onProgress?: ProgressFn): Promise<void> {
    await ensurePostgres(this.pg);
    await migrateDatabasePair(this.pg, this.binaries, this.databases, onProgress);
  }

  persistence(shards: number): Record<string, unknown> {
    const pg = this.pg;
    const sql = (databaseName: string, pool: { maxConns: number; maxIdleConns: number }) => ({
      pluginName: 'postgres12',
      databaseName,
      connectAddr: `${pg.host.includes(':') ? `[${pg.host}]` : pg.host}:${pg.port}`,
      connectProtocol: 'tcp',
      user: pg.user,
      password: pg.password,
      ...pool,
      maxConnLifetime: '1h',
    });
    return {
      defaultStore: 'postgres-default',
      visibilityStore: 'postgres-visibility',
      numHistoryShards: shards,
      datastores: {
        // Each of the four services opens its own pools: 4 x (8 + 2) = 40 connections at most per server,
        // so the harness's server and two of a test's fit a stock PostgreSQL (max_connections 100).
        'postgres-default': { sql: sql(this.databases.persistence, { maxConns: 8, maxIdleConns: 2 }) },
        'postgres-visibility': { sql: sql(this.databases.visibility, { maxConns: 2, maxIdleConns: 1 }) },
      },
    };
  }

  drop(): Promise<void> {
    return dropDatabasePair(this.pg, this.databases);
  }
}

/** Options of `PostgresTemporalServer`. */
export interface PostgresTemporalServerOptions extends Omit<TemporalServerOptions, 'serverBinary' | 'store' | 'frontDoor' | 'kind'> {
  binaries: Pick<TemporalServerBinaries, 'server' | 'sqlTool' | 'schemaDir'>;
  pg: PgConnection;
  /** Databases are `<dbPrefix>_persistence` and `<dbPrefix>_visibility`. Default `cutover_<name>`. */
  dbPrefix?: string;
}

/** A self-hosted temporal-server on PostgreSQL that the local stack can start, kill and restart. */
export class PostgresTemporalServer extends TemporalServer {
  /** The two databases this server runs on. */
  readonly databases: DatabasePair;

  constructor(options: PostgresTemporalServerOptions) {
    const { binaries, pg, dbPrefix, ...rest } = options;
    if (!binaries?.server || !binaries.sqlTool || !binaries.schemaDir) {
      throw new TemporalServerOptionsError('binaries', 'give { server, sqlTool, schemaDir } from resolveTemporalServer()');
    }
    const databases = databasePair(
      dbPrefix ??
        `cutover_${String(options.name)
          .toLowerCase()
          .replace(/[^a-z0-9_]/g, '_')}`,
    );
    super({ ...rest, serverBinary: binaries.server, store: new PostgresStore(pg, binaries, databases), kind: 'postgres' });
    this.databases = databases;
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

  /** Drops both databases (for `dev down` without `--keep`); stops the server first if it still runs. */
  dropDatabases(): Promise<void> {
    return this.dropData();
  }

  /** Recorded in the dev state file so `dev down` (another process) can drop the databases. */
  get cleanupInfo(): { dbPrefix: string } {
    return { dbPrefix: this.state.dbPrefix };
  }
}

/** What the local stack knows about a cluster to run (structurally the stack's `StackClusterSpec`). */
export interface PostgresClusterSpec {
  name: string;
  port?: number;
  namespaces: string[];
  local?: { server: 'dev' | 'postgres' | 'cloud'; shards: number };
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
