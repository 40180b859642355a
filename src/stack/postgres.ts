// PostgreSQL helpers for self-hosted temporal-server clusters in the local stack: where the database
// server is, whether it answers, and the database pair (persistence + visibility) of one cluster.
//
// We talk to PostgreSQL through `psql` and `temporal-sql-tool` rather than a Node driver: the schema
// work has to go through temporal-sql-tool anyway (it owns the versioned migrations), and psql ships
// with every PostgreSQL install, so no extra npm dependency is needed for three small queries.
import { execFile } from 'node:child_process';
import type { ProgressFn } from './types';

/** Where PostgreSQL is when `PG_URL` is not set: the machine's local server, trust auth. */
export const DEFAULT_PG_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

/** The command that starts the machine's local PostgreSQL (Debian packaging, no systemd). */
export const START_LOCAL_POSTGRES = 'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start';

/** How temporal-server's SQL plugin names PostgreSQL ≥ 12. */
export const POSTGRES_PLUGIN = 'postgres12';

const PSQL_TIMEOUT_MS = 15_000;
const SQL_TOOL_TIMEOUT_MS = 60_000;

/** Connection to one PostgreSQL server; `database` is the admin database used to create and drop others. */
export interface PgConnection {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  /** The URL without its password, for messages. */
  displayUrl: string;
}

/** The two databases of one temporal-server cluster. */
export interface DatabasePair {
  persistence: string;
  visibility: string;
}

/** The temporal-sql-tool binary and the versioned schema directory (`…/schema/postgresql/v12`). */
export interface SqlToolPaths {
  sqlTool: string;
  schemaDir: string;
}

/** Bad PostgreSQL settings (PG_URL, database prefix): `field` names what to fix. */
export class PostgresConfigError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'PostgresConfigError';
  }
}

/** PostgreSQL cannot be reached (or psql is missing); the message names the fixes. */
export class PostgresUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PostgresUnavailableError';
  }
}

/** A database operation (create, migrate, drop, query) failed on a reachable server. */
export class PostgresOperationError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PostgresOperationError';
  }
}

/** Parses a `postgres://user[:password]@host[:port][/database]` URL; errors name `PG_URL`. */
export function parsePgUrl(url: string, field = 'PG_URL'): PgConnection {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new PostgresConfigError(field, `"${url}" is not a URL; use e.g. ${DEFAULT_PG_URL}`);
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new PostgresConfigError(field, `scheme must be postgres:// (got ${parsed.protocol}//); use e.g. ${DEFAULT_PG_URL}`);
  }
  if (!parsed.hostname) {
    throw new PostgresConfigError(field, `no host in "${url}"; use e.g. ${DEFAULT_PG_URL}`);
  }
  const port = parsed.port ? Number(parsed.port) : 5432;
  const user = decodeURIComponent(parsed.username) || 'postgres';
  const password = decodeURIComponent(parsed.password);
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, '')) || 'postgres';
  // Brackets around IPv6 hosts are URL syntax, not part of the address.
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  const displayUrl = `postgres://${encodeURIComponent(user)}@${parsed.host}/${encodeURIComponent(database)}`;
  return { host, port, user, password, database, displayUrl };
}

/** The PostgreSQL server to use: `PG_URL` when set (and not empty), else the local default. */
export function pgFromEnv(env: NodeJS.ProcessEnv = process.env): PgConnection {
  const url = env.PG_URL?.trim();
  return parsePgUrl(url ? url : DEFAULT_PG_URL);
}

/**
 * The database pair of a cluster, `<prefix>_persistence` and `<prefix>_visibility`. The prefix must be a
 * plain lower-case identifier: temporal-sql-tool quotes names on create but not on drop.
 */
export function databasePair(prefix: string): DatabasePair {
  if (!/^[a-z_][a-z0-9_]{0,46}$/.test(prefix)) {
    throw new PostgresConfigError(
      'dbPrefix',
      `"${prefix}" must be lower-case letters, digits and "_", start with a letter or "_", at most 47 characters (e.g. cutover_legacy)`,
    );
  }
  return { persistence: `${prefix}_persistence`, visibility: `${prefix}_visibility` };
}

interface RunResult {
  stdout: string;
  stderr: string;
}

function run(file: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { env: { ...process.env, ...env }, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) {
        reject(Object.assign(err, { stdout: String(stdout), stderr: String(stderr) }));
      } else {
        resolve({ stdout: String(stdout), stderr: String(stderr) });
      }
    });
  });
}

function firstLines(text: string, n = 3): string {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .slice(0, n)
    .join(' | ');
}

function isNotFound(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}

