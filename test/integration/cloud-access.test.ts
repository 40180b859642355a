/**
 * cutover's one connection path against the Cloud-shaped clusters of the test stack (temporal-server with
 * TLS and JWT API keys, or TLS with client certificates): each way access goes wrong is refused with its
 * own `failure`, a message naming the cluster and the fix, and never the key. Client and worker
 * connections, `RoutedClient.connect`, `DualWorkers.create`, the cutover worker and the CLI all surface them.
 */
import * as assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { stringify } from 'yaml';
import {
  ClusterConnectError,
  ClusterCredentialsError,
  connectCluster,
  connectNativeCluster,
  type ClusterAccess,
  type ConnectFailure,
} from '../../src/clusters/connect';
import { loadPlan } from '../../src/config';
import { DualWorkers, RoutedClient } from '../../src/routing';
import { createCutoverWorker } from '../../src/worker';
import { CLOUD_API_KEY_ENV, CLOUD_JWKS_REFRESH_MS, CLOUD_SUFFIX, testStack, uniqueId, type CloudShapedCluster } from '../harness';
import { until } from '../harness/wait';

const ROOT = path.join(__dirname, '..', '..');
const BIN = path.join(ROOT, 'bin', 'cutover.js');
const PAYMENTS = `payments${CLOUD_SUFFIX}`;

type Connector = 'client' | 'worker';
const CONNECT: Record<Connector, (name: string, c: ClusterAccess, o?: { namespaces?: string[] }) => Promise<{ close(): Promise<void> }>> = {
  client: connectCluster,
  worker: connectNativeCluster,
};

/** Every secret a test handed out: no error message may contain one. */
const secrets: string[] = [];

/** Connects and expects the refusal `failure`; returns the error for more checks. */
async function refused(
  via: Connector,
  cluster: ClusterAccess,
  failure: ConnectFailure,
  namespaces: string[] = [PAYMENTS],
): Promise<ClusterConnectError> {
  let caught: unknown;
  try {
    const conn = await CONNECT[via]('cloud', cluster, { namespaces });
    await conn.close();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof ClusterConnectError, `expected a ClusterConnectError (${failure}), got ${String(caught)}`);
  assert.equal(caught.failure, failure, caught.message);
  assert.equal(caught.cluster, 'cloud');
  assert.match(caught.message, / — fix: /);
  assert.doesNotMatch(caught.message, /^\d+ [A-Z_]+:|PERMISSION_DENIED|UNAUTHENTICATED/, 'never a bare gRPC status');
  for (const s of secrets) assert.ok(!caught.message.includes(s) && !String(caught.stack).includes(s), 'a secret leaked into the error');
  return caught;
}

