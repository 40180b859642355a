/**
 * The Cloud-shaped local cluster (docs/design.md, "Cloud-shaped local cluster"): TLS only, client
 * certificates or API keys with per-namespace permissions, no operator API for the keys cutover gets,
 * loopback only, and a restart that comes back empty with the namespaces created again. Then the
 * operator's path: `dev up` a plan with a Cloud-shaped cluster, `eval "$(cutover dev env)"`, and the
 * temporal CLI with the minted key.
 */
import * as assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client, Connection, type ConnectionOptions } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';
import { NativeConnection, Worker } from '@temporalio/worker';
import { parseDocument } from 'yaml';
import { grpcCode, GrpcStatus } from '../../src/clusters/grpc';
import type { DevState } from '../../src/stack/dev';
import { createCa, issueCert } from '../../src/stack/pki';
import { freePort } from '../../src/stack/ports';
import { isAlive } from '../../src/stack/processes';
import { resolveTemporalCli } from '../../src/stack/temporal-cli';
import {
  CLOUD_API_KEY_ENV,
  CLOUD_JWKS_REFRESH_MS,
  CLOUD_SUFFIX,
  testStack,
  uniqueId,
  workflowBundle,
  type CloudShapedCluster,
} from '../harness';
import { until } from '../harness/wait';

const ROOT = path.resolve(__dirname, '..', '..');
const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const BIN = path.join(ROOT, 'bin', 'cutover.js');
const PAYMENTS = `payments${CLOUD_SUFFIX}`;
const DETECTIONS = `detections${CLOUD_SUFFIX}`;

async function connect(cluster: CloudShapedCluster, opts: Partial<ConnectionOptions> = {}): Promise<Connection> {
  return Connection.connect({
    address: cluster.endpoint,
    tls: { serverRootCACertificate: fs.readFileSync(cluster.caPath) },
    connectTimeout: '5s',
    ...opts,
  });
}

/** Runs `fn` on a fresh connection and closes it. */
async function withConnection<T>(connecting: Promise<Connection>, fn: (c: Connection) => Promise<T>): Promise<T> {
  const conn = await connecting;
  try {
    return await fn(conn);
  } finally {
    await conn.close();
  }
}

async function rejectsWith(code: number, op: Promise<unknown>): Promise<void> {
  await assert.rejects(op, (err: unknown) => {
    assert.equal(grpcCode(err), code, `expected gRPC status ${code}, got ${String(grpcCode(err))}: ${(err as Error).message}`);
    return true;
  });
}

async function startWorkflow(conn: Connection, namespace: string): Promise<string> {
  const client = new Client({ connection: conn, namespace });
  const workflowId = uniqueId('cloud-wf');
  await client.workflow.start('trivial', { taskQueue: uniqueId('cloud-tq'), workflowId, args: ['x'] });
  return workflowId;
}

/** Local addresses (hex, as /proc/net/tcp{,6} writes them) of every listening TCP socket of `pid`. */
function listeningAddresses(pid: number): string[] {
  const inodes = new Set<string>();
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      /* closed meanwhile */
    }
  }
  const out: string[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of fs.readFileSync(table, 'utf8').trim().split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      // cols: sl local rem st tx:rx tr:when retrnsmt uid timeout inode
      if (cols[3] === '0A' && inodes.has(cols[9]!)) out.push(cols[1]!);
    }
  }
  return out;
}

/** 127.0.0.1 (IPv4 or v4-mapped) or ::1, in /proc's hex. */
function isLoopback(hexAddress: string): boolean {
  const host = hexAddress.split(':')[0]!;
  return ['0100007F', '0000000000000000FFFF00000100007F', '00000000000000000000000001000000'].includes(host);
}

function assertLoopbackOnly(pids: number[]): void {
  assert.ok(pids.length > 0, 'no PID to check');
  for (const pid of pids) {
    const addresses = listeningAddresses(pid);
    assert.ok(addresses.length > 0, `pid ${pid} listens on nothing`);
    assert.deepEqual(
      addresses.filter((a) => !isLoopback(a)),
      [],
      `pid ${pid} listens beyond loopback`,
    );
  }
}

