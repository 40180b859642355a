/**
 * The plan's Cloud fields: cluster kind and its defaults, contradictions, credentials by reference
 * (API key file, Redis password variable and CA, Prometheus bearer token), secrets refused in URLs
 * without being echoed, and relative paths resolved against the plan file's directory.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { parse as parseYaml, stringify } from 'yaml';
import {
  defaultClusterKind,
  isCloudAddress,
  loadPlan,
  resolvePlanPaths,
  validatePlan,
  validatePlanText,
  type Plan,
} from '../../src/config';

const EXAMPLE = path.resolve(__dirname, '../../examples/plan.yaml');
type Raw = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const example = (): Raw => parseYaml(readFileSync(EXAMPLE, 'utf8')) as Raw;

function mustPass(input: unknown): Plan {
  const result = validatePlan(input);
  assert.deepEqual(result.ok ? [] : result.issues, []);
  return (result as { plan: Plan }).plan;
}

function issues(input: unknown) {
  const result = validatePlan(input);
  assert.equal(result.ok, false, 'expected the plan to be rejected');
  return result.ok ? [] : result.issues;
}

describe('config: cluster kind', () => {
  it('defaults from the address: Temporal Cloud hosts are cloud, everything else self-hosted', () => {
    const raw = example();
    raw.clusters.cloud = { address: 'payments.a1b2c.tmprl.cloud:7233', apiKeyEnv: 'CLOUD_API_KEY', namespaceSuffix: '.a1b2c' };
    raw.clusters.backup = { address: 'us-east-1.aws.api.temporal.io:7233', apiKeyEnv: 'BACKUP_KEY' };
    const plan = mustPass(raw);
    assert.equal(plan.clusters.cloud!.kind, 'cloud');
    assert.equal(plan.clusters.backup!.kind, 'cloud');
    assert.equal(plan.clusters.legacy!.kind, 'self-hosted');
    assert.ok(isCloudAddress('PAYMENTS.A1B2C.TMPRL.CLOUD:7233'));
    assert.ok(!isCloudAddress('tmprl.cloud.example.com:7233'));
    assert.ok(!isCloudAddress('127.0.0.1:7233'));
  });

  it('a Cloud-shaped local server is cloud; an explicit kind wins where it does not contradict', () => {
    assert.equal(defaultClusterKind('127.0.0.1:7234', 'cloud'), 'cloud');
    assert.equal(defaultClusterKind('127.0.0.1:7234', 'dev'), 'self-hosted');
    assert.equal(defaultClusterKind('127.0.0.1:7234', undefined), 'self-hosted');
    const raw = example();
    raw.clusters.cloud.kind = 'cloud';
    assert.equal(mustPass(raw).clusters.cloud!.kind, 'cloud');
  });

  it('refuses a kind that contradicts the address or the local server, naming the field and the fix', () => {
    const raw = example();
    raw.clusters.cloud = { address: 'payments.a1b2c.tmprl.cloud:7233', kind: 'self-hosted' };
    raw.clusters.legacy.kind = 'cloud'; // legacy runs local.server postgres
    const found = issues(raw);
    const cloud = found.find((i) => i.path === 'clusters.cloud.kind');
    const legacy = found.find((i) => i.path === 'clusters.legacy.kind');
    assert.ok(cloud && /Temporal Cloud address/.test(cloud.message) && /kind: cloud/.test(cloud.hint), JSON.stringify(found));
    assert.ok(legacy && /local.server postgres/.test(legacy.message) && /local.server: cloud/.test(legacy.hint), JSON.stringify(found));
  });

  it('an unknown kind names the values allowed', () => {
    const raw = example();
    raw.clusters.cloud.kind = 'saas';
    const [issue] = issues(raw);
    assert.equal(issue!.path, 'clusters.cloud.kind');
    assert.match(issue!.hint, /self-hosted, cloud/);
  });

  it('examples/cloud.yaml, a plan aimed at real Temporal Cloud, validates with a cloud target and no secret in it', () => {
    const plan = loadPlan(path.resolve(__dirname, '../../examples/cloud.yaml'));
    assert.equal(plan.clusters[plan.target]!.kind, 'cloud');
    assert.match(plan.clusters[plan.target]!.address, /\.tmprl\.cloud:7233$/);
    assert.ok(plan.clusters[plan.target]!.apiKeyEnv);
    assert.equal(plan.clusters[plan.source]!.kind, 'self-hosted');
  });

  it('a validated plan carries the kind and validates again unchanged', () => {
    const raw = example();
    raw.clusters.cloud = { address: 'payments.a1b2c.tmprl.cloud:7233', apiKeyFile: '/etc/cutover/cloud.key' };
    const plan = mustPass(raw);
    assert.deepEqual(mustPass(JSON.parse(JSON.stringify(plan))), plan);
  });
});

describe('config: credentials by reference', () => {
  it('apiKeyFile is accepted, and exclusive with apiKeyEnv', () => {
    const raw = example();
    raw.clusters.cloud.apiKeyFile = 'secrets/cloud.key';
    assert.equal(mustPass(raw).clusters.cloud!.apiKeyFile, 'secrets/cloud.key');
    raw.clusters.cloud.apiKeyEnv = 'CLOUD_API_KEY';
    const [issue] = issues(raw);
    assert.equal(issue!.path, 'clusters.cloud.apiKeyFile');
    assert.match(issue!.hint, /keep one/);
  });

  it('an apiKeyEnv that looks like a key is refused without echoing it', () => {
    const raw = example();
    const key = 'eyJhbGciOiJSUzI1NiJ9.eyJwZXJtaXNzaW9ucyI6W119.c2lnbmF0dXJl';
    raw.clusters.cloud.apiKeyEnv = key;
    const [issue] = issues(raw);
    assert.equal(issue!.path, 'clusters.cloud.apiKeyEnv');
    assert.ok(!JSON.stringify(issue).includes(key), 'the key must not be echoed');
  });

  it('redis: passwordEnv and a CA for rediss://; a CA without TLS is an error', () => {
    const raw = example();
    raw.redis = { url: 'rediss://redis.internal:6380', passwordEnv: 'REDIS_PASSWORD', caPath: '/etc/redis/ca.pem' };
    const plan = mustPass(raw);
    assert.equal(plan.redis.passwordEnv, 'REDIS_PASSWORD');
    assert.equal(plan.redis.caPath, '/etc/redis/ca.pem');
    raw.redis.url = 'redis://redis.internal:6379';
    const [issue] = issues(raw);
    assert.equal(issue!.path, 'redis.caPath');
    assert.match(issue!.hint, /rediss:\/\//);
  });

  it('a password in the Redis or Prometheus URL is refused, and never echoed', () => {
    const raw = example();
    raw.redis = { url: 'redis://:hunter2-secret@127.0.0.1:6379' };
    raw.gates.errors.prometheus.url = 'https://ops:pr0m-s3cret@prom.internal';
    const found = issues(raw);
    assert.deepEqual(found.map((i) => i.path).sort(), ['gates.errors.prometheus.url', 'redis.url']);
    for (const issue of found) {
      const text = JSON.stringify(issue);
      assert.ok(!text.includes('hunter2-secret') && !text.includes('pr0m-s3cret'), text);
    }
    assert.match(found.find((i) => i.path === 'redis.url')!.hint, /redis\.passwordEnv/);
    assert.match(found.find((i) => i.path === 'gates.errors.prometheus.url')!.hint, /tokenEnv/);
  });

  it('a malformed URL with a secret in it is not echoed either', () => {
    const raw = example();
    raw.redis = { url: 'redis://:s3cret-value@' };
    const [issue] = issues(raw);
    assert.ok(!JSON.stringify(issue).includes('s3cret-value'));
  });

  it("a Prometheus gate's tokenEnv reaches the validated plan", () => {
    const raw = example();
    raw.gates.errors.prometheus.tokenEnv = 'PROMETHEUS_TOKEN';
    const gate = mustPass(raw).gates.errors!;
    assert.equal(gate.prometheus?.tokenEnv, 'PROMETHEUS_TOKEN');
  });
});

describe('config: relative paths resolve against the plan file', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'cutover-plan-paths-'));
    mkdirSync(path.join(dir, 'plans'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  function writePlan(): string {
    const raw = example();
    raw.clusters.cloud = {
      address: '127.0.0.1:7234',
      tls: { serverRootCACertPath: 'certs/ca.pem', clientCertPath: '../shared/client.pem', clientKeyPath: '/abs/client.key' },
      apiKeyFile: 'secrets/cloud.key',
    };
    raw.redis = { url: 'rediss://127.0.0.1:6380', caPath: 'certs/redis-ca.pem' };
    const file = path.join(dir, 'plans', 'cutover.yaml');
    writeFileSync(file, stringify(raw));
    return file;
  }

  it('loadPlan: tls.*Path, apiKeyFile and redis.caPath are made absolute; absolute paths are kept', () => {
    const file = writePlan();
    const plan = loadPlan(file);
    const base = path.join(dir, 'plans');
    assert.deepEqual(plan.clusters.cloud!.tls, {
      serverRootCACertPath: path.join(base, 'certs/ca.pem'),
      clientCertPath: path.join(dir, 'shared/client.pem'),
      clientKeyPath: '/abs/client.key',
    });
    assert.equal(plan.clusters.cloud!.apiKeyFile, path.join(base, 'secrets/cloud.key'));
    assert.equal(plan.redis.caPath, path.join(base, 'certs/redis-ca.pem'));
  });

  it('the same from any working directory, and a resolved plan validates and resolves to itself', () => {
    const file = writePlan();
    const cwd = process.cwd();
    let fromElsewhere: Plan;
    try {
      process.chdir(tmpdir());
      fromElsewhere = loadPlan(path.relative(tmpdir(), file));
    } finally {
      process.chdir(cwd);
    }
    const plan = loadPlan(file);
    assert.deepEqual(fromElsewhere, plan);
    assert.deepEqual(mustPass(JSON.parse(JSON.stringify(plan))), plan);
    assert.deepEqual(resolvePlanPaths(plan, '/somewhere/else.yaml'), plan);
  });

  it('validatePlanText resolves only when given the file name', () => {
    const text = readFileSync(writePlan(), 'utf8');
    const bare = validatePlanText(text);
    const named = validatePlanText(text, '/srv/plans/cutover.yaml');
    assert.ok(bare.ok && named.ok);
    assert.equal(bare.plan.clusters.cloud!.apiKeyFile, 'secrets/cloud.key');
    assert.equal(named.plan.clusters.cloud!.apiKeyFile, '/srv/plans/secrets/cloud.key');
  });
});