/** A CA of our own and a client certificate it signed: what the cluster does not trust. */
function foreignPki(dir: string): { caPath: string; certPath: string; keyPath: string } {
  const run = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  run(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=foreign-ca']);
  run(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'client.key', '-out', 'client.csr', '-subj', '/CN=foreign-client']);
  fs.writeFileSync(path.join(dir, 'ext.cnf'), 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n');
  run([
    'x509',
    '-req',
    '-in',
    'client.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'client.pem',
    '-days',
    '2',
    '-extfile',
    'ext.cnf',
  ]);
  return { caPath: path.join(dir, 'ca.pem'), certPath: path.join(dir, 'client.pem'), keyPath: path.join(dir, 'client.key') };
}

/** A well-formed RS256 JWT signed by a key the cluster's JWKS has never seen. */
function unknownKey(): string {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const body = `${b64({ alg: 'RS256', typ: 'JWT', kid: randomBytes(8).toString('hex') })}.${b64({
    sub: 'stranger',
    permissions: [`${PAYMENTS}:write`],
    iat: Math.floor(Date.now() / 1000),
  })}`;
  return `${body}.${sign('RSA-SHA256', Buffer.from(body), privateKey).toString('base64url')}`;
}

/** An environment variable holding `value` for this test run. */
function keyEnv(value: string): string {
  const name = `CUTOVER_TEST_KEY_${randomBytes(4).toString('hex').toUpperCase()}`;
  process.env[name] = value;
  secrets.push(value);
  return name;
}

/**
 * Waits until the server has loaded every key minted so far: it learns new keys (their `kid`) only when
 * it re-reads the JWKS, so a key used at once is refused as unknown, whatever else is wrong with it. A
 * probe key minted now works once a refresh happened after every earlier mint.
 */
async function keysLoaded(c: CloudShapedCluster): Promise<void> {
  const probe = await c.mintApiKey({ namespaces: [PAYMENTS] });
  const env = keyEnv(probe.token);
  await until(
    'the server to load the newly minted keys',
    async () => {
      try {
        await (await connectCluster('cloud', c.clusterConfig({ apiKeyEnv: env }))).close();
        return true;
      } catch {
        return undefined;
      }
    },
    { timeoutMs: 20 * CLOUD_JWKS_REFRESH_MS + 30_000, everyMs: CLOUD_JWKS_REFRESH_MS / 2 },
  );
}

function cli(args: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd, env, timeout: 90_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

describe('Cloud-shaped access: errors that name the cluster, what failed and the fix', function () {
  this.timeout(300_000);
  let dir: string;
  let foreign: ReturnType<typeof foreignPki>;

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cutover-cloud-access-'));
    foreign = foreignPki(dir);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  describe('API keys', () => {
    let c: CloudShapedCluster;
    before(async () => {
      c = await testStack().cloudShaped('api-key');
      secrets.push(process.env[CLOUD_API_KEY_ENV]!);
    });

    it('the plan key connects, client and worker, and describes its namespace', async () => {
      for (const via of ['client', 'worker'] as const) {
        const conn = await CONNECT[via]('cloud', c.clusterConfig(), { namespaces: [PAYMENTS] });
        await conn.close();
      }
    });

    it('a CA that did not sign the server certificate: unknown-ca', async () => {
      for (const via of ['client', 'worker'] as const) {
        const e = await refused(via, c.clusterConfig({ tls: { serverRootCACertPath: foreign.caPath } }), 'unknown-ca');
        assert.match(e.message, /clusters\.cloud\.tls\.serverRootCACertPath/);
      }
    });

    it('plaintext to the TLS front door: tls-required; TLS to a plaintext server: server-not-tls', async () => {
      await refused('client', { address: c.endpoint }, 'tls-required', []);
      await refused('worker', { address: c.endpoint }, 'tls-required', []);
      await refused('worker', { address: testStack().target.address, tls: { serverRootCACertPath: c.caPath } }, 'server-not-tls', []);
    });

    it('the variable named by apiKeyEnv is not set: credentials-missing, before any connection', async () => {
      const cluster = c.clusterConfig({ apiKeyEnv: 'CUTOVER_TEST_KEY_NEVER_SET' });
      for (const via of ['client', 'worker'] as const) {
        await assert.rejects(
          CONNECT[via]('cloud', cluster),
          (e: unknown) => e instanceof ClusterCredentialsError && e.failure === 'credentials-missing' && e.field === 'apiKeyEnv',
        );
      }
    });

    it('an expired, an unknown and a revoked key: credentials-refused, naming the variable', async () => {
      const expired = await c.mintApiKey({ namespaces: [PAYMENTS], expiresInMs: -60_000 });
      const revoked = await c.mintApiKey({ namespaces: [PAYMENTS] });
      // Known to the server, so the refusals below are for expiry and revocation, not for a key it has not loaded yet.
      await keysLoaded(c);
      const e = await refused('client', c.clusterConfig({ apiKeyEnv: keyEnv(expired.token) }), 'credentials-refused');
      assert.match(e.message, /\$CUTOVER_TEST_KEY_/);
      await refused('worker', c.clusterConfig({ apiKeyEnv: keyEnv(expired.token) }), 'credentials-refused');
      await refused('client', c.clusterConfig({ apiKeyEnv: keyEnv(unknownKey()) }), 'credentials-refused');

      const env = keyEnv(revoked.token);
      const conn = await connectCluster('cloud', c.clusterConfig({ apiKeyEnv: env }), { namespaces: [PAYMENTS] });
      await conn.close();
      await c.revokeApiKey(revoked.kid);
      // The server re-reads the JWKS every CLOUD_JWKS_REFRESH_MS; until then the key still works.
      await until(
        'the revoked key to be refused',
        async () => {
          try {
            (await connectNativeCluster('cloud', c.clusterConfig({ apiKeyEnv: env }))).close().catch(() => undefined);
            return undefined;
          } catch (err) {
            return err instanceof ClusterConnectError && err.failure === 'credentials-refused' ? true : undefined;
          }
        },
        { timeoutMs: 20 * CLOUD_JWKS_REFRESH_MS + 30_000, everyMs: CLOUD_JWKS_REFRESH_MS },
      );
      await refused('client', c.clusterConfig({ apiKeyEnv: env }), 'credentials-refused');
    });

    it('a key for another namespace: permission-denied, naming the namespace', async () => {
      const other = await c.mintApiKey({ namespaces: [`detections${CLOUD_SUFFIX}`] });
      await keysLoaded(c);
      for (const via of ['client', 'worker'] as const) {
        const e = await refused(via, c.clusterConfig({ apiKeyEnv: keyEnv(other.token) }), 'permission-denied');
        assert.equal(e.namespace, PAYMENTS);
        assert.match(e.message, new RegExp(`lacks permission on namespace ${PAYMENTS.replace('.', '\\.')}`));
      }
    });

    it('no key at all: the namespace call is refused as credentials-missing', async () => {
      const { apiKeyEnv: _drop, ...noKey } = c.clusterConfig();
      await refused('client', noKey, 'credentials-missing');
    });

    describe('through the plan', () => {
      const planFor = (cloud: ClusterAccess, control: 'legacy' | 'cloud' = 'legacy') => ({
        name: uniqueId('cloud-access'),
        clusters: { legacy: { address: testStack().source.address }, cloud: { ...cloud, kind: 'cloud' } },
        source: 'legacy',
        target: 'cloud',
        control: { cluster: control },
        redis: { url: testStack().redisUrl, keyPrefix: `${uniqueId('cloud-access')}:` },
        namespaces: { payments: { strategy: 'dual-workers', taskQueues: ['payments'] } },
        rings: [{ name: 'r', units: ['namespace/payments'] }],
      });

      it('RoutedClient.connect, DualWorkers.create and the cutover worker refuse with the same errors', async () => {
        const other = await c.mintApiKey({ namespaces: [`detections${CLOUD_SUFFIX}`] });
        const expired = await c.mintApiKey({ namespaces: [`cutover${CLOUD_SUFFIX}`, PAYMENTS], expiresInMs: -60_000 });
        await keysLoaded(c);
        const plan = loadPlan(planFor(c.clusterConfig({ apiKeyEnv: keyEnv(other.token) })));
        await assert.rejects(
          RoutedClient.connect({ plan, namespace: 'payments' }),
          (e: unknown) => e instanceof ClusterConnectError && e.failure === 'permission-denied' && e.namespace === PAYMENTS,
        );
        await assert.rejects(
          DualWorkers.create({ plan, namespace: 'payments', taskQueue: uniqueId('cloud-access-q'), workflowBundle: { code: '' } }),
          (e: unknown) => e instanceof ClusterConnectError && e.failure === 'permission-denied' && e.namespace === PAYMENTS,
        );
        const workerPlan = loadPlan(planFor(c.clusterConfig({ apiKeyEnv: keyEnv(expired.token) }), 'cloud'));
        await assert.rejects(
          createCutoverWorker({ plan: workerPlan }),
          (e: unknown) => e instanceof ClusterConnectError && e.failure === 'credentials-refused' && e.cluster === 'cloud',
        );
      });

      it('the CLI: an unset key variable is bad input (exit 2), a key without permission a refusal (exit 1); no key printed', async () => {
        const file = path.join(dir, 'plan.yaml');
        const base = { ...process.env };
        delete base.CUTOVER_PLAN;
        fs.writeFileSync(file, stringify(planFor(c.clusterConfig({ apiKeyEnv: 'CUTOVER_TEST_KEY_UNSET_FOR_CLI' }), 'cloud')));
        const unset = await cli(['status', '--plan', file, '--json'], base, dir);
        assert.equal(unset.code, 2, unset.stderr);
        assert.match(unset.stderr, /clusters\.cloud\.apiKeyEnv: environment variable CUTOVER_TEST_KEY_UNSET_FOR_CLI is not set/);

        const other = await c.mintApiKey({ namespaces: [PAYMENTS] });
        secrets.push(other.token);
        await keysLoaded(c);
        fs.writeFileSync(file, stringify(planFor(c.clusterConfig({ apiKeyEnv: 'CUTOVER_TEST_KEY_FOR_CLI' }), 'cloud')));
        const denied = await cli(['status', '--plan', file, '--json'], { ...base, CUTOVER_TEST_KEY_FOR_CLI: other.token }, dir);
        assert.equal(denied.code, 1, denied.stderr);
        assert.match(denied.stderr, new RegExp(`lacks permission on namespace cutover${CLOUD_SUFFIX.replace('.', '\\.')}`));
        for (const s of secrets) assert.ok(!denied.stderr.includes(s) && !denied.stdout.includes(s));

        const validated = await cli(['validate', file], base, dir);
        assert.equal(validated.code, 0, validated.stderr);
        assert.match(validated.stdout, /cloud\s+cloud\s+127\.0\.0\.1:\d+\s+api key from \$CUTOVER_TEST_KEY_FOR_CLI/);
      });
    });
  });

  describe('client certificates (mTLS)', () => {
    let c: CloudShapedCluster;
    before(async () => {
      c = await testStack().cloudShaped('mtls');
    });

    it('the plan certificate connects, client and worker', async () => {
      for (const via of ['client', 'worker'] as const) {
        const conn = await CONNECT[via]('cloud', c.clusterConfig(), { namespaces: [PAYMENTS] });
        await conn.close();
      }
    });

    it('no client certificate: client-certificate-required', async () => {
      for (const via of ['client', 'worker'] as const) {
        const e = await refused(via, { address: c.endpoint, tls: { serverRootCACertPath: c.caPath } }, 'client-certificate-required');
        assert.match(e.message, /clusters\.cloud\.tls\.clientCertPath/);
      }
    });

    it('a certificate the cluster did not sign: client-certificate-refused', async () => {
      const tls = { serverRootCACertPath: c.caPath, clientCertPath: foreign.certPath, clientKeyPath: foreign.keyPath };
      for (const via of ['client', 'worker'] as const) await refused(via, { address: c.endpoint, tls }, 'client-certificate-refused');
    });

    it('a CA that did not sign the server certificate: unknown-ca; plaintext: tls-required', async () => {
      const tls = { serverRootCACertPath: foreign.caPath, clientCertPath: c.clientCertPath!, clientKeyPath: c.clientKeyPath! };
      for (const via of ['client', 'worker'] as const) await refused(via, { address: c.endpoint, tls }, 'unknown-ca');
      await refused('worker', { address: c.endpoint }, 'tls-required', []);
    });
  });
});
