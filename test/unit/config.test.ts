import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { unitInputFromPlan } from '../../src/campaign/unit-input';
import {
  DEFAULT_BAKE_MS,
  DEFAULT_CONTROL_NAMESPACE,
  DEFAULT_CONTROL_TASK_QUEUE,
  DEFAULT_DRAIN_DEADLINE_MS,
  DEFAULT_GATE_CONSECUTIVE_ERROR_LIMIT,
  DEFAULT_GATE_COUNT,
  DEFAULT_GATE_FAILURE_LIMIT,
  DEFAULT_GATE_INTERVAL_MS,
  DEFAULT_FINALIZE_AFTER_MS,
  DEFAULT_HOLD_TIMEOUT_MS,
  DEFAULT_ON_GATE_FAILURE,
  DEFAULT_PERCENT_STEPS,
  DEFAULT_POSTGRES_SHARDS,
  DEFAULT_REDIS_KEY_PREFIX,
  DEFAULT_CLIENT_STALENESS_MS,
  DEFAULT_REDIS_URL,
  DEFAULT_SCHEDULE_BACKFILL,
  DEFAULT_STRAGGLERS,
  DEV_SERVER_SHARDS,
  formatIssues,
  gateKind,
  loadPlan,
  parsePlan,
  PlanError,
  planUnits,
  validatePlan,
  validatePlanFile,
  validatePlanText,
  type Plan,
  type PlanIssue,
} from '../../src/config';

const ROOT = path.resolve(__dirname, '../..');
const EXAMPLE = path.join(ROOT, 'examples/plan.yaml');
const FIXTURES = path.join(__dirname, 'fixtures/plans');

type Raw = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** The example plan as a plain value, fresh for every mutation. */
function example(): Raw {
  return parseYaml(readFileSync(EXAMPLE, 'utf8')) as Raw;
}

function issuesOf(input: unknown): PlanIssue[] {
  const result = validatePlan(input);
  assert.equal(result.ok, false, 'expected the plan to be rejected');
  return result.ok ? [] : result.issues;
}

function pathsOf(input: unknown): string[] {
  return issuesOf(input)
    .map((issue) => issue.path)
    .sort();
}

function mustPass(input: unknown): Plan {
  const result = validatePlan(input);
  assert.deepEqual(result.ok ? [] : result.issues, []);
  return (result as { plan: Plan }).plan;
}

describe('config: the example plan', () => {
  it('validates, with durations in milliseconds and defaults filled in', async () => {
    const result = await validatePlanFile(EXAMPLE);
    assert.deepEqual(result.issues, []);
    assert.equal(result.ok, true);
    const plan = result.plan!;
    assert.equal(plan.name, 'legacy-to-cloud');
    assert.deepEqual(plan.clusters.legacy, { address: '127.0.0.1:7233', kind: 'self-hosted', local: { server: 'postgres', shards: 4 } });
    assert.deepEqual(plan.control, { cluster: 'cloud', namespace: 'cutover', taskQueue: 'cutover' });
    assert.equal(plan.namespaces.detections.target, 'detections');
    assert.deepEqual(plan.namespaces.detections.tenants, {
      selector: { searchAttribute: 'TenantId' },
      ids: ['internal-e2e', 'acme', 'globex'],
    });
    assert.deepEqual(plan.gates.errors, {
      prometheus: { url: 'http://127.0.0.1:9090', query: 'sum(rate(service_errors[1m]))', max: 0.5 },
      interval: 15_000,
      count: 4,
      failureLimit: 1,
      consecutiveErrorLimit: DEFAULT_GATE_CONSECUTIVE_ERROR_LIMIT,
    });
    assert.deepEqual(plan.gates.probe.synthetic, { workflows: 20, minSuccess: 1, maxP99: 2000 });
    assert.equal(gateKind(plan.gates.clean), 'reconcile');
    assert.equal(gateKind(plan.gates.errors), 'prometheus');
    assert.deepEqual(plan.defaults, {
      bake: 30_000,
      percentSteps: [10, 50],
      onGateFailure: 'rollback',
      drainDeadline: 600_000,
      stragglers: DEFAULT_STRAGGLERS,
      holdTimeout: DEFAULT_HOLD_TIMEOUT_MS,
      finalizeAfter: DEFAULT_FINALIZE_AFTER_MS,
    });
    assert.deepEqual(
      plan.rings.map((ring) => [ring.name, ring.batchSize, ring.approval]),
      [
        ['ring0-synthetic', 1, undefined],
        ['ring1-internal', 1, undefined],
        ['ring2-customers', 1, 'two-person'],
      ],
    );
  });

  it('validates again unchanged once validated, also after a JSON round trip', () => {
    const plan = loadPlan(EXAMPLE);
    assert.deepEqual(mustPass(plan), plan);
    assert.deepEqual(loadPlan(JSON.parse(JSON.stringify(plan))), plan);
  });

  it('planUnits lists every unit in ring order', () => {
    assert.deepEqual(planUnits(loadPlan(EXAMPLE)), [
      { kind: 'namespace', namespace: 'payments' },
      { kind: 'tenant', namespace: 'detections', tenant: 'internal-e2e' },
      { kind: 'tenant', namespace: 'detections', tenant: 'acme' },
      { kind: 'tenant', namespace: 'detections', tenant: 'globex' },
    ]);
  });

  it('examples/plan.json is the same plan as examples/plan.yaml', () => {
    assert.deepEqual(loadPlan(path.join(ROOT, 'examples/plan.json')), loadPlan(EXAMPLE));
  });

  it('a JSON plan validates through the same parser', () => {
    const plan = loadPlan(path.join(FIXTURES, 'plan.json'));
    assert.deepEqual(plan.namespaces.payments, {
      target: 'payments',
      strategy: 'drain-and-switch',
      taskQueues: [],
      schedules: { backfill: DEFAULT_SCHEDULE_BACKFILL },
    });
  });
});

