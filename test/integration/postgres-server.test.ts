// A real self-hosted cluster: temporal-server on the machine's PostgreSQL with 4 history shards, on fresh
// databases of its own (a random prefix per run). The first run builds the binaries through the project's
// resolver (about 95 s cold on 2 cores), as CI does on its clean clone.
import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client, Connection, ServiceError } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Worker } from '@temporalio/worker';
import type { WorkflowBundle } from '@temporalio/worker';
import { temporal } from '@temporalio/proto';
import {
  PostgresServerOptionsError,
  PostgresServerStartError,
  PostgresTemporalServer,
  postgresClusterFactory,
  renderDynamicConfig,
  renderTemplate,
  SERVICE_PORT_RANGE,
} from '../../src/stack/postgres-server';
import type { PostgresTemporalServerOptions } from '../../src/stack/postgres-server';
import {
  PostgresConfigError,
  PostgresUnavailableError,
  databasePair,
  ensurePostgres,
  listDatabases,
  parsePgUrl,
  pgFromEnv,
} from '../../src/stack/postgres';
import { freePorts, isPortFree, PortInUseError } from '../../src/stack/ports';
import { isAlive } from '../../src/stack/processes';
import { TemporalServerBinaryError, resolveTemporalServer } from '../../src/stack/temporal-server-binary';
import type { TemporalServerBinaries } from '../../src/stack/temporal-server-binary';
import { until } from '../harness/wait';
import { trivial } from '../workflows/stack-workflows';
import { workflowBundle } from '../harness';

const NAMESPACE = 'pg-apps';
const SHARDS = 4;
const log = (line: string) => process.stderr.write(`    [postgres] ${line}\n`);

const uid = () => randomBytes(4).toString('hex');

