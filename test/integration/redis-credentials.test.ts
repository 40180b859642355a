/**
 * The plan's Redis password against a real redis-server started with `requirepass` on a free port: the
 * variable unset, no password given, a wrong one, the right one; through `connectRedis` itself, through
 * `RoutedClient.connect` and `DualWorkers.create`, and through the CLI (exit 2 for an unset variable).
 * No message carries the password.
 */
import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { loadPlan } from '../../src/config';
import { DualWorkers, RoutedClient } from '../../src/routing';
import { connectRedis, RedisAccessError, RedisCredentialsError } from '../../src/routing/connect-redis';
import { freePort } from '../../src/stack/ports';
import { spawnLogged, stopProcess, tail, type SpawnedProcess } from '../../src/stack/processes';
import { waitForRedis } from '../../src/stack/redis';
import { testStack, uniqueId } from '../harness';

const ROOT = path.join(__dirname, '..', '..');
const BIN = path.join(ROOT, 'bin', 'cutover.js');
const ENV = 'CUTOVER_TEST_REDIS_PASSWORD';

function cli(args: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd, env, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

describe('Redis credentials against a redis-server with requirepass', function () {
  this.timeout(120_000);
  const password = `pw-${randomBytes(12).toString('hex')}`;
  let dir: string;
  let proc: SpawnedProcess | undefined;
  let url: string;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cutover-redis-auth-'));
    const port = await freePort();
    url = `redis://127.0.0.1:${port}`;
    const logFile = path.join(dir, 'redis.log');
    proc = spawnLogged(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--requirepass', password],
      { logFile },
    );
    // A NOAUTH answer is an answer: the server is up.
    await waitForRedis(`redis://:${password}@127.0.0.1:${port}`, 20_000, () => {
      if (proc && proc.child.exitCode !== null) throw new Error(`redis-server exited:\n${tail(logFile)}`);
    });
  });

  after(async () => {
    await stopProcess(proc, 2000);
    delete process.env[ENV];
    fs.rmSync(dir, { recursive: true, force: true });
  });

  afterEach(() => delete process.env[ENV]);

  const noPassword = (e: unknown) => !String((e as Error).message).includes(password) && !String((e as Error).stack).includes(password);

  it('passwordEnv unset: a credentials error naming the variable, before any connection', async () => {
    await assert.rejects(
      connectRedis({ url, passwordEnv: ENV }),
      (e: unknown) => e instanceof RedisCredentialsError && e.field === 'passwordEnv' && e.message.includes(ENV),
    );
  });

  it('no password configured: the server requires one, and the fix names redis.passwordEnv', async () => {
    await assert.rejects(
      connectRedis({ url }, { retryStrategy: () => null }),
      (e: unknown) => e instanceof RedisAccessError && e.failure === 'auth-required' && e.message.includes('redis.passwordEnv'),
    );
  });

  it('a wrong password is refused, naming the variable, never the password', async () => {
    process.env[ENV] = 'not-the-password';
    await assert.rejects(
      connectRedis({ url, passwordEnv: ENV }, { retryStrategy: () => null }),
      (e: unknown) =>
        e instanceof RedisAccessError &&
        e.failure === 'auth-refused' &&
        e.message.includes(`$${ENV}`) &&
        !e.message.includes('not-the-password') &&
        noPassword(e),
    );
  });

  it('the right password connects, and the client works', async () => {
    process.env[ENV] = password;
    const redis = await connectRedis({ url, passwordEnv: ENV });
    try {
      const key = uniqueId('redis-auth');
      await redis.set(key, 'v', 'EX', 60);
      assert.equal(await redis.get(key), 'v');
      // Subscriptions (the routing records' change feed) use a duplicate, which keeps the credentials.
      const sub = redis.duplicate();
      try {
        assert.equal(await sub.ping(), 'PONG');
      } finally {
        sub.disconnect();
      }
    } finally {
      redis.disconnect();
    }
  });

  describe('through the plan', () => {
    const planFor = () => {
      const s = testStack();
      return {
        name: 'redis-auth',
        clusters: { legacy: { address: s.source.address }, cloud: { address: s.target.address } },
        source: 'legacy',
        target: 'cloud',
        redis: { url, keyPrefix: `${uniqueId('redis-auth')}:`, passwordEnv: ENV },
        namespaces: { payments: { strategy: 'drain-and-switch' } },
        rings: [{ name: 'r', units: ['namespace/payments'] }],
      };
    };

    it('RoutedClient.connect and DualWorkers.create surface a wrong password, and work with the right one', async () => {
      const plan = loadPlan(planFor());
      process.env[ENV] = 'wrong-password';
      await assert.rejects(
        RoutedClient.connect({ plan, namespace: 'payments' }),
        (e: unknown) => e instanceof RedisAccessError && e.failure === 'auth-refused' && noPassword(e),
      );
      await assert.rejects(
        DualWorkers.create({ plan, namespace: 'payments', taskQueue: uniqueId('redis-auth-q'), workflowBundle: { code: '' } }),
        (e: unknown) => e instanceof RedisAccessError && e.failure === 'auth-refused',
      );
      process.env[ENV] = password;
      const client = await RoutedClient.connect({ plan, namespace: 'payments' });
      await client.close();
    });

    it('the CLI: an unset variable is bad input (exit 2), a wrong password a refusal (exit 1), neither printed', async () => {
      const file = path.join(dir, 'plan.yaml');
      fs.writeFileSync(file, stringify(planFor()));
      const env = { ...process.env };
      delete env[ENV];
      delete env.CUTOVER_PLAN;
      const unset = await cli(['reconcile', 'namespace/payments', '--plan', file], env, dir);
      assert.equal(unset.code, 2, unset.stderr);
      assert.match(unset.stderr, new RegExp(`redis\\.passwordEnv: environment variable ${ENV} is not set`));
      const wrong = await cli(['reconcile', 'namespace/payments', '--plan', file], { ...env, [ENV]: 'wrong-password-x' }, dir);
      assert.equal(wrong.code, 1, wrong.stderr);
      assert.match(wrong.stderr, /refused the password/);
      assert.ok(!wrong.stderr.includes('wrong-password-x') && !wrong.stderr.includes(password));
    });
  });
});