describe('config: defaults', () => {
  it('a minimal plan gets every default from defaults.ts', () => {
    const plan = loadPlan(path.join(FIXTURES, 'minimal.yaml'));
    assert.deepEqual(plan.redis, {
      url: DEFAULT_REDIS_URL,
      keyPrefix: DEFAULT_REDIS_KEY_PREFIX,
      clientStaleness: DEFAULT_CLIENT_STALENESS_MS,
    });
    assert.deepEqual(plan.control, { cluster: 'cloud', namespace: DEFAULT_CONTROL_NAMESPACE, taskQueue: DEFAULT_CONTROL_TASK_QUEUE });
    assert.deepEqual(plan.defaults, {
      bake: DEFAULT_BAKE_MS,
      percentSteps: [...DEFAULT_PERCENT_STEPS],
      onGateFailure: DEFAULT_ON_GATE_FAILURE,
      drainDeadline: DEFAULT_DRAIN_DEADLINE_MS,
      stragglers: DEFAULT_STRAGGLERS,
      holdTimeout: DEFAULT_HOLD_TIMEOUT_MS,
      finalizeAfter: DEFAULT_FINALIZE_AFTER_MS,
    });
    assert.deepEqual(plan.gates, {});
    assert.deepEqual(plan.rings, [{ name: 'ring0', units: ['namespace/payments'], gates: [], batchSize: 1 }]);
    assert.deepEqual(plan.clusters.legacy, { address: '127.0.0.1:7233', kind: 'self-hosted' });
    assert.deepEqual(plan.namespaces.payments.schedules, { backfill: DEFAULT_SCHEDULE_BACKFILL });
  });

  it('schedules: the backfill policy defaults per namespace and reaches the entity input', () => {
    const raw = example();
    raw.namespaces.detections.schedules = { backfill: 'none' };
    raw.namespaces.payments.schedules = {};
    const plan = mustPass(raw);
    assert.deepEqual(plan.namespaces.detections.schedules, { backfill: 'none' });
    assert.deepEqual(plan.namespaces.payments.schedules, { backfill: 'gap' });
    assert.deepEqual(unitInputFromPlan(plan, { kind: 'tenant', namespace: 'detections', tenant: 'acme' }).schedules, { backfill: 'none' });
    assert.deepEqual(unitInputFromPlan(plan, { kind: 'namespace', namespace: 'payments' }).schedules, { backfill: 'gap' });
  });

  it('batchSize defaults to the number of units; control fills field by field; local shards by server', () => {
    const raw = example();
    delete raw.rings[2].batchSize;
    raw.control = { namespace: 'ops' };
    raw.clusters.legacy.local = { server: 'postgres' };
    raw.clusters.cloud.local = {};
    raw.gates.probe = { synthetic: raw.gates.probe.synthetic };
    const plan = mustPass(raw);
    assert.equal(plan.rings[2].batchSize, 2);
    assert.deepEqual(plan.control, { cluster: 'cloud', namespace: 'ops', taskQueue: DEFAULT_CONTROL_TASK_QUEUE });
    assert.deepEqual(plan.clusters.legacy.local, { server: 'postgres', shards: DEFAULT_POSTGRES_SHARDS });
    assert.deepEqual(plan.clusters.cloud.local, { server: 'dev', shards: DEV_SERVER_SHARDS });
    const { interval, count, failureLimit, consecutiveErrorLimit } = plan.gates.probe;
    assert.deepEqual(
      [interval, count, failureLimit, consecutiveErrorLimit],
      [DEFAULT_GATE_INTERVAL_MS, DEFAULT_GATE_COUNT, DEFAULT_GATE_FAILURE_LIMIT, DEFAULT_GATE_CONSECUTIVE_ERROR_LIMIT],
    );
  });

  it('empty strings are unset: defaults apply, required fields are reported missing', () => {
    const raw = example();
    raw.redis = { url: '', keyPrefix: '  ' };
    raw.control.namespace = '';
    raw.namespaces.payments.target = '';
    const plan = mustPass(raw);
    assert.deepEqual(plan.redis, {
      url: DEFAULT_REDIS_URL,
      keyPrefix: DEFAULT_REDIS_KEY_PREFIX,
      clientStaleness: DEFAULT_CLIENT_STALENESS_MS,
    });
    assert.equal(plan.control.namespace, DEFAULT_CONTROL_NAMESPACE);
    assert.equal(plan.namespaces.payments.target, 'payments');

    const nulls = example();
    nulls.clusters.cloud.tls = null;
    nulls.clusters.cloud.apiKeyEnv = null;
    nulls.defaults = null;
    const withNulls = mustPass(nulls);
    assert.deepEqual(withNulls.clusters.cloud, { address: '127.0.0.1:7234', kind: 'self-hosted' });
    assert.equal(withNulls.defaults.bake, DEFAULT_BAKE_MS);

    const missing = example();
    missing.name = '';
    missing.clusters.cloud.address = '';
    assert.deepEqual(pathsOf(missing), ['clusters.cloud.address', 'name']);
  });

  it('accepts the other forms the plan file allows', () => {
    const raw = example();
    raw.clusters.legacy.address = 'localhost:7233';
    raw.clusters.cloud = {
      address: 'payments.a1b2c.tmprl.cloud:7233',
      namespaceSuffix: '.a1b2c',
      tls: { clientCertPath: '/tls/client.pem', clientKeyPath: '/tls/client.key', serverNameOverride: 'cloud' },
      apiKeyEnv: 'CLOUD_API_KEY',
    };
    raw.clusters.backup = { address: '[::1]:7235', tls: { serverRootCACertPath: '/tls/ca.pem' } };
    raw.control = { cluster: 'backup' };
    raw.redis.url = 'rediss://redis.internal:6380/2';
    raw.redis.passwordEnv = 'REDIS_PASSWORD';
    raw.namespaces.payments = { target: 'payments-v2', strategy: 'drain-and-switch', schedules: { backfill: 'none' } };
    raw.namespaces.detections.tenants.selector = { workflowIdPrefix: '{tenant}-' };
    raw.gates.errors.prometheus = { url: 'https://prom.internal/api', query: 'up', min: 1 };
    raw.gates.failures = { temporal: { maxFailureRatio: 0.01 }, count: 3, failureLimit: 2, consecutiveErrorLimit: 0 };
    raw.gates.clean = { reconcile: {} };
    raw.rings[2].gates.push('failures');
    raw.rings[2].bake = '1h';
    raw.defaults = { percentSteps: [], stragglers: 'terminate', onGateFailure: 'hold', holdTimeout: '500ms' };
    const plan = mustPass(raw);
    assert.deepEqual(plan.namespaces.payments, {
      target: 'payments-v2',
      strategy: 'drain-and-switch',
      taskQueues: [],
      schedules: { backfill: 'none' },
    });
    assert.deepEqual(plan.namespaces.detections.tenants?.selector, { workflowIdPrefix: '{tenant}-' });
    assert.deepEqual(plan.gates.clean.reconcile, { maxDuplicates: 0, maxStranded: 0 });
    assert.equal(gateKind(plan.gates.failures), 'temporal');
    assert.equal(plan.control.cluster, 'backup');
    assert.equal(plan.rings[2].bake, 3_600_000);
    assert.equal(plan.defaults.holdTimeout, 500);
  });

  it('redis through Sentinel: no URL, the sentinels, their password variable and TLS', () => {
    const raw = example();
    raw.redis = {
      sentinel: { masterName: 'cutover', addresses: ['10.0.0.1:26379', '[fd00::2]:26379', 'sentinel-3.internal:26379'] },
      passwordEnv: 'REDIS_PASSWORD',
      keyPrefix: 'cutover:',
    };
    assert.deepEqual(mustPass(raw).redis, {
      sentinel: { masterName: 'cutover', addresses: ['10.0.0.1:26379', '[fd00::2]:26379', 'sentinel-3.internal:26379'] },
      passwordEnv: 'REDIS_PASSWORD',
      keyPrefix: 'cutover:',
      clientStaleness: DEFAULT_CLIENT_STALENESS_MS,
    });
    raw.redis.sentinel.passwordEnv = 'REDIS_SENTINEL_PASSWORD';
    raw.redis.sentinel.tls = true;
    raw.redis.caPath = '/tls/redis-ca.pem';
    const tls = mustPass(raw).redis;
    assert.deepEqual(tls.sentinel, {
      masterName: 'cutover',
      addresses: ['10.0.0.1:26379', '[fd00::2]:26379', 'sentinel-3.internal:26379'],
      passwordEnv: 'REDIS_SENTINEL_PASSWORD',
      tls: true,
    });
    assert.equal(tls.caPath, '/tls/redis-ca.pem');
    assert.equal(tls.url, undefined);
  });

  it('redis url and sentinel together: one issue naming both and the fix', () => {
    const raw = example();
    raw.redis.sentinel = { masterName: 'cutover', addresses: ['10.0.0.1:26379'] };
    const [issue, ...more] = issuesOf(raw);
    assert.deepEqual(more, []);
    assert.equal(issue!.path, 'redis.sentinel');
    assert.match(issue!.message, /redis\.url and redis\.sentinel are both set/);
    assert.match(issue!.hint, /remove redis\.url .*or remove redis\.sentinel/);
  });

  it('durations: each accepted form, in milliseconds', () => {
    const forms: [unknown, number][] = [
      ['500ms', 500],
      ['30s', 30_000],
      ['10m', 600_000],
      ['1h', 3_600_000],
      ['2d', 172_800_000],
      [1500, 1500],
      ['1500', 1500],
      ['1.5s', 1500],
      ['0s', 0],
    ];
    for (const [bake, ms] of forms) {
      const raw = example();
      raw.defaults.bake = bake;
      assert.equal(mustPass(raw).defaults.bake, ms, `bake: ${String(bake)}`);
    }
  });
});