describe('self-hosted cluster: temporal-server on PostgreSQL', function () {
  this.timeout(60_000);
  this.slow(15_000);

  let binaries: TemporalServerBinaries;
  let bundle: WorkflowBundle;
  const pg = pgFromEnv();
  const servers: { server: PostgresTemporalServer; runDir: string }[] = [];

  /** A server on fresh databases of its own; always stopped and dropped in after(). */
  async function newServer(extra: Partial<PostgresTemporalServerOptions> = {}): Promise<PostgresTemporalServer> {
    const runDir = await fs.mkdtemp(path.join(os.tmpdir(), 'cutover-pg-'));
    const [port] = await freePorts(1, SERVICE_PORT_RANGE);
    const server = new PostgresTemporalServer({
      name: 'legacy',
      port: port!,
      runDir,
      shards: SHARDS,
      namespaces: ['default', NAMESPACE],
      searchAttributes: [
        { name: 'TenantId', type: 'Keyword' },
        { name: 'CutoverPhase', type: 'Keyword' },
      ],
      binaries,
      pg,
      dbPrefix: `cutover_test_${uid()}`,
      onProgress: log,
      ...extra,
    });
    servers.push({ server, runDir });
    return server;
  }

  async function runWorkflow(server: PostgresTemporalServer, tenant: string): Promise<{ workflowId: string; result: string }> {
    const native = await NativeConnection.connect({ address: server.endpoint.address });
    const connection = await Connection.connect({ address: server.endpoint.address });
    const taskQueue = `pg-tq-${uid()}`;
    const workflowId = `pg-wf-${uid()}`;
    try {
      const worker = await Worker.create({ connection: native, namespace: NAMESPACE, taskQueue, workflowBundle: bundle });
      const client = new Client({ connection, namespace: NAMESPACE });
      const result = await worker.runUntil(
        client.workflow.execute(trivial, { taskQueue, workflowId, args: [tenant], searchAttributes: { TenantId: [tenant] } }),
      );
      return { workflowId, result };
    } finally {
      await connection.close();
      await native.close();
    }
  }

  async function history(server: PostgresTemporalServer, workflowId: string): Promise<string[]> {
    const connection = await Connection.connect({ address: server.endpoint.address });
    try {
      const client = new Client({ connection, namespace: NAMESPACE });
      const h = await client.workflow.getHandle(workflowId).fetchHistory();
      return (h.events ?? []).map((e) => `${String(e.eventId)}:${temporal.api.enums.v1.EventType[e.eventType ?? 0]}`);
    } finally {
      await connection.close();
    }
  }

  before(async function () {
    // The first run on a clean clone builds temporal-server (~95 s cold on 2 cores): allow for it.
    this.timeout(20 * 60_000);
    await ensurePostgres(pg);
    binaries = await resolveTemporalServer({ onProgress: log });
    bundle = await workflowBundle({
      workflowsPath: require.resolve('../workflows/stack-workflows'),
      logger: new DefaultLogger('WARN'),
    });
  });

  after(async function () {
    this.timeout(120_000);
    for (const { server, runDir } of servers) {
      try {
        await server.stop();
        await server.dropDatabases();
      } finally {
        await fs.rm(runDir, { recursive: true, force: true });
      }
    }
  });

  describe('one server through start, SIGKILL and restart', function () {
    let server: PostgresTemporalServer;

    before(async function () {
      server = await newServer();
      const startedAt = Date.now();
      await server.start();
      log(`start() on fresh databases: ${Date.now() - startedAt} ms ${JSON.stringify(server.lastStart)}`);
    });

    it('serves its namespaces and search attributes on 4 history shards, on its own database pair', async function () {
      const connection = await Connection.connect({ address: server.endpoint.address });
      try {
        const info = await connection.workflowService.getClusterInfo({});
        assert.equal(info.historyShardCount, SHARDS);
        assert.equal(info.clusterName, 'legacy');
        for (const namespace of ['default', NAMESPACE]) {
          const ns = await connection.workflowService.describeNamespace({ namespace });
          assert.equal(ns.namespaceInfo?.name, namespace);
          assert.equal(Number(ns.config?.workflowExecutionRetentionTtl?.seconds), 24 * 3600);
          const sa = await connection.operatorService.listSearchAttributes({ namespace });
          assert.equal(sa.customAttributes?.TenantId, temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD);
          assert.equal(sa.customAttributes?.CutoverPhase, temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD);
        }
      } finally {
        await connection.close();
      }
      assert.deepEqual(await listDatabases(pg, server.databases.persistence), [server.databases.persistence]);
      assert.deepEqual(await listDatabases(pg, server.databases.visibility), [server.databases.visibility]);
      const metrics = await fetch(server.endpoint.metricsUrl);
      assert.equal(metrics.status, 200);
    });

    it('keeps a completed run and its history across SIGKILL and a restart on the same databases', async function () {
      const { workflowId, result } = await runWorkflow(server, 'acme');
      assert.equal(result, 'hello acme');
      const before = await history(server, workflowId);
      assert.match(before.at(-1) ?? '', /WORKFLOW_EXECUTION_COMPLETED$/);

      const pid = server.pid;
      assert.ok(pid !== undefined);
      await server.kill();
      assert.equal(isAlive(pid), false, 'the server process is gone after kill()');
      assert.equal(server.pid, undefined);
      assert.equal(await isPortFree(Number(server.endpoint.address.split(':')[1])), true, 'nothing listens on the frontend port');

      await server.restart();
      assert.notEqual(server.pid, undefined);
      assert.notEqual(server.pid, pid);
      assert.deepEqual(await history(server, workflowId), before);
      // And it still does work after the restart.
      assert.equal((await runWorkflow(server, 'globex')).result, 'hello globex');
    });

    it('lets visibility converge on a completed run, searchable by its TenantId', async function () {
      const tenant = `t${uid()}`;
      const { workflowId } = await runWorkflow(server, tenant);
      const connection = await Connection.connect({ address: server.endpoint.address });
      try {
        const client = new Client({ connection, namespace: NAMESPACE });
        const status = await until(
          'the run listed as completed',
          async () => {
            for await (const wf of client.workflow.list({ query: `TenantId = '${tenant}'` })) {
              if (wf.workflowId === workflowId && wf.status.name === 'COMPLETED') return wf.status.name;
            }
            return undefined;
          },
          30_000,
        );
        assert.equal(status, 'COMPLETED');
        const count = await client.workflow.count(`TenantId = '${tenant}'`);
        assert.equal(count.count, 1);
      } finally {
        await connection.close();
      }
    });

    it('refuses a second server on the same frontend port, naming the port', async function () {
      const other = await newServer({ port: Number(server.endpoint.address.split(':')[1]) });
      await assert.rejects(other.start(), (err: unknown) => err instanceof PortInUseError && err.field === 'port');
      assert.equal(other.pid, undefined);
      assert.deepEqual(await listDatabases(pg, other.databases.persistence), [], 'no database is created for a server that cannot start');
    });
  });

  it('stop() and dropDatabases() from another process (adopting PID, ports, databases) leave nothing behind', async function () {
    const server = await newServer({ namespaces: ['default'] });
    await server.start();
    const state = server.state;
    assert.ok(state.pid !== undefined && state.ports !== undefined);
    // What `dev down` does: a new object built from the state file, not the one that started the server.
    const adopter = new PostgresTemporalServer({
      name: 'legacy',
      port: state.port,
      runDir: state.runDir,
      shards: SHARDS,
      namespaces: ['default'],
      searchAttributes: [],
      binaries,
      pg,
      dbPrefix: state.dbPrefix,
      pid: state.pid,
      ports: state.ports,
    });
    assert.equal(adopter.pid, state.pid);
    assert.equal(adopter.endpoint.metricsUrl, server.endpoint.metricsUrl);
    await adopter.stop();
    assert.equal(isAlive(state.pid), false);
    // The object that spawned it (same process here) learns of the exit once the child is reaped.
    await server.stop();
    assert.equal(server.pid, undefined);
    await adopter.dropDatabases();
    assert.deepEqual(await listDatabases(pg, `${state.dbPrefix}_`), []);
    // Idempotent, as `dev down` after a half-failed `dev up` needs.
    await adopter.stop();
    await adopter.dropDatabases();
  });

  it('never adopts a PID that is not its server (PIDs get reused)', function () {
    const impostor = new PostgresTemporalServer({
      name: 'legacy',
      port: 7233,
      runDir: path.join(os.tmpdir(), `cutover-pg-none-${uid()}`),
      shards: SHARDS,
      namespaces: ['default'],
      searchAttributes: [],
      binaries,
      pg,
      pid: process.pid,
    });
    assert.equal(impostor.pid, undefined);
  });

  it("the stack's factory runs a plan's postgres cluster with the stack's search attributes and its dynamic config", async function () {
    const stackDir = await fs.mkdtemp(path.join(os.tmpdir(), 'cutover-pg-stack-'));
    const server = await postgresClusterFactory(
      { name: 'legacy', namespaces: ['default', NAMESPACE], local: { server: 'postgres', shards: 2 } },
      { runDir: stackDir, detached: false, onProgress: log, dynamicConfig: { 'limit.maxIDLength': 40 } },
    );
    servers.push({ server, runDir: stackDir });
    assert.match(server.databases.persistence, /^cutover_legacy_[0-9a-f]{8}_persistence$/);
    await server.start();
    const connection = await Connection.connect({ address: server.endpoint.address });
    try {
      assert.equal((await connection.workflowService.getClusterInfo({})).historyShardCount, 2);
      const sa = await connection.operatorService.listSearchAttributes({ namespace: NAMESPACE });
      for (const name of ['CutoverKind', 'CutoverPhase', 'CutoverUnit', 'CutoverCampaign', 'CutoverRing', 'TenantId']) {
        assert.equal(sa.customAttributes?.[name], temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD, name);
      }
      const client = new Client({ connection, namespace: NAMESPACE });
      const taskQueue = `pg-tq-${uid()}`;
      // limit.maxIDLength from the dynamic config: a 60-character ID is refused, a short one is not.
      await assert.rejects(
        client.workflow.start(trivial, { taskQueue, workflowId: `pg-${'x'.repeat(57)}`, args: ['x'] }),
        (err: unknown) => {
          const code = (err as { cause?: { code?: number } }).cause?.code ?? (err as { code?: number }).code;
          return err instanceof ServiceError && code === 3; // INVALID_ARGUMENT
        },
      );
      const handle = await client.workflow.start(trivial, { taskQueue, workflowId: `pg-${uid()}`, args: ['x'] });
      await handle.terminate('test done');
    } finally {
      await connection.close();
    }
  });

  it('fails with PostgresServerStartError when the server exits at start-up, and leaves nothing running', async function () {
    // /bin/false stands in for a server that dies at once (a bad config, a database it cannot use).
    const broken = await newServer({ namespaces: ['default'], binaries: { ...binaries, server: '/bin/false' } });
    await assert.rejects(broken.start(), PostgresServerStartError);
    assert.equal(broken.pid, undefined);
  });
});