/** Runs one SQL statement on `database` (default: the admin database) and returns psql's unaligned rows. */
export async function psql(pg: PgConnection, sql: string, database = pg.database): Promise<string[]> {
  const args = [
    '-X',
    '-A',
    '-t',
    '-q',
    '-v',
    'ON_ERROR_STOP=1',
    '-h',
    pg.host,
    '-p',
    String(pg.port),
    '-U',
    pg.user,
    '-d',
    database,
    '-c',
    sql,
  ];
  try {
    const { stdout } = await run('psql', args, { PGPASSWORD: pg.password, PGCONNECT_TIMEOUT: '5' }, PSQL_TIMEOUT_MS);
    return stdout.split('\n').filter((l) => l.length > 0);
  } catch (err) {
    if (isNotFound(err)) {
      throw new PostgresUnavailableError(
        'psql was not found on PATH. Fix: install the PostgreSQL client (apt-get install postgresql-client) or put psql on PATH.',
        { cause: err },
      );
    }
    const stderr = (err as { stderr?: string }).stderr ?? '';
    if (/could not connect|Connection refused|timeout expired|could not translate host name|No such file or directory/i.test(stderr)) {
      throw new PostgresUnavailableError(unreachableMessage(pg, firstLines(stderr)), { cause: err });
    }
    if (
      /password authentication failed|no pg_hba\.conf entry|role ".*" does not exist|database ".*" does not exist/i.test(stderr) &&
      database === pg.database
    ) {
      throw new PostgresUnavailableError(
        `PostgreSQL at ${pg.displayUrl} refused the connection (${firstLines(stderr)}). ` +
          `Fix: set PG_URL with a user, password and database that may connect (e.g. ${DEFAULT_PG_URL}).`,
        { cause: err },
      );
    }
    throw new PostgresOperationError(`psql on ${pg.displayUrl} failed for "${sql}": ${firstLines(stderr) || String(err)}`, { cause: err });
  }
}

function unreachableMessage(pg: PgConnection, detail: string): string {
  return (
    `PostgreSQL is not reachable at ${pg.displayUrl}${detail ? ` (${detail})` : ''}. ` +
    `Fix: set PG_URL to a reachable server (e.g. ${DEFAULT_PG_URL}), ` +
    `or start the local one with: ${START_LOCAL_POSTGRES}`
  );
}

/** Checks that PostgreSQL answers; throws `PostgresUnavailableError` naming the fixes when it does not. */
export async function ensurePostgres(pg: PgConnection = pgFromEnv()): Promise<void> {
  const rows = await psql(pg, 'SELECT 1');
  if (rows[0] !== '1') {
    throw new PostgresUnavailableError(unreachableMessage(pg, `unexpected answer to SELECT 1: ${rows.join(',')}`));
  }
}

/** Names of the databases on the server that start with `prefix` (exact prefix, no LIKE wildcards). */
export async function listDatabases(pg: PgConnection, prefix: string): Promise<string[]> {
  const rows = await psql(pg, 'SELECT datname FROM pg_database ORDER BY datname');
  return rows.filter((name) => name.startsWith(prefix));
}

async function sqlTool(pg: PgConnection, tool: SqlToolPaths, database: string, command: string[]): Promise<void> {
  const args = ['--plugin', POSTGRES_PLUGIN, '--ep', pg.host, '-p', String(pg.port), '-u', pg.user, '--db', database, ...command];
  try {
    await run(tool.sqlTool, args, { SQL_PASSWORD: pg.password }, SQL_TOOL_TIMEOUT_MS);
  } catch (err) {
    if (isNotFound(err)) {
      throw new PostgresOperationError(
        `temporal-sql-tool not found at ${tool.sqlTool}. Fix: set TEMPORAL_SQL_TOOL or let resolveTemporalServer build it.`,
        {
          cause: err,
        },
      );
    }
    const out = `${(err as { stderr?: string }).stderr ?? ''}\n${(err as { stdout?: string }).stdout ?? ''}`;
    if (/connection refused|no such host|i\/o timeout/i.test(out)) {
      throw new PostgresUnavailableError(unreachableMessage(pg, firstLines(out, 2)), { cause: err });
    }
    throw new PostgresOperationError(
      `temporal-sql-tool ${command[0]} on database ${database} failed: ${firstLines(out, 4) || String(err)}`,
      {
        cause: err,
      },
    );
  }
}

async function migrateOne(pg: PgConnection, tool: SqlToolPaths, database: string, schema: 'temporal' | 'visibility'): Promise<void> {
  // Each step is idempotent: create ignores an existing database, setup-schema skips when the recorded
  // version is already past 0.0, and update-schema applies only the versions not yet recorded.
  await sqlTool(pg, tool, database, ['create-database', '--defaultdb', pg.database]);
  await sqlTool(pg, tool, database, ['setup-schema', '-v', '0.0']);
  await sqlTool(pg, tool, database, ['update-schema', '-d', `${tool.schemaDir}/${schema}/versioned`]);
}

/** Creates the pair if missing and migrates both schemas to the latest version; safe to re-run. */
export async function migrateDatabasePair(
  pg: PgConnection,
  tool: SqlToolPaths,
  pair: DatabasePair,
  onProgress?: ProgressFn,
): Promise<void> {
  const startedAt = Date.now();
  await Promise.all([migrateOne(pg, tool, pair.persistence, 'temporal'), migrateOne(pg, tool, pair.visibility, 'visibility')]);
  onProgress?.(`databases ${pair.persistence} and ${pair.visibility} ready (${Date.now() - startedAt} ms)`);
}

/** Drops both databases of the pair (closing any session still on them); missing ones are fine. */
export async function dropDatabasePair(pg: PgConnection, pair: DatabasePair): Promise<void> {
  for (const name of [pair.persistence, pair.visibility]) {
    // WITH (FORCE) (PostgreSQL ≥ 13) ends lingering sessions, e.g. of a server that was SIGKILLed
    // a moment ago and whose backends have not noticed yet.
    await psql(pg, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  }
}