/** A mutation of the example plan and the exact paths it must be reported at. */
const INVALID: [string, (p: Raw) => void, string[]][] = [
  ['plan name missing', (p) => delete p.name, ['name']],
  ['plan name with a slash', (p) => (p.name = 'a/b'), ['name']],
  ['unknown top-level key', (p) => (p.rinngs = []), ['rinngs']],
  ['cluster address missing', (p) => delete p.clusters.cloud.address, ['clusters.cloud.address']],
  ['misspelt cluster key', (p) => (p.clusters.cloud = { adress: '127.0.0.1:7234' }), ['clusters.cloud.address', 'clusters.cloud.adress']],
  ['address with a scheme', (p) => (p.clusters.cloud.address = 'http://127.0.0.1:7234'), ['clusters.cloud.address']],
  ['address port out of range', (p) => (p.clusters.cloud.address = '127.0.0.1:70000'), ['clusters.cloud.address']],
  ['address without a port', (p) => (p.clusters.cloud.address = 'cloud.example.com'), ['clusters.cloud.address']],
  ['two clusters on one address', (p) => (p.clusters.cloud.address = '127.0.0.1:7233'), ['clusters.cloud.address']],
  ['cluster name with a space', (p) => (p.clusters['my cluster'] = { address: '127.0.0.1:7235' }), ['clusters["my cluster"]']],
  ['mTLS cert without key', (p) => (p.clusters.cloud.tls = { clientCertPath: '/tls/client.pem' }), ['clusters.cloud.tls.clientKeyPath']],
  ['unknown tls key', (p) => (p.clusters.cloud.tls = { certPath: '/tls/client.pem' }), ['clusters.cloud.tls.certPath']],
  ['apiKeyEnv holding a key instead of a name', (p) => (p.clusters.cloud.apiKeyEnv = 'sk-123/abc'), ['clusters.cloud.apiKeyEnv']],
  ['unknown local server', (p) => (p.clusters.legacy.local = { server: 'k8s' }), ['clusters.legacy.local.server']],
  ['dev server with 4 shards', (p) => (p.clusters.legacy.local = { server: 'dev', shards: 4 }), ['clusters.legacy.local.shards']],
  ['source names no cluster', (p) => (p.source = 'legacyy'), ['source']],
  ['target names no cluster', (p) => (p.target = 'clod'), ['target']],
  ['source equals target', (p) => (p.source = 'cloud'), ['target']],
  ['control cluster names no cluster', (p) => (p.control.cluster = 'ops'), ['control.cluster']],
  ['redis URL of another scheme', (p) => (p.redis.url = 'http://127.0.0.1:6379'), ['redis.url']],
  ['redis url and sentinel both', (p) => (p.redis.sentinel = { masterName: 'cutover', addresses: ['10.0.0.1:26379'] }), ['redis.sentinel']],
  [
    'sentinel without a master name',
    (p) => (p.redis = { sentinel: { masterName: ' ', addresses: ['10.0.0.1:26379'] } }),
    ['redis.sentinel.masterName'],
  ],
  [
    'sentinel master name of two words',
    (p) => (p.redis = { sentinel: { masterName: 'my master', addresses: ['10.0.0.1:26379'] } }),
    ['redis.sentinel.masterName'],
  ],
  ['sentinel without addresses', (p) => (p.redis = { sentinel: { masterName: 'cutover', addresses: [] } }), ['redis.sentinel.addresses']],
  [
    'sentinel address as a URL',
    (p) => (p.redis = { sentinel: { masterName: 'cutover', addresses: ['redis://10.0.0.1:26379'] } }),
    ['redis.sentinel.addresses[0]'],
  ],
  [
    'sentinel address listed twice',
    (p) => (p.redis = { sentinel: { masterName: 'cutover', addresses: ['10.0.0.1:26379', '10.0.0.1:26379'] } }),
    ['redis.sentinel.addresses[1]'],
  ],
  [
    'misspelt sentinel key',
    (p) => (p.redis = { sentinel: { master: 'cutover', addresses: ['10.0.0.1:26379'] } }),
    ['redis.sentinel.master', 'redis.sentinel.masterName'],
  ],
  [
    'sentinel passwordEnv holding a password',
    (p) => (p.redis = { sentinel: { masterName: 'cutover', addresses: ['10.0.0.1:26379'], passwordEnv: 'hunter2!' } }),
    ['redis.sentinel.passwordEnv'],
  ],
  [
    'caPath with sentinels not on TLS',
    (p) => (p.redis = { sentinel: { masterName: 'cutover', addresses: ['10.0.0.1:26379'] }, caPath: 'ca.pem' }),
    ['redis.caPath'],
  ],
  [
    'no namespaces',
    (p) => (p.namespaces = {}),
    ['namespaces', 'rings[0].units[0]', 'rings[1].units[0]', 'rings[2].units[0]', 'rings[2].units[1]'],
  ],
  ['namespace name with a slash', (p) => (p.namespaces['a/b'] = { strategy: 'drain-and-switch' }), ['namespaces["a/b"]']],
  ['unknown strategy', (p) => (p.namespaces.payments.strategy = 'blue-green'), ['namespaces.payments.strategy']],
  ['dual-workers without task queues', (p) => delete p.namespaces.payments.taskQueues, ['namespaces.payments.taskQueues']],
  ['dual-workers with an empty task queue list', (p) => (p.namespaces.payments.taskQueues = []), ['namespaces.payments.taskQueues']],
  ['an empty task queue name', (p) => (p.namespaces.payments.taskQueues = ['payments', ' ']), ['namespaces.payments.taskQueues[1]']],
  [
    'a task queue listed twice',
    (p) => (p.namespaces.payments.taskQueues = ['payments', 'payments']),
    ['namespaces.payments.taskQueues[1]'],
  ],
  ['two namespaces moving to one target', (p) => (p.namespaces.detections.target = 'payments'), ['namespaces.detections.target']],
  [
    'selector with both forms',
    (p) => (p.namespaces.detections.tenants.selector.workflowIdPrefix = '{tenant}-'),
    ['namespaces.detections.tenants.selector'],
  ],
  ['empty selector', (p) => (p.namespaces.detections.tenants.selector = {}), ['namespaces.detections.tenants.selector']],
  [
    'workflowIdPrefix without {tenant}',
    (p) => (p.namespaces.detections.tenants.selector = { workflowIdPrefix: 'tenant-' }),
    ['namespaces.detections.tenants.selector.workflowIdPrefix'],
  ],
  [
    'no tenant ids',
    (p) => (p.namespaces.detections.tenants.ids = []),
    ['namespaces.detections.tenants.ids', 'rings[1].units[0]', 'rings[2].units[0]', 'rings[2].units[1]'],
  ],
  [
    'tenant id with a slash',
    (p) => (p.namespaces.detections.tenants.ids[1] = 'ac/me'),
    ['namespaces.detections.tenants.ids[1]', 'rings[2].units[0]'],
  ],
  ['tenant id listed twice', (p) => p.namespaces.detections.tenants.ids.push('acme'), ['namespaces.detections.tenants.ids[3]']],
  [
    "a tenant's workflow-ID prefix starting another's",
    (p) => {
      p.namespaces.detections.tenants = {
        selector: { workflowIdPrefix: '{tenant}-' },
        ids: ['acme-corp', 'internal-e2e', 'acme', 'globex'],
      };
    },
    ['namespaces.detections.tenants.ids[0]'],
  ],
  [
    'empty tenant id in the list',
    (p) => (p.namespaces.detections.tenants.ids[0] = ''),
    ['namespaces.detections.tenants.ids[0]', 'rings[1].units[0]'],
  ],
  ['gate with two providers', (p) => (p.gates.clean.temporal = { maxFailed: 0 }), ['gates.clean']],
  ['gate with no provider', (p) => (p.gates.clean = { interval: '10s' }), ['gates.clean']],
  ['prometheus gate without threshold', (p) => delete p.gates.errors.prometheus.max, ['gates.errors.prometheus']],
  ['prometheus min above max', (p) => (p.gates.errors.prometheus.min = 1), ['gates.errors.prometheus.min']],
  ['prometheus URL not http', (p) => (p.gates.errors.prometheus.url = 'localhost:9090'), ['gates.errors.prometheus.url']],
  ['temporal gate without limit', (p) => (p.gates.clean = { temporal: {} }), ['gates.clean.temporal']],
  ['minSuccess above 1', (p) => (p.gates.probe.synthetic.minSuccess = 1.5), ['gates.probe.synthetic.minSuccess']],
  ['synthetic maxP99 missing', (p) => delete p.gates.probe.synthetic.maxP99, ['gates.probe.synthetic.maxP99']],
  ['gate interval zero', (p) => (p.gates.errors.interval = '0s'), ['gates.errors.interval']],
  ['failureLimit not below count', (p) => (p.gates.errors.failureLimit = 4), ['gates.errors.failureLimit']],
  ['count not an integer', (p) => (p.gates.errors.count = 2.5), ['gates.errors.count']],
  ['count written as a string', (p) => (p.gates.errors.count = '4'), ['gates.errors.count']],
  ['percentSteps not increasing', (p) => (p.defaults.percentSteps = [50, 10]), ['defaults.percentSteps[1]']],
  ['percentStep of 100', (p) => (p.defaults.percentSteps = [10, 100]), ['defaults.percentSteps[1]']],
  ['percentStep not an integer', (p) => (p.defaults.percentSteps = [2.5, 10]), ['defaults.percentSteps[0]']],
  ['bake not a duration', (p) => (p.defaults.bake = '30 seconds'), ['defaults.bake']],
  ['negative bake', (p) => (p.defaults.bake = -5), ['defaults.bake']],
  ['drainDeadline zero', (p) => (p.defaults.drainDeadline = 0), ['defaults.drainDeadline']],
  ['client staleness zero', (p) => (p.redis.clientStaleness = 0), ['redis.clientStaleness']],
  ['client staleness not a duration', (p) => (p.redis.clientStaleness = 'soon'), ['redis.clientStaleness']],
  ['route check zero', (p) => (p.redis.routeCheck = 0), ['redis.routeCheck']],
  ['unknown onGateFailure', (p) => (p.defaults.onGateFailure = 'ignore'), ['defaults.onGateFailure']],
  ['unknown stragglers policy', (p) => (p.defaults.stragglers = 'kill'), ['defaults.stragglers']],
  ['no rings', (p) => (p.rings = []), ['rings']],
  ['ring without units', (p) => (p.rings[0].units = []), ['rings[0].units']],
  ['ring units as a string', (p) => (p.rings[0].units = 'namespace/payments'), ['rings[0].units']],
  ['malformed unit name', (p) => (p.rings[0].units = ['payments']), ['rings[0].units[0]']],
  ['unit of an undeclared namespace', (p) => (p.rings[0].units = ['namespace/billing']), ['rings[0].units[0]']],
  ['unit of an undeclared tenant', (p) => (p.rings[2].units[0] = 'tenant/detections/initech'), ['rings[2].units[0]']],
  ['tenant unit of a namespace without tenants', (p) => (p.rings[0].units = ['tenant/payments/acme']), ['rings[0].units[0]']],
  ['unit in two rings', (p) => p.rings[1].units.push('tenant/detections/acme'), ['rings[2].units[0]']],
  [
    'namespace moved whole and by tenant',
    (p) => p.rings[0].units.push('namespace/detections'),
    ['rings[1].units[0]', 'rings[2].units[0]', 'rings[2].units[1]'],
  ],
  ['duplicate ring names', (p) => (p.rings[1].name = 'ring0-synthetic'), ['rings[1].name']],
  ['ring name missing', (p) => delete p.rings[1].name, ['rings[1].name']],
  ['unknown gate in a ring', (p) => (p.rings[0].gates = ['probes']), ['rings[0].gates[0]']],
  ['empty gate name in a ring', (p) => (p.rings[1].gates = ['probe', '']), ['rings[1].gates[1]']],
  ['gate listed twice in a ring', (p) => (p.rings[1].gates = ['probe', 'probe']), ['rings[1].gates[1]']],
  ['batchSize zero', (p) => (p.rings[2].batchSize = 0), ['rings[2].batchSize']],
  ['batchSize fractional', (p) => (p.rings[2].batchSize = 1.5), ['rings[2].batchSize']],
  ['unknown approval', (p) => (p.rings[2].approval = 'one-person'), ['rings[2].approval']],
  ['unknown ring key', (p) => (p.rings[2].aproval = 'two-person'), ['rings[2].aproval']],
  [
    'unknown schedule backfill policy',
    (p) => (p.namespaces.payments.schedules = { backfill: 'all' }),
    ['namespaces.payments.schedules.backfill'],
  ],
  ['misspelt schedules key', (p) => (p.namespaces.payments.schedules = { backfil: 'gap' }), ['namespaces.payments.schedules.backfil']],
  ['schedules not a mapping', (p) => (p.namespaces.payments.schedules = 'gap'), ['namespaces.payments.schedules']],
];