describe('self-hosted cluster: input and environment errors (no temporal-server)', function () {
  const binaries = { server: '/nonexistent/temporal-server', sqlTool: '/nonexistent/temporal-sql-tool', schemaDir: '/nonexistent' };
  const base: PostgresTemporalServerOptions = {
    name: 'legacy',
    port: 7233,
    runDir: os.tmpdir(),
    shards: 4,
    namespaces: ['default'],
    searchAttributes: [],
    binaries,
    pg: parsePgUrl('postgres://postgres@127.0.0.1:5432/postgres'),
  };
  const rejectsField = (options: Partial<PostgresTemporalServerOptions>, field: string) =>
    assert.throws(
      () => new PostgresTemporalServer({ ...base, ...options } as PostgresTemporalServerOptions),
      (err: unknown) => err instanceof PostgresServerOptionsError && err.field === field,
    );

  it('rejects bad options, naming the field', function () {
    rejectsField({ shards: 0 }, 'shards');
    rejectsField({ shards: 2.5 }, 'shards');
    rejectsField({ port: 70000 }, 'port');
    rejectsField({ name: 'has space' }, 'name');
    rejectsField({ namespaces: [] }, 'namespaces');
    rejectsField({ namespaces: ['default', ''] }, 'namespaces[1]');
    rejectsField({ searchAttributes: [{ name: 'TenantId', type: 'Keywrd' as 'Keyword' }] }, 'searchAttributes[0].type');
    rejectsField({ ports: { metrics: 9000 } }, 'ports');
    assert.throws(
      () => new PostgresTemporalServer({ ...base, dbPrefix: 'Bad-Prefix' }),
      (err: unknown) => err instanceof PostgresConfigError && err.field === 'dbPrefix',
    );
  });

  it('parses PG_URL and rejects a bad one naming PG_URL', function () {
    assert.deepEqual(parsePgUrl('postgresql://app:s%40cret@db.example:6543/admin'), {
      host: 'db.example',
      port: 6543,
      user: 'app',
      password: 's@cret',
      database: 'admin',
      displayUrl: 'postgres://app@db.example:6543/admin',
    });
    assert.equal(pgFromEnv({ PG_URL: '' }).port, 5432);
    assert.throws(
      () => pgFromEnv({ PG_URL: 'mysql://root@127.0.0.1/x' }),
      (err: unknown) => err instanceof PostgresConfigError && err.field === 'PG_URL',
    );
    assert.throws(() => parsePgUrl('not a url'), PostgresConfigError);
    assert.deepEqual(databasePair('cutover_legacy'), {
      persistence: 'cutover_legacy_persistence',
      visibility: 'cutover_legacy_visibility',
    });
  });

  it('reports an unreachable PostgreSQL as PostgresUnavailableError', async function () {
    const [port] = await freePorts(1, SERVICE_PORT_RANGE);
    await assert.rejects(ensurePostgres(parsePgUrl(`postgres://postgres@127.0.0.1:${port}/postgres`)), PostgresUnavailableError);
  });

  it('reports a PostgreSQL that refuses the user as PostgresUnavailableError', async function () {
    const { host, port } = pgFromEnv();
    await assert.rejects(ensurePostgres(parsePgUrl(`postgres://no_such_role_${uid()}@${host}:${port}/postgres`)), PostgresUnavailableError);
  });

  it('rejects an override path that is not a binary instead of falling back', async function () {
    await assert.rejects(
      resolveTemporalServer({ env: { TEMPORAL_SERVER_BIN: '/nonexistent/temporal-server' }, cacheDir: os.tmpdir() }),
      TemporalServerBinaryError,
    );
  });

  it('renders a template with JSON-quoted values and refuses missing or unused ones', function () {
    assert.equal(renderTemplate('a: {{A}}\nb: {{B}}\n', { A: 'x"y', B: 3 }), 'a: "x\\"y"\nb: 3\n');
    assert.throws(() => renderTemplate('a: {{A}}', {}), PostgresServerOptionsError);
    assert.throws(() => renderTemplate('a: 1', { A: 1 }), PostgresServerOptionsError);
  });

  it('lets extra dynamic config replace a template entry instead of duplicating its key', function () {
    const template = '# why\nfrontend.x:\n  - value: false\n# keep\nsystem.y:\n  - value: 1\n';
    const out = renderDynamicConfig(template, { 'frontend.x': true, 'limit.z': '30s' });
    assert.equal(out, '# why\n# keep\nsystem.y:\n  - value: 1\nfrontend.x:\n  - value: true\nlimit.z:\n  - value: "30s"\n');
    assert.throws(
      () => renderDynamicConfig(template, { 'bad key': 1 }),
      (err: unknown) => err instanceof PostgresServerOptionsError && err.field === 'dynamicConfig.bad key',
    );
  });
});