describe('Cloud-shaped cluster with API keys', function () {
  this.timeout(120_000);
  let cloud: CloudShapedCluster;
  let writeKey: string;
  before(async function () {
    this.timeout(300_000);
    cloud = await testStack().cloudShaped('api-key');
    writeKey = (await cloud.mintApiKey({ namespaces: [PAYMENTS] })).token;
  });

  it('requires TLS: a plaintext client is refused', async function () {
    await assert.rejects(Connection.connect({ address: cloud.endpoint, connectTimeout: '3s' }));
  });

  it('refuses a client that trusts another CA', async function () {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cutover-wrong-ca-'));
    try {
      const other = await createCa(dir, 'other-ca', 'some other CA');
      await assert.rejects(connect(cloud, { tls: { serverRootCACertificate: fs.readFileSync(other.certPath) }, connectTimeout: '3s' }));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a write key starts and lists workflows on its own namespace only', async function () {
    await withConnection(connect(cloud, { apiKey: writeKey }), async (conn) => {
      const workflowId = await startWorkflow(conn, PAYMENTS);
      const client = new Client({ connection: conn, namespace: PAYMENTS });
      await until(`workflow ${workflowId} listed`, async () => {
        for await (const wf of client.workflow.list({ query: `WorkflowId = "${workflowId}"` })) return wf.workflowId === workflowId;
        return false;
      });
      await rejectsWith(GrpcStatus.PERMISSION_DENIED, startWorkflow(conn, DETECTIONS));
      await rejectsWith(GrpcStatus.PERMISSION_DENIED, conn.workflowService.describeNamespace({ namespace: DETECTIONS }));
    });
  });

  it('the key from the harness environment works on every suffixed test namespace', async function () {
    const key = process.env[CLOUD_API_KEY_ENV];
    assert.ok(key, `${CLOUD_API_KEY_ENV} is not set`);
    assert.equal(cloud.clusterConfig().apiKeyEnv, CLOUD_API_KEY_ENV);
    await withConnection(connect(cloud, { apiKey: key }), async (conn) => {
      for (const ns of testStack().namespaces) {
        await conn.workflowService.describeNamespace({ namespace: `${ns}${CLOUD_SUFFIX}` });
      }
    });
  });

  it('a worker (NativeConnection) with the key runs a workflow to completion', async function () {
    const apiKey = process.env[CLOUD_API_KEY_ENV]!;
    const tls = { serverRootCACertificate: fs.readFileSync(cloud.caPath) };
    const native = await NativeConnection.connect({ address: cloud.endpoint, tls, apiKey });
    try {
      const taskQueue = uniqueId('cloud-worker');
      const worker = await Worker.create({
        connection: native,
        namespace: PAYMENTS,
        taskQueue,
        workflowBundle: await workflowBundle({ workflowsPath: require.resolve('../workflows/stack-workflows') }),
      });
      const result = await withConnection(connect(cloud, { apiKey }), (conn) =>
        worker.runUntil(
          new Client({ connection: conn, namespace: PAYMENTS }).workflow.execute('trivial', {
            taskQueue,
            workflowId: uniqueId('cloud-wf'),
            args: ['cloud'],
          }),
        ),
      );
      assert.equal(result, 'hello cloud');
    } finally {
      await native.close();
    }
  });

  it('refuses a call without a key', async function () {
    await withConnection(connect(cloud), (conn) =>
      rejectsWith(GrpcStatus.PERMISSION_DENIED, conn.workflowService.describeNamespace({ namespace: PAYMENTS })),
    );
  });

  it('refuses an expired key', async function () {
    const { token } = await cloud.mintApiKey({ namespaces: [PAYMENTS], expiresInMs: -60_000 });
    // Wait out a JWKS refresh, so the refusal is the expiry's and not an unknown key's.
    await delay(3 * CLOUD_JWKS_REFRESH_MS);
    // The claim mapper refuses the token on any call, the connection's first (getSystemInfo) included.
    await rejectsWith(
      GrpcStatus.PERMISSION_DENIED,
      withConnection(connect(cloud, { apiKey: token }), (conn) => conn.workflowService.describeNamespace({ namespace: PAYMENTS })),
    );
  });

  it('refuses a revoked key within a few seconds, and keeps honouring the others', async function () {
    const { token, kid } = await cloud.mintApiKey({ namespaces: [PAYMENTS] });
    const describeWith = (apiKey: string) =>
      withConnection(connect(cloud, { apiKey }), (conn) => conn.workflowService.describeNamespace({ namespace: PAYMENTS }));
    // A key minted just now is known after the server's next JWKS refresh.
    await until('the new key is accepted', () => describeWith(token).then(() => true), { timeoutMs: 10 * CLOUD_JWKS_REFRESH_MS });
    const revokedAt = Date.now();
    await cloud.revokeApiKey(kid);
    await until(
      'the revoked key is refused',
      () =>
        describeWith(token).then(
          () => false,
          (err: unknown) => grpcCode(err) === GrpcStatus.PERMISSION_DENIED,
        ),
      { timeoutMs: 10 * CLOUD_JWKS_REFRESH_MS, everyMs: 200 },
    );
    assert.ok(Date.now() - revokedAt < 10 * CLOUD_JWKS_REFRESH_MS);
    await describeWith(writeKey);
  });

  it('refuses namespace create and search-attribute add to the minted key, as Cloud does', async function () {
    await withConnection(connect(cloud, { apiKey: writeKey }), async (conn) => {
      await rejectsWith(
        GrpcStatus.PERMISSION_DENIED,
        conn.workflowService.registerNamespace({
          namespace: `sneaky${CLOUD_SUFFIX}`,
          workflowExecutionRetentionPeriod: msToTs('24h'),
        }),
      );
      await rejectsWith(
        GrpcStatus.PERMISSION_DENIED,
        conn.operatorService.addSearchAttributes({
          namespace: PAYMENTS,
          searchAttributes: { Sneaky: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD },
        }),
      );
      // Reading what exists is allowed (preflight checks it).
      const listed = await conn.operatorService.listSearchAttributes({ namespace: PAYMENTS });
      assert.ok(listed.customAttributes?.TenantId !== undefined);
    });
  });

  it('keeps its internal-frontend (which skips authorization) to holders of the internal certificate', async function () {
    const describeThere = (opts: Partial<ConnectionOptions>) =>
      withConnection(connect(cloud, { address: cloud.internalEndpoint, connectTimeout: '3s', ...opts }), (conn) =>
        conn.workflowService.describeNamespace({ namespace: PAYMENTS }),
      );
    // Its certificate is not the public CA's, and it wants a client certificate of the internal CA.
    await assert.rejects(describeThere({ apiKey: writeKey }));
    await assert.rejects(describeThere({ tls: undefined }));
    const dir = path.dirname(cloud.caPath);
    const internalCa = fs.readFileSync(path.join(dir, 'internal-ca.pem'));
    await assert.rejects(describeThere({ tls: { serverRootCACertificate: internalCa }, apiKey: writeKey }));
    // The server's own certificate gets in, with no key at all: the door is real, and the certificate is its only lock.
    const own = { crt: fs.readFileSync(path.join(dir, 'internal.pem')), key: fs.readFileSync(path.join(dir, 'internal.key')) };
    await describeThere({ tls: { serverRootCACertificate: internalCa, clientCertPair: own } });
  });

  it('listens on loopback only', function () {
    assertLoopbackOnly(cloud.pids());
  });

  it('comes back after a restart with its namespaces, search attributes and workflows', async function () {
    this.timeout(180_000);
    const before = await withConnection(connect(cloud, { apiKey: writeKey }), (conn) => startWorkflow(conn, PAYMENTS));
    await cloud.restart();
    await withConnection(connect(cloud, { apiKey: process.env[CLOUD_API_KEY_ENV] }), async (conn) => {
      for (const ns of testStack().namespaces) {
        await conn.workflowService.describeNamespace({ namespace: `${ns}${CLOUD_SUFFIX}` });
        const listed = await conn.operatorService.listSearchAttributes({ namespace: `${ns}${CLOUD_SUFFIX}` });
        assert.ok(listed.customAttributes?.CutoverPhase !== undefined, `search attributes of ${ns}${CLOUD_SUFFIX}`);
      }
      // Its store is a file: the workflow started before the restart is still there.
      const client = new Client({ connection: conn, namespace: PAYMENTS });
      assert.equal((await client.workflow.getHandle(before).describe()).workflowId, before);
      await startWorkflow(conn, PAYMENTS);
    });
  });
});

describe('Cloud-shaped cluster with mTLS', function () {
  this.timeout(120_000);
  let cloud: CloudShapedCluster;
  let dir: string;
  before(async function () {
    this.timeout(300_000);
    cloud = await testStack().cloudShaped('mtls');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cutover-mtls-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const pair = (certPath: string, keyPath: string) => ({ crt: fs.readFileSync(certPath), key: fs.readFileSync(keyPath) });

  it('accepts a client certificate signed by its CA', async function () {
    assert.ok(cloud.clientCertPath && cloud.clientKeyPath);
    const config = cloud.clusterConfig();
    assert.equal(config.apiKeyEnv, undefined);
    assert.equal(config.tls?.clientCertPath, cloud.clientCertPath);
    await withConnection(
      connect(cloud, {
        tls: { serverRootCACertificate: fs.readFileSync(cloud.caPath), clientCertPair: pair(cloud.clientCertPath, cloud.clientKeyPath) },
      }),
      async (conn) => {
        await conn.workflowService.describeNamespace({ namespace: PAYMENTS });
        await startWorkflow(conn, PAYMENTS);
      },
    );
  });

  it('refuses a client without a certificate', async function () {
    await assert.rejects(
      withConnection(connect(cloud, { connectTimeout: '3s' }), (conn) => conn.workflowService.describeNamespace({ namespace: PAYMENTS })),
    );
  });

  it('refuses a client certificate signed by another CA', async function () {
    const otherCa = await createCa(dir, 'other-ca', 'some other CA');
    const stranger = await issueCert(otherCa, dir, 'stranger', 'stranger', 'client');
    await assert.rejects(
      withConnection(
        connect(cloud, {
          tls: { serverRootCACertificate: fs.readFileSync(cloud.caPath), clientCertPair: pair(stranger.certPath, stranger.keyPath) },
          connectTimeout: '3s',
        }),
        (conn) => conn.workflowService.describeNamespace({ namespace: PAYMENTS }),
      ),
    );
  });

  it('listens on loopback only', function () {
    assertLoopbackOnly(cloud.pids());
  });
});

describe('cutover dev up / dev env with a Cloud-shaped cluster (the operator path)', function () {
  // Each `cutover` call is a fresh node process; on a busy 2-core machine a dev up takes a minute or more.
  this.timeout(600_000);
  let cwd: string;
  let planPath: string;
  let temporalCli: string;

  const cutover = (args: string[]): SpawnSyncReturns<string> =>
    spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: 'utf8', timeout: 240_000 });
  const bash = (script: string, env: NodeJS.ProcessEnv = {}): SpawnSyncReturns<string> =>
    spawnSync('bash', ['-c', script], {
      cwd,
      encoding: 'utf8',
      timeout: 120_000,
      env: { ...process.env, CUTOVER_CLOUD_API_KEY: '', ...env },
    });

  before(async function () {
    temporalCli = await resolveTemporalCli();
  });
  beforeEach(async function () {
    cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'cutover-cloud-cli-'));
    // The example plan on free ports (other suites and helpers run stacks at the same time).
    const doc = parseDocument(fs.readFileSync(path.join(ROOT, 'examples', 'cloud-plan.yaml'), 'utf8'));
    doc.setIn(['clusters', 'legacy', 'address'], `127.0.0.1:${await freePort()}`);
    doc.setIn(['clusters', 'legacy', 'local'], doc.createNode({ server: 'dev' }));
    doc.setIn(['clusters', 'cloud', 'address'], `127.0.0.1:${await freePort()}`);
    doc.setIn(['redis', 'url'], `redis://127.0.0.1:${await freePort()}`);
    doc.setIn(['codec', 'server', 'listen'], `127.0.0.1:${await freePort()}`);
    planPath = path.join(cwd, 'plan.yaml');
    fs.writeFileSync(planPath, doc.toString());
  });
  afterEach(() => {
    cutover(['dev', 'down']);
    fs.rmSync(cwd, { recursive: true, force: true });
  });

  it('dev env refuses when no stack is up (exit 2)', function () {
    const r = cutover(['dev', 'env', '--plan', planPath]);
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /--plan/);
  });

  it('dev up refuses a CA file at the plan path that is not its own (exit 2, nothing started)', function () {
    const named = path.join(cwd, '.cutover-certs', 'cloud-ca.pem');
    fs.mkdirSync(path.dirname(named), { recursive: true });
    fs.writeFileSync(named, "not this stack's CA\n");
    const r = cutover(['dev', 'up', '--plan', planPath, '--no-ui']);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /clusters\.cloud\.tls\.serverRootCACertPath/);
    assert.equal(fs.existsSync(path.join(cwd, '.cutover', 'stack', 'state.json')), false);
    assert.equal(fs.readFileSync(named, 'utf8'), "not this stack's CA\n");
    assert.equal(fs.existsSync(path.join(cwd, '.cutover-keys')), false, 'no codec key written before the refusal');
  });

  it('dev up → eval "$(dev env)" → temporal CLI with the CA and API key; codec key and token; dev down stops all', async function () {
    const up = cutover(['dev', 'up', '--plan', planPath, '--no-ui']);
    assert.equal(up.status, 0, up.stderr);
    const state = JSON.parse(fs.readFileSync(path.join(cwd, '.cutover', 'stack', 'state.json'), 'utf8')) as DevState;
    const cloudState = state.clusters.find((c) => c.name === 'cloud');
    assert.ok(cloudState?.cloud?.jwksPid, 'the JWKS server runs as its own process');
    const caPath = path.join(cwd, '.cutover-certs', 'cloud-ca.pem');
    assert.ok(fs.existsSync(caPath), 'dev up wrote the CA file the plan names');
    assertLoopbackOnly([cloudState.pid, cloudState.cloud.jwksPid]);

    // The codec key the plan names (beside it, 0600 in a 0700 directory) and the codec server's token.
    const keyFile = path.join(cwd, '.cutover-keys', 'k1.key');
    assert.equal(fs.statSync(keyFile).mode & 0o777, 0o600);
    assert.equal(fs.statSync(path.dirname(keyFile)).mode & 0o777, 0o700);
    const keyText = fs.readFileSync(keyFile, 'utf8');
    assert.equal(Buffer.from(keyText.trim(), 'base64').length, 32);
    assert.equal(fs.statSync(path.join(cwd, '.cutover', 'codec', 'token')).mode & 0o777, 0o600);
    assert.ok(state.codecServer && isAlive(state.codecServer.pid), 'the codec server runs');
    assert.ok(!up.stdout.includes(keyText.trim()) && !up.stderr.includes(keyText.trim()), 'the key is never printed');

    const env = cutover(['dev', 'env', '--plan', planPath]);
    assert.equal(env.status, 0, env.stderr);
    assert.match(env.stdout, /^export CUTOVER_CLOUD_API_KEY='[A-Za-z0-9_.-]+'\nexport CUTOVER_CODEC_TOKEN='[A-Za-z0-9_-]{43}'\n$/);
    const token = /^export CUTOVER_CODEC_TOKEN='(.*)'$/m.exec(env.stdout)![1]!;
    assert.ok(!up.stdout.includes(token) && !up.stderr.includes(token), 'dev up never prints the token');
    // The exported token is the one the codec server takes.
    const decode = (bearer: string) =>
      fetch(`${state.codecServer!.url}/decode`, {
        method: 'POST',
        headers: { authorization: `Bearer ${bearer}`, 'x-namespace': PAYMENTS, 'content-type': 'application/json' },
        body: JSON.stringify({ payloads: [] }),
      }).then((r) => r.status);
    assert.equal(await decode(token), 200);
    assert.equal(await decode(`${token}x`), 401);

    const q = (s: string) => `'${s}'`;
    const evalEnv = `eval "$(${q(process.execPath)} ${q(BIN)} dev env --plan ${q(planPath)})"`;
    const tls = `--address ${cloudState.address} --tls-ca-path ${q(caPath)}`;
    const withKey = `${tls} --api-key "$CUTOVER_CLOUD_API_KEY"`;
    const describe = bash(
      `${evalEnv} && ${q(temporalCli)} operator namespace describe --namespace ${PAYMENTS} ${tls} --api-key "$CUTOVER_CLOUD_API_KEY"`,
    );
    assert.equal(describe.status, 0, describe.stderr);
    assert.match(describe.stdout, new RegExp(PAYMENTS.replace('.', '\\.')));
    // The control namespace is suffixed too, and cutover's key may use it. (The same key as exported above,
    // passed on directly: each `dev env` is a node process that costs seconds on a busy machine.)
    const exported = { CUTOVER_CLOUD_API_KEY: /^export CUTOVER_CLOUD_API_KEY='(.*)'$/m.exec(env.stdout)![1]! };
    const control = bash(`${q(temporalCli)} operator namespace describe --namespace cutover${CLOUD_SUFFIX} ${withKey}`, exported);
    assert.equal(control.status, 0, control.stderr);

    const noKey = bash(`${q(temporalCli)} operator namespace describe --namespace ${PAYMENTS} ${tls}`);
    assert.notEqual(noKey.status, 0);
    assert.match(noKey.stderr, /unauthorized/i);
    const create = bash(`${q(temporalCli)} operator namespace create --namespace other${CLOUD_SUFFIX} ${withKey}`, exported);
    assert.notEqual(create.status, 0);
    assert.match(create.stderr, /unauthorized/i);

    const pids = [
      ...state.clusters.flatMap((c) => [c.pid, c.cloud?.jwksPid]),
      state.redis.pid,
      state.prometheus?.pid,
      state.codecServer?.pid,
    ].filter((p): p is number => p !== undefined);
    const down = cutover(['dev', 'down']);
    assert.equal(down.status, 0, down.stderr);
    assert.deepEqual(
      pids.filter((p) => isAlive(p)),
      [],
    );
    // The credentials stay: the next dev up accepts the plan's CA file and hands out the same key and token,
    // and keeps the codec key file as it was.
    assert.ok(fs.existsSync(path.join(cwd, '.cutover', 'cloud', 'cloud', 'ca.pem')));
    const again = cutover(['dev', 'up', '--plan', planPath, '--no-ui']);
    assert.equal(again.status, 0, again.stderr);
    assert.equal(cutover(['dev', 'env', '--plan', planPath]).stdout, env.stdout);
    assert.equal(fs.readFileSync(keyFile, 'utf8'), keyText);
  });

  it('dev up with auth: mtls writes the CA, the client certificate and its key (0600); the temporal CLI connects with them', function () {
    const doc = parseDocument(fs.readFileSync(planPath, 'utf8'));
    doc.setIn(['clusters', 'cloud', 'local', 'auth'], 'mtls');
    doc.deleteIn(['clusters', 'cloud', 'apiKeyEnv']);
    doc.setIn(
      ['clusters', 'cloud', 'tls'],
      doc.createNode({ serverRootCACertPath: 'certs/ca.pem', clientCertPath: 'certs/client.pem', clientKeyPath: 'certs/client.key' }),
    );
    fs.writeFileSync(planPath, doc.toString());
    const up = cutover(['dev', 'up', '--plan', planPath, '--no-ui']);
    assert.equal(up.status, 0, up.stderr);
    const certs = path.join(cwd, 'certs');
    assert.equal(fs.statSync(path.join(certs, 'client.key')).mode & 0o777, 0o600);
    const state = JSON.parse(fs.readFileSync(path.join(cwd, '.cutover', 'stack', 'state.json'), 'utf8')) as DevState;
    const address = state.clusters.find((c) => c.name === 'cloud')!.address;
    const q = (s: string) => `'${s}'`;
    const base = `${q(temporalCli)} operator namespace describe --namespace ${PAYMENTS} --address ${address} --tls-ca-path ${q(
      path.join(certs, 'ca.pem'),
    )}`;
    const withCert = bash(
      `${base} --tls-cert-path ${q(path.join(certs, 'client.pem'))} --tls-key-path ${q(path.join(certs, 'client.key'))}`,
    );
    assert.equal(withCert.status, 0, withCert.stderr);
    const noCert = bash(base);
    assert.notEqual(noCert.status, 0);
    // No cluster with API keys: only the codec server's token to export.
    const env = cutover(['dev', 'env', '--plan', planPath]);
    assert.equal(env.status, 0, env.stderr);
    assert.match(env.stdout, /^export CUTOVER_CODEC_TOKEN='[A-Za-z0-9_-]+'\n$/);
  });
});