describe('config: tenants whose workflow-ID prefixes overlap', () => {
  const withTenants = (selector: unknown, ids: string[]): Raw => {
    const raw = example();
    raw.namespaces.detections.tenants = { selector, ids };
    return raw;
  };

  it('refuses them, naming the path, both tenants and the fix', () => {
    const [issue, ...more] = issuesOf(withTenants({ workflowIdPrefix: '{tenant}-' }, ['internal-e2e', 'acme', 'globex', 'acme-corp']));
    assert.deepEqual(more, []);
    assert.equal(issue!.path, 'namespaces.detections.tenants.ids[3]');
    assert.match(issue!.message, /tenants "acme" and "acme-corp" overlap under workflowIdPrefix "\{tenant\}-"/);
    assert.match(issue!.message, /also starts with acme's prefix "acme-"/);
    assert.match(issue!.hint, /searchAttribute/);
    assert.match(issue!.hint, /"\{tenant\}\/"/);
    assert.match(formatIssues([issue!]), /namespaces\.detections\.tenants\.ids\[3\]: .* — fix: /);
  });

  it('reports every overlapping pair, a tenant with the separator against a shorter one too', () => {
    const issues = issuesOf(
      withTenants({ workflowIdPrefix: 'job/{tenant}-' }, ['internal-e2e', 'acme', 'globex', 'acme-corp', 'acme-corp-eu']),
    );
    const pairs = issues.map((i) => /tenants "([^"]+)" and "([^"]+)"/.exec(i.message)!.slice(1).join(' < ')).sort();
    assert.deepEqual(pairs, ['acme < acme-corp', 'acme < acme-corp-eu', 'acme-corp < acme-corp-eu']);
  });

  it('accepts the same tenants where their prefixes cannot overlap', () => {
    const ids = ['internal-e2e', 'acme', 'globex', 'acme-corp', 't-red', 't-blue', 't'];
    for (const selector of [{ searchAttribute: 'TenantId' }, { workflowIdPrefix: '{tenant}/' }, { workflowIdPrefix: 'scan/{tenant}/x-' }]) {
      const result = validatePlan(withTenants(selector, ids));
      assert.ok(result.ok, `${JSON.stringify(selector)}: ${result.ok ? '' : formatIssues(result.issues)}`);
    }
    const separator = validatePlan(withTenants({ workflowIdPrefix: '{tenant}-' }, ['internal-e2e', 'acme', 'globex', 't-red', 't-blue']));
    assert.ok(separator.ok, 'tenant IDs with the separator are fine while no prefix starts another');
  });
});

describe('config: invalid plans report the exact path', () => {
  for (const [title, mutate, expected] of INVALID) {
    it(title, () => {
      const raw = example();
      mutate(raw);
      const issues = issuesOf(raw);
      assert.deepEqual(issues.map((issue) => issue.path).sort(), [...expected].sort(), formatIssues(issues));
      for (const issue of issues) {
        assert.ok(issue.message.length > 0 && issue.hint.length > 0, `message and hint for ${issue.path}`);
      }
    });
  }

  it('a value that is not a mapping is reported at the root', () => {
    for (const input of [[], 'plan', 42, null, undefined]) assert.deepEqual(pathsOf(input), ['(root)']);
  });

  it('a plan with several problems reports all of them at once', () => {
    const raw = example();
    raw.clusters.cloud.address = 'nowhere';
    raw.source = 'nope';
    raw.gates.probe.synthetic.maxP99 = 'soon';
    raw.defaults.percentSteps = [50, 10];
    raw.rings[0].units = ['namespace/billing'];
    raw.rings[1].gates = ['probe', 'missing'];
    raw.rings[2].batchSize = 0;
    raw.extra = true;
    assert.deepEqual(pathsOf(raw), [
      'clusters.cloud.address',
      'defaults.percentSteps[1]',
      'extra',
      'gates.probe.synthetic.maxP99',
      'rings[0].units[0]',
      'rings[1].gates[1]',
      'rings[2].batchSize',
      'source',
    ]);
  });

  it('a cyclic object is judged, not looped on', () => {
    const raw = example();
    raw.clusters.cloud.tls = raw.clusters;
    raw.defaults.bake = raw.defaults;
    assert.ok(pathsOf(raw).includes('defaults.bake'));
  });

  it('a pathologically deep value is judged, not a stack overflow', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 20_000; i++) deep = { x: deep };
    const raw = example();
    raw.clusters.cloud.tls = deep;
    assert.deepEqual(pathsOf(raw), ['clusters.cloud.tls.x']);
    const text = `name: ${'['.repeat(20_000)}${']'.repeat(20_000)}\n`;
    const result = validatePlanText(text);
    assert.equal(result.ok, false);
  });
});

