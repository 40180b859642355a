/** `validatePlan`: schema + cross-field checks, every problem at once, then the defaults filled in. */
import type { z } from 'zod';
import { crossCheck } from './cross-checks';
import * as D from './defaults';
import { DURATION_FORMS } from './duration';
import { formatPath, type PathSegment, type RawIssue, show } from './issues';
import { type IssueParams, type PlanFile, planFileSchema } from './schema';
import { planWarnings } from './warnings';
import type {
  ClusterConfig,
  CodecConfig,
  GateConfig,
  NamespaceConfig,
  Plan,
  PlanIssue,
  PlanValidation,
  RingConfig,
  TenantsConfig,
} from './types';

const MAX_DEPTH = 32;

/**
 * Empty (or blank) strings are "unset": a value of `''` behaves like a missing key, so defaults
 * apply and required fields say they are missing. So is `null`, which is what YAML makes of a key
 * with nothing after it (`tls:` once its lines are commented out). Keys stay present, so an unknown
 * key is still reported even when its value is blank. List items are kept (an empty task queue
 * name is an error, not a missing one). Returns a copy; non-plain objects and cycles are left for
 * the schema.
 */
export function blankToUnset(value: unknown, seen: Set<object> = new Set()): unknown {
  // Below MAX_DEPTH nothing is read by the schema (a plan is ~6 levels deep), and stopping there
  // keeps a pathologically deep input from overflowing the stack.
  if (typeof value !== 'object' || value === null || seen.has(value) || seen.size > MAX_DEPTH) return value;
  if (Array.isArray(value)) {
    seen.add(value);
    const out = value.map((item) => blankToUnset(item, seen));
    seen.delete(value);
    return out;
  }
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) return value;
  seen.add(value);
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    const unset = item === null || (typeof item === 'string' && item.trim() === '');
    // defineProperty: a `__proto__` key from JSON/YAML stays a plain key (and is reported as unknown).
    Object.defineProperty(out, key, {
      value: unset ? undefined : blankToUnset(item, seen),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  seen.delete(value);
  return out;
}

/** What to write where, for "missing" and "wrong type" problems. Keys are paths with `*` for names and `[]` for indices. */
const FIELD_HINTS: Record<string, string> = {
  '': 'write the plan as a mapping with name, clusters, source, target, namespaces and rings (see examples/plan.yaml)',
  name: 'name the campaign, e.g. name: legacy-to-cloud',
  clusters: 'declare the clusters, e.g. clusters: { legacy: { address: 127.0.0.1:7233 }, cloud: { address: 127.0.0.1:7234 } }',
  'clusters.*': 'give the cluster at least its address, e.g. { address: 127.0.0.1:7233 }',
  'clusters.*.address': 'set host:port of the cluster frontend, e.g. address: 127.0.0.1:7233',
  'clusters.*.namespaceSuffix': 'write the suffix appended to namespace names on this cluster, e.g. ".a1b2c"',
  'clusters.*.tls': 'write a mapping { clientCertPath, clientKeyPath, serverRootCACertPath, serverNameOverride }',
  'clusters.*.kind': 'write self-hosted or cloud (cloud: namespaces and search attributes are only verified, never created)',
  'clusters.*.apiKeyEnv': 'name the environment variable that holds the API key, e.g. CLOUD_API_KEY',
  'clusters.*.apiKeyFile': 'write the path of a file holding the API key (relative to the plan file), e.g. secrets/cloud.key',
  'redis.passwordEnv': 'name the environment variable that holds the Redis password, e.g. REDIS_PASSWORD',
  'redis.caPath': 'write the path of the CA certificate of the rediss:// server or the TLS sentinels (relative to the plan file)',
  'redis.sentinel': 'write { masterName: cutover, addresses: [10.0.0.1:26379, 10.0.0.2:26379, 10.0.0.3:26379] }',
  'redis.sentinel.masterName': "write the <name> of the sentinels' `sentinel monitor <name> …` line, e.g. masterName: cutover",
  'redis.sentinel.addresses': 'list the host:port of the sentinels, e.g. addresses: [10.0.0.1:26379, 10.0.0.2:26379, 10.0.0.3:26379]',
  'redis.sentinel.passwordEnv': "name the environment variable that holds the sentinels' password, e.g. REDIS_SENTINEL_PASSWORD",
  'redis.sentinel.tls': 'write true to reach the sentinels and the master over TLS (with redis.caPath), or false',
  'gates.*.prometheus.tokenEnv': 'name the environment variable that holds the bearer token, e.g. PROMETHEUS_TOKEN',
  'clusters.*.local': 'write { server: dev }, { server: postgres, shards: 4 } or { server: cloud, auth: api-key }',
  'clusters.*.local.server': 'write dev, postgres or cloud',
  'clusters.*.local.auth': 'write mtls or api-key (only with server: cloud)',
  source: 'name the cluster the work runs on today, e.g. source: legacy',
  target: 'name the cluster the work moves to, e.g. target: cloud',
  control: 'write { cluster: cloud, namespace: cutover, taskQueue: cutover } (each optional)',
  redis:
    'write { url: redis://127.0.0.1:6379, keyPrefix: "cutover:", clientStaleness: 30s, passwordEnv: REDIS_PASSWORD, caPath: ca.pem } ' +
    '(each optional), or sentinel: { masterName: cutover, addresses: [host:26379, …] } instead of url',
  namespaces: 'declare the namespaces to move, e.g. namespaces: { payments: { strategy: dual-workers, taskQueues: [payments] } }',
  'namespaces.*': 'write { strategy: dual-workers, taskQueues: [<queue>] }',
  'namespaces.*.strategy': 'set strategy: dual-workers or strategy: drain-and-switch',
  'namespaces.*.taskQueues': 'list the task queues, e.g. taskQueues: [payments]',
  'namespaces.*.tenants': 'write { selector: { searchAttribute: TenantId }, ids: [acme, globex] }',
  'namespaces.*.tenants.selector': 'write { searchAttribute: TenantId } or { workflowIdPrefix: "{tenant}-" }',
  'namespaces.*.tenants.ids': 'list the tenant ids, e.g. ids: [acme, globex]',
  'namespaces.*.schedules': 'write { backfill: gap } (fires missed in a switch run on the new cluster) or { backfill: none }',
  gates: 'write a mapping of gate names to gates, e.g. clean: { reconcile: { maxDuplicates: 0, maxStranded: 0 } }',
  'gates.*': 'write exactly one provider, e.g. { synthetic: { workflows: 20, minSuccess: 1, maxP99: 2s } }',
  'gates.*.prometheus': "write { url: http://127.0.0.1:9090, query: 'sum(rate(errors[1m]))', max: 0.5 }",
  'gates.*.prometheus.url': 'set the Prometheus base URL, e.g. url: http://127.0.0.1:9090',
  'gates.*.prometheus.query': 'set a PromQL query returning one number',
  'gates.*.temporal': 'write { maxFailed: 0 } and/or { maxFailureRatio: 0.01 }',
  'gates.*.synthetic': 'write { workflows: 20, minSuccess: 1, maxP99: 2s }',
  'gates.*.synthetic.workflows': 'set how many probe workflows to run, e.g. workflows: 20',
  'gates.*.synthetic.minSuccess': 'set the share of probes that must succeed, from 0 to 1, e.g. minSuccess: 1',
  'gates.*.synthetic.maxP99': `set the slowest acceptable p99 latency: ${DURATION_FORMS}`,
  'gates.*.reconcile': 'write { maxDuplicates: 0, maxStranded: 0 }',
  'gates.*.compare': 'write { workflowTypes: [ChargeCard], minSamples: 20, maxSamples: 500, alpha: 0.05, latencyTolerance: 0.1 }',
  'gates.*.compare.workflowTypes': 'list the workflow types to compare on source and target, e.g. workflowTypes: [ChargeCard]',
  'gates.*.compare.minSamples': 'set the least runs per side for a test to conclude, e.g. minSamples: 20',
  'gates.*.compare.maxSamples': 'set the most completed runs listed per side and type, from 1 to 5000, e.g. maxSamples: 500',
  'gates.*.compare.alpha': 'set the significance level of the tests, above 0 and at most 0.5, e.g. alpha: 0.05',
  'gates.*.compare.latencyTolerance': 'set how much slower the target may be, relative, e.g. latencyTolerance: 0.1 for 10 %',
  'gates.*.compare.source': 'set source: visibility (runs listed on each cluster) or source: prometheus (the SDK worker metrics)',
  'gates.*.compare.prometheus': 'write { url: http://127.0.0.1:9090 }, the Prometheus scraping the application workers on both clusters',
  'gates.*.compare.prometheus.url': 'set the Prometheus base URL, e.g. url: http://127.0.0.1:9090',
  'gates.*.compare.prometheus.tokenEnv': 'name the environment variable that holds the bearer token, e.g. PROMETHEUS_TOKEN',
  'gates.*.compare.prometheus.sourceLabels': "map label names to values selecting the source's workers, e.g. { cluster: old }",
  'gates.*.compare.prometheus.targetLabels': "map label names to values selecting the target's workers, e.g. { cluster: new }",
  'gates.*.compare.baselineLookback': `set how far before the step the source's window starts: ${DURATION_FORMS}`,
  'gates.*.scheduleToStart': 'write { maxBacklogAge: 5s } and optionally maxBacklogCount: 100',
  'gates.*.scheduleToStart.maxBacklogAge': `set how long the oldest waiting task may have waited: ${DURATION_FORMS}`,
  'gates.*.scheduleToStart.maxBacklogCount': 'set how many waiting tasks a queue may hold, e.g. maxBacklogCount: 100',
  defaults: 'write { bake: 30s, percentSteps: [10, 50], onGateFailure: rollback, drainDeadline: 10m }',
  'defaults.percentSteps': 'list whole percentages from 1 to 99 in increasing order, e.g. [10, 50]',
  rings: 'list the rollout rings, e.g. rings: [{ name: ring0, units: [namespace/payments], gates: [] }]',
  'rings[]': 'write { name: ring0, units: [namespace/payments], gates: [probe] }',
  'rings[].name': 'name the ring, e.g. name: ring0-synthetic',
  'rings[].units': 'list the units of the ring, e.g. units: [namespace/payments, tenant/detections/acme]',
  'rings[].gates': 'list gate names defined under gates, e.g. gates: [probe]',
  codec: 'write { keys: [{ id: 2025-01, env: CUTOVER_CODEC_KEY_2025_01 }], current: 2025-01 }',
  'codec.keys': 'list the keys that may decrypt, e.g. keys: [{ id: 2025-01, env: CUTOVER_CODEC_KEY_2025_01 }]',
  'codec.keys[]': 'write { id: 2025-01, env: CUTOVER_CODEC_KEY_2025_01 } or { id: 2025-01, file: secrets/codec-2025-01.key }',
  'codec.keys[].id': 'name the key, e.g. id: 2025-01 (every payload it encrypts carries this id in the clear)',
  'codec.keys[].env': 'name the environment variable that holds the key (32 random bytes, base64), e.g. CUTOVER_CODEC_KEY_2025_01',
  'codec.keys[].file': 'write the path of a file holding the key (relative to the plan file), e.g. secrets/codec-2025-01.key',
  'codec.current': 'name the key that encrypts new payloads, one of codec.keys, e.g. current: 2025-01',
  'codec.server': 'write { tokenEnv: CUTOVER_CODEC_TOKEN, origins: [http://localhost:8233] } (or jwksUrl instead of tokenEnv)',
  'codec.server.listen': 'write the host:port to listen on, e.g. listen: 127.0.0.1:8888',
  'codec.server.tokenEnv': 'name the environment variable that holds the bearer token, e.g. CUTOVER_CODEC_TOKEN',
  'codec.server.jwksUrl': 'set the URL of the JWKS that signs the JWTs, e.g. jwksUrl: https://login.example.com/.well-known/jwks.json',
  'codec.server.jwtAudience': 'write the audience (aud) the JWTs must carry',
  'codec.server.jwtIssuer': 'write the issuer (iss) the JWTs must carry',
  'codec.server.origins': 'list the Temporal UI origins, e.g. origins: [http://localhost:8233]',
  'codec.server.includeCredentials': 'write true or false, as the UI\'s "include credentials" setting is',
  operators: 'write { alice: { publicKey: ed25519:<hex>, roles: [operator, approver] } } (`cutover keys new alice` prints the key)',
  'operators.*.publicKey': 'paste the public key `cutover keys new <name>` printed: ed25519:<64 hex digits>',
  'operators.*.roles': 'list what the key may sign: operator (advance, resume, start), approver (approve), controller (the worker)',
  'codec.server.maxBodyBytes': 'write the largest request body in bytes, e.g. maxBodyBytes: 4194304',
};

const NAMED_SECTIONS = new Set(['clusters', 'namespaces', 'gates', 'operators']);

function hintKey(path: readonly PathSegment[]): string {
  let key = '';
  path.forEach((segment, i) => {
    if (typeof segment === 'number') key += '[]';
    else if (i === 1 && NAMED_SECTIONS.has(String(path[0]))) key += '.*';
    else key += key === '' ? segment : `.${segment}`;
  });
  return key;
}

const TYPE_WORDS: Record<string, string> = {
  array: 'a list',
  object: 'a mapping',
  string: 'a string',
  number: 'a number',
  integer: 'a whole number',
  boolean: 'true or false',
  null: 'nothing (null)',
  undefined: 'nothing',
};
const typeWord = (type: string) => TYPE_WORDS[type] ?? type;

const TYPE_HINTS: Record<string, string> = {
  array: 'write a list, e.g. [a, b]',
  object: 'write a mapping, e.g. { key: value }',
  string: 'write a string (quote it if YAML reads it as a number or boolean)',
  number: 'write a number without quotes',
};

/** zod's issues as plan issues: a message naming the problem, and a hint naming the fix. */
function fromZod(issues: readonly z.ZodIssue[]): RawIssue[] {
  return issues.map((issue): RawIssue => {
    const path = issue.path;
    const field = path.length ? String(path[path.length - 1]) : 'plan';
    const fieldHint = FIELD_HINTS[hintKey(path)];
    switch (issue.code) {
      case 'custom': {
        const params = issue.params as IssueParams | undefined;
        return { path, message: issue.message, hint: params?.hint ?? fieldHint ?? 'see examples/plan.yaml', atKey: params?.atKey };
      }
      case 'invalid_type':
        if (issue.received === 'undefined') {
          return {
            path,
            message: `missing required ${typeof path[path.length - 1] === 'number' ? 'item' : `field "${field}"`}`,
            hint: fieldHint ?? `add ${formatPath(path)}`,
          };
        }
        return {
          path,
          message: `expected ${typeWord(issue.expected)}, got ${typeWord(issue.received)}`,
          hint: fieldHint ?? TYPE_HINTS[issue.expected] ?? `write ${typeWord(issue.expected)}`,
        };
      case 'invalid_enum_value':
        return {
          path,
          message: `${show(issue.received)} is not one of ${issue.options.join(', ')}`,
          hint: `write one of: ${issue.options.join(', ')}`,
        };
      case 'too_small':
        if (issue.type === 'array') {
          return {
            path,
            message: `the list is empty; it needs at least ${String(issue.minimum)} entry`,
            hint: fieldHint ?? 'add an entry, or remove the key',
          };
        }
        return { path, message: issue.message, hint: fieldHint ?? `write a value ≥ ${String(issue.minimum)}` };
      default:
        return { path, message: issue.message, hint: fieldHint ?? 'see examples/plan.yaml' };
    }
  });
}

/** Drops properties whose value is undefined, so a `Plan` is clean JSON. */
function compact<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

function toCluster(cluster: PlanFile['clusters'][string]): ClusterConfig {
  const local = cluster.local;
  const server = local?.server ?? D.DEFAULT_LOCAL_SERVER;
  return compact({
    address: cluster.address,
    kind: cluster.kind ?? D.defaultClusterKind(cluster.address, local?.server),
    namespaceSuffix: cluster.namespaceSuffix,
    tls: cluster.tls
      ? compact({
          clientCertPath: cluster.tls.clientCertPath,
          clientKeyPath: cluster.tls.clientKeyPath,
          serverRootCACertPath: cluster.tls.serverRootCACertPath,
          serverNameOverride: cluster.tls.serverNameOverride,
        })
      : undefined,
    apiKeyEnv: cluster.apiKeyEnv,
    apiKeyFile: cluster.apiKeyFile,
    local: local
      ? compact({
          server,
          shards: local.shards ?? (server === 'postgres' ? D.DEFAULT_POSTGRES_SHARDS : D.DEV_SERVER_SHARDS),
          auth: server === 'cloud' ? (local.auth ?? D.DEFAULT_LOCAL_CLOUD_AUTH) : undefined,
        })
      : undefined,
  });
}

function toNamespace(key: string, ns: PlanFile['namespaces'][string]): NamespaceConfig {
  const tenants: TenantsConfig | undefined = ns.tenants && {
    selector:
      ns.tenants.selector.searchAttribute !== undefined
        ? { searchAttribute: ns.tenants.selector.searchAttribute }
        : { workflowIdPrefix: ns.tenants.selector.workflowIdPrefix as string },
    ids: [...ns.tenants.ids],
  };
  const schedules = { backfill: ns.schedules?.backfill ?? D.DEFAULT_SCHEDULE_BACKFILL };
  return compact({ target: ns.target ?? key, strategy: ns.strategy, taskQueues: [...(ns.taskQueues ?? [])], tenants, schedules });
}

function toGate(gate: NonNullable<PlanFile['gates']>[string]): GateConfig {
  const limits = {
    interval: gate.interval ?? D.DEFAULT_GATE_INTERVAL_MS,
    count: gate.count ?? D.DEFAULT_GATE_COUNT,
    failureLimit: gate.failureLimit ?? D.DEFAULT_GATE_FAILURE_LIMIT,
    consecutiveErrorLimit: gate.consecutiveErrorLimit ?? D.DEFAULT_GATE_CONSECUTIVE_ERROR_LIMIT,
  };
  // Exactly one provider is present: the cross-checks reject the plan otherwise.
  if (gate.prometheus) {
    const { url, query, tokenEnv, max, min } = gate.prometheus;
    return { prometheus: compact({ url, query, tokenEnv, max, min }), ...limits };
  }
  if (gate.temporal)
    return { temporal: compact({ maxFailed: gate.temporal.maxFailed, maxFailureRatio: gate.temporal.maxFailureRatio }), ...limits };
  if (gate.synthetic) {
    const { workflows, minSuccess, maxP99 } = gate.synthetic;
    return { synthetic: { workflows, minSuccess, maxP99 }, ...limits };
  }
  if (gate.compare) {
    const c = gate.compare;
    return {
      compare: {
        workflowTypes: [...c.workflowTypes],
        source: c.source ?? D.DEFAULT_COMPARE_SOURCE,
        ...(c.prometheus
          ? {
              prometheus: compact({
                url: c.prometheus.url,
                tokenEnv: c.prometheus.tokenEnv,
                sourceLabels: c.prometheus.sourceLabels && { ...c.prometheus.sourceLabels },
                targetLabels: c.prometheus.targetLabels && { ...c.prometheus.targetLabels },
              }),
            }
          : {}),
        minSamples: c.minSamples ?? D.DEFAULT_COMPARE_MIN_SAMPLES,
        maxSamples: c.maxSamples ?? D.DEFAULT_COMPARE_MAX_SAMPLES,
        alpha: c.alpha ?? D.DEFAULT_COMPARE_ALPHA,
        latencyTolerance: c.latencyTolerance ?? D.DEFAULT_COMPARE_LATENCY_TOLERANCE,
        ...(c.baselineLookback !== undefined ? { baselineLookback: c.baselineLookback } : {}),
      },
      ...limits,
    };
  }
  if (gate.scheduleToStart) {
    const { maxBacklogAge, maxBacklogCount } = gate.scheduleToStart;
    return { scheduleToStart: compact({ maxBacklogAge, maxBacklogCount }), ...limits };
  }
  const reconcile = gate.reconcile ?? {};
  return {
    reconcile: {
      maxDuplicates: reconcile.maxDuplicates ?? D.DEFAULT_RECONCILE_MAX_DUPLICATES,
      maxStranded: reconcile.maxStranded ?? D.DEFAULT_RECONCILE_MAX_STRANDED,
    },
    ...limits,
  };
}

function toRing(ring: PlanFile['rings'][number]): RingConfig {
  return compact({
    name: ring.name,
    units: [...ring.units],
    gates: [...(ring.gates ?? [])],
    batchSize: ring.batchSize ?? ring.units.length,
    approval: ring.approval,
    bake: ring.bake,
  });
}

function toCodec(codec: NonNullable<PlanFile['codec']>): CodecConfig {
  const server = codec.server;
  return compact({
    keys: codec.keys.map((key) => compact({ id: key.id, env: key.env, file: key.file })),
    current: codec.current,
    server: server
      ? compact({
          listen: server.listen ?? D.DEFAULT_CODEC_SERVER_LISTEN,
          tokenEnv: server.tokenEnv,
          jwksUrl: server.jwksUrl,
          jwtAudience: server.jwtAudience,
          jwtIssuer: server.jwtIssuer,
          origins: [...(server.origins ?? [])],
          includeCredentials: server.includeCredentials ?? D.DEFAULT_CODEC_SERVER_INCLUDE_CREDENTIALS,
          maxBodyBytes: server.maxBodyBytes ?? D.DEFAULT_CODEC_SERVER_MAX_BODY_BYTES,
        })
      : undefined,
  });
}

const mapValues = <A, B>(record: Record<string, A>, fn: (key: string, value: A) => B): Record<string, B> =>
  Object.fromEntries(Object.entries(record).map(([key, value]) => [key, fn(key, value)]));

/** The schema's output with every default filled in. */
function toPlan(file: PlanFile): Plan {
  const d = file.defaults ?? {};
  const plan: Plan = {
    name: file.name,
    clusters: mapValues(file.clusters, (_key, cluster) => toCluster(cluster)),
    source: file.source,
    target: file.target,
    // The control cluster defaults to the target: cutover's history outlives the source.
    control: {
      cluster: file.control?.cluster ?? file.target,
      namespace: file.control?.namespace ?? D.DEFAULT_CONTROL_NAMESPACE,
      taskQueue: file.control?.taskQueue ?? D.DEFAULT_CONTROL_TASK_QUEUE,
    },
    redis: compact({
      // Sentinel names the master; a plan without either reaches the default URL.
      url: file.redis?.sentinel ? undefined : (file.redis?.url ?? D.DEFAULT_REDIS_URL),
      sentinel: file.redis?.sentinel
        ? compact({
            masterName: file.redis.sentinel.masterName,
            addresses: [...file.redis.sentinel.addresses],
            passwordEnv: file.redis.sentinel.passwordEnv,
            tls: file.redis.sentinel.tls,
          })
        : undefined,
      keyPrefix: file.redis?.keyPrefix ?? D.DEFAULT_REDIS_KEY_PREFIX,
      clientStaleness: file.redis?.clientStaleness ?? D.DEFAULT_CLIENT_STALENESS_MS,
      routeCheck: file.redis?.routeCheck,
      passwordEnv: file.redis?.passwordEnv,
      caPath: file.redis?.caPath,
    }),
    namespaces: mapValues(file.namespaces, toNamespace),
    gates: mapValues(file.gates ?? {}, (_key, gate) => toGate(gate)),
    defaults: {
      bake: d.bake ?? D.DEFAULT_BAKE_MS,
      percentSteps: [...(d.percentSteps ?? D.DEFAULT_PERCENT_STEPS)],
      onGateFailure: d.onGateFailure ?? D.DEFAULT_ON_GATE_FAILURE,
      drainDeadline: d.drainDeadline ?? D.DEFAULT_DRAIN_DEADLINE_MS,
      stragglers: d.stragglers ?? D.DEFAULT_STRAGGLERS,
      holdTimeout: d.holdTimeout ?? D.DEFAULT_HOLD_TIMEOUT_MS,
      finalizeAfter: d.finalizeAfter ?? D.DEFAULT_FINALIZE_AFTER_MS,
    },
    rings: file.rings.map(toRing),
  };
  if (file.codec) plan.codec = toCodec(file.codec);
  if (file.operators) plan.operators = mapValues(file.operators, (_name, o) => ({ publicKey: o.publicKey, roles: [...new Set(o.roles)] }));
  return plan;
}

/** Validates a raw plan; issues keep their path segments (for source positions). */
export function checkPlan(input: unknown): { plan?: Plan; issues: RawIssue[] } {
  const raw = blankToUnset(input);
  const parsed = planFileSchema.safeParse(raw);
  const schemaIssues = parsed.success ? [] : fromZod(parsed.error.issues);
  // One problem per path: a value the schema already rejected needs no second complaint.
  const taken = new Set(schemaIssues.map((issue) => formatPath(issue.path)));
  const issues = [...schemaIssues, ...crossCheck(raw).filter((issue) => !taken.has(formatPath(issue.path)))];
  if (issues.length || !parsed.success) return { issues };
  return { plan: toPlan(parsed.data), issues: [] };
}

/** A raw issue with its printable path (and no position). */
export function toPlanIssue(issue: RawIssue, position?: { line: number; column: number }): PlanIssue {
  return { path: formatPath(issue.path), message: issue.message, hint: issue.hint, ...position };
}

/** Validates a plan given as a value (parsed JSON/YAML, or an already validated `Plan`). */
export function validatePlan(input: unknown): PlanValidation {
  const { plan, issues } = checkPlan(input);
  return plan
    ? { ok: true, plan, warnings: planWarnings(plan).map((warning) => toPlanIssue(warning)) }
    : { ok: false, issues: issues.map((issue) => toPlanIssue(issue)) };
}