describe('config: reading files and text', () => {
  it('reports YAML positions next to each path', async () => {
    const result = await validatePlanFile(path.join(FIXTURES, 'bad.yaml'));
    assert.equal(result.ok, false);
    const at = Object.fromEntries(result.issues.map((issue) => [issue.path, [issue.line, issue.column]]));
    assert.deepEqual(at, {
      'clusters.cloud.adress': [7, 5],
      'clusters.cloud.address': [7, 5],
      'gates.probe.synthetic.maxP99': [13, 63],
      'defaults.percentSteps[1]': [15, 22],
      'rings[0].units[1]': [18, 33],
      'rings[0].gates[1]': [19, 20],
    });
  });

  it('reports JSON positions too', () => {
    const text =
      '{\n  "name": "j",\n  "clusters": {\n    "a": { "address": "127.0.0.1:1" },\n    "b": { "address": "127.0.0.1:1" }\n  }\n}\n';
    const result = validatePlanText(text);
    assert.equal(result.ok, false);
    const dup = (result as { issues: PlanIssue[] }).issues.find((issue) => issue.path === 'clusters.b.address');
    assert.deepEqual([dup?.line, dup?.column], [5, 23]);
  });

  it('a YAML syntax error is an issue at (file) with its line, not a crash', () => {
    for (const text of ['name: [unclosed\nclusters: {}\n', 'name: a\nname: b\n', 'a: 1\n---\nb: 2\n', 'x: *nothing\n']) {
      const result = validatePlanText(text);
      assert.equal(result.ok, false, text);
      const issues = (result as { issues: PlanIssue[] }).issues;
      assert.ok(issues.length > 0 && issues.every((issue) => issue.path === '(file)'), JSON.stringify(issues));
    }
    const duplicate = validatePlanText('name: a\nname: b\n') as { issues: PlanIssue[] };
    assert.equal(duplicate.issues[0].line, 2);
  });

  it('an empty file is reported at the root', () => {
    assert.deepEqual(
      (validatePlanText('') as { issues: PlanIssue[] }).issues.map((issue) => issue.path),
      ['(root)'],
    );
  });

  it('parsePlan throws PlanError carrying every issue', () => {
    const text = readFileSync(path.join(FIXTURES, 'bad.yaml'), 'utf8');
    assert.throws(
      () => parsePlan(text, 'bad.yaml'),
      (err: unknown) => err instanceof PlanError && err.issues.length === 6 && err.filename === 'bad.yaml',
    );
  });

  it('a missing or unreadable file is a PlanError at (file)', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'cutover-config-'));
    try {
      for (const file of [path.join(dir, 'absent.yaml'), dir]) {
        assert.throws(
          () => loadPlan(file),
          (err: unknown) => err instanceof PlanError && err.issues.length === 1 && err.issues[0].path === '(file)',
        );
        const result = await validatePlanFile(file);
        assert.deepEqual([result.ok, result.issues.map((issue) => issue.path)], [false, ['(file)']]);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('loadPlan reads a written file and accepts values', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'cutover-config-'));
    try {
      const file = path.join(dir, 'plan.json');
      writeFileSync(file, JSON.stringify(example()));
      assert.deepEqual(loadPlan(file), loadPlan(EXAMPLE));
      assert.throws(() => loadPlan({ name: 'x' }), PlanError);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('formatIssues prints one line per issue: file:line:column  path: message — fix: hint', () => {
    const issues: PlanIssue[] = [
      { path: 'rings[2].units[0]', message: 'unknown unit "tenant/x/y"', hint: 'declare it', line: 12, column: 5 },
      { path: 'name', message: 'missing', hint: 'add it' },
    ];
    assert.equal(
      formatIssues(issues, 'examples/bad.yaml'),
      'examples/bad.yaml:12:5  rings[2].units[0]: unknown unit "tenant/x/y" — fix: declare it\n' +
        'examples/bad.yaml  name: missing — fix: add it',
    );
    assert.equal(formatIssues(issues.slice(1)), 'name: missing — fix: add it');
  });
});

describe('config: warnings on a valid plan', () => {
  const controlWarning = (warnings: PlanIssue[]) => warnings.filter((w) => w.path === 'control.cluster');

  it('warns when the control cluster is the target, explaining the trade-off and naming the escape hatch', () => {
    const result = validatePlan(example());
    assert.ok(result.ok);
    const [warning, ...more] = controlWarning(result.warnings);
    assert.deepEqual(more, []);
    assert.match(warning!.message, /control cluster is the target, cloud/);
    assert.match(warning!.message, /roll its units back to legacy/);
    assert.match(warning!.hint, /separate from the target/);
    assert.match(warning!.hint, /cutover route <unit> source --force/);
  });

  it('takes redis.routeCheck to the units, and warns when it is not below the clients staleness bound', () => {
    const raw = example();
    raw.redis.routeCheck = '5s';
    const ok = validatePlan(raw);
    assert.ok(ok.ok);
    assert.equal(unitInputFromPlan(ok.plan, { kind: 'namespace', namespace: 'payments' }).routeCheckMs, 5_000);
    assert.deepEqual(
      ok.warnings.filter((w) => w.path === 'redis.routeCheck'),
      [],
    );
    raw.redis.routeCheck = raw.redis.clientStaleness ?? '30s';
    const late = validatePlan(raw);
    assert.ok(late.ok);
    const [warning] = late.warnings.filter((w) => w.path === 'redis.routeCheck');
    assert.match(warning!.message, /not sooner than routed clients fail closed/);
    // Unset: the units take the default (not written into their input).
    delete raw.redis.routeCheck;
    const unset = validatePlan(raw);
    assert.ok(unset.ok);
    assert.equal(unitInputFromPlan(unset.plan, { kind: 'namespace', namespace: 'payments' }).routeCheckMs, undefined);
  });

  it('warns also when control.cluster is left to its default (the target); no position to point at', () => {
    const raw = example();
    delete raw.control;
    const result = validatePlanText(JSON.stringify(raw), 'plan.json');
    assert.ok(result.ok);
    const [warning] = controlWarning(result.warnings);
    assert.equal(warning?.line, undefined);
  });

  it('points at control.cluster when the plan writes it, and formats as advice', async () => {
    const result = await validatePlanFile(EXAMPLE);
    assert.ok(result.ok);
    const [warning] = controlWarning(result.warnings);
    const line = readFileSync(EXAMPLE, 'utf8').split('\n')[warning!.line! - 1]!;
    assert.match(line.slice(warning!.column! - 1), /^cloud\b/);
    assert.match(formatIssues([warning!], EXAMPLE, 'advice'), /control\.cluster: .* — advice: /);
  });

  it('gives no warning for a control cluster of its own', () => {
    const raw = example();
    raw.clusters.ops = { address: '127.0.0.1:7299' };
    raw.control = { cluster: 'ops' };
    const result = validatePlan(raw);
    assert.ok(result.ok, JSON.stringify(result.ok ? [] : result.issues));
    assert.deepEqual(result.warnings, []);
  });

  it('an invalid plan has issues, not warnings', async () => {
    const result = await validatePlanFile(path.join(FIXTURES, 'bad.yaml'));
    assert.equal(result.ok, false);
    assert.deepEqual(result.warnings, []);
  });
});
