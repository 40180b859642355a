/**
 * How the plan's values relate to each other: references between sections, uniqueness,
 * exactly-one-of. These run on the raw input, reading only what is well-typed enough to judge, so a
 * plan with a malformed value elsewhere still gets every one of these problems reported at once
 * (zod skips refinements of an object as soon as one of its fields fails).
 */
import { parseUnitName } from '../domain/ids';
import {
  addressHost,
  DEFAULT_COMPARE_MAX_SAMPLES,
  DEFAULT_COMPARE_MIN_SAMPLES,
  DEFAULT_COMPARE_SOURCE,
  DEFAULT_GATE_COUNT,
  DEFAULT_GATE_FAILURE_LIMIT,
  isCloudAddress,
} from './defaults';
import type { PathSegment, RawIssue } from './issues';
import { ambiguousTenants, TENANT_PLACEHOLDER } from '../domain/tenant-prefix';

type Obj = Record<string, unknown>;

const isObj = (value: unknown): value is Obj => typeof value === 'object' && value !== null && !Array.isArray(value);
const asObj = (value: unknown): Obj | undefined => (isObj(value) ? value : undefined);
const asStr = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);
const asArr = (value: unknown): unknown[] | undefined => (Array.isArray(value) ? value : undefined);
const asNum = (value: unknown): number | undefined => (typeof value === 'number' && Number.isFinite(value) ? value : undefined);
const has = (obj: Obj | undefined, key: string): boolean =>
  obj !== undefined && Object.prototype.hasOwnProperty.call(obj, key) && obj[key] !== undefined;
const entries = (obj: Obj | undefined): [string, unknown][] => (obj ? Object.entries(obj) : []);

/** Every cross-field problem of a (blank-normalized) raw plan. */
export function crossCheck(raw: unknown): RawIssue[] {
  const plan = asObj(raw);
  if (!plan) return [];
  const issues: RawIssue[] = [];
  const report = (path: PathSegment[], message: string, hint: string) => issues.push({ path, message, hint });

  // Clusters: source, target and control name declared clusters; addresses are distinct.
  const clusters = asObj(plan.clusters);
  const clusterNames = Object.keys(clusters ?? {});
  const declared = clusterNames.length ? clusterNames.join(', ') : 'none yet';
  const checkClusterRef = (path: PathSegment[], value: unknown) => {
    const ref = asStr(value);
    if (ref !== undefined && clusters && !has(clusters, ref)) {
      report(
        path,
        `unknown cluster "${ref}"`,
        `name one of the clusters declared under clusters (${declared}), or declare clusters.${ref}`,
      );
    }
  };
  checkClusterRef(['source'], plan.source);
  checkClusterRef(['target'], plan.target);
  checkClusterRef(['control', 'cluster'], asObj(plan.control)?.cluster);
  if (asStr(plan.source) !== undefined && plan.source === plan.target) {
    report(
      ['target'],
      `target is the same cluster as source ("${String(plan.source)}")`,
      'name the cluster the workloads move to; it must differ from source',
    );
  }
  const addressOwner = new Map<string, string>();
  for (const [name, cluster] of entries(clusters)) {
    const c = asObj(cluster);
    const address = asStr(c?.address)?.toLowerCase();
    if (address !== undefined) {
      const owner = addressOwner.get(address);
      if (owner !== undefined) {
        report(
          ['clusters', name, 'address'],
          `address ${address} is already the address of cluster "${owner}"`,
          'give every cluster its own host:port',
        );
      } else addressOwner.set(address, name);
    }
    const tls = asObj(c?.tls);
    if (tls && has(tls, 'clientCertPath') !== has(tls, 'clientKeyPath')) {
      const missing = has(tls, 'clientCertPath') ? 'clientKeyPath' : 'clientCertPath';
      report(
        ['clusters', name, 'tls', missing],
        `mTLS needs both clientCertPath and clientKeyPath; ${missing} is missing`,
        `set clusters.${name}.tls.${missing}, or drop the other one for server-only TLS`,
      );
    }
    if (has(c, 'apiKeyEnv') && has(c, 'apiKeyFile')) {
      report(
        ['clusters', name, 'apiKeyFile'],
        'apiKeyEnv and apiKeyFile are both set: the key must come from one place',
        `keep one: apiKeyEnv (an environment variable) or apiKeyFile (a file), and remove the other from clusters.${name}`,
      );
    }
    checkClusterKind(name, c, report);
    const local = asObj(c?.local);
    const shards = asNum(local?.shards);
    if (local && (local.server ?? 'dev') === 'dev' && shards !== undefined && shards !== 1) {
      report(
        ['clusters', name, 'local', 'shards'],
        `the dev server runs exactly 1 history shard, not ${shards}`,
        'remove shards, or set server: postgres for a multi-shard cluster',
      );
    }
    if (local && local.server === 'cloud' && shards !== undefined && shards !== 1) {
      report(
        ['clusters', name, 'local', 'shards'],
        `the Cloud-shaped local cluster runs exactly 1 history shard, not ${shards}`,
        'remove shards (a Cloud namespace is not sharded by you)',
      );
    }
    if (local && has(local, 'auth') && local.server !== 'cloud') {
      report(
        ['clusters', name, 'local', 'auth'],
        `auth applies only to a Cloud-shaped local cluster, not to server: ${asStr(local.server) ?? 'dev'}`,
        'remove auth, or set server: cloud',
      );
    }
  }

  // Redis: one server or a set of sentinels, not both; a CA file only means something for a TLS connection.
  const redis = asObj(plan.redis);
  const redisUrl = asStr(redis?.url);
  const sentinel = asObj(redis?.sentinel);
  if (has(redis, 'url') && has(redis, 'sentinel')) {
    report(
      ['redis', 'sentinel'],
      'redis.url and redis.sentinel are both set: cutover connects to one Redis, or to the master the sentinels name',
      'keep one: remove redis.url to connect through the sentinels, or remove redis.sentinel to connect to the URL',
    );
  }
  checkUnique(asArr(sentinel?.addresses), ['redis', 'sentinel', 'addresses'], 'sentinel address', report);
  if (sentinel) {
    if (has(redis, 'caPath') && sentinel.tls !== true) {
      report(
        ['redis', 'caPath'],
        'caPath is only used for TLS, and redis.sentinel.tls is not true',
        'set redis.sentinel.tls: true to connect to the sentinels and the master over TLS, or remove caPath',
      );
    }
  } else if (has(redis, 'caPath') && !redisUrl?.startsWith('rediss://')) {
    report(
      ['redis', 'caPath'],
      `caPath is only used for TLS, and ${redisUrl === undefined ? 'the default redis.url' : 'redis.url'} is not a rediss:// URL`,
      'write redis.url as rediss://host:port to connect over TLS, or remove caPath',
    );
  }

  // Namespaces: distinct target names, task queues for dual workers, well-formed tenants.
  const namespaces = asObj(plan.namespaces);
  const targetOwner = new Map<string, string>();
  for (const [ns, value] of entries(namespaces)) {
    const cfg = asObj(value);
    if (!cfg) continue;
    const target = asStr(cfg.target) ?? ns;
    const owner = targetOwner.get(target);
    if (owner !== undefined) {
      report(
        ['namespaces', ns, 'target'],
        `namespaces "${owner}" and "${ns}" both move to target namespace "${target}"`,
        `give namespaces.${ns} its own target namespace`,
      );
    } else targetOwner.set(target, ns);
    const queues = cfg.taskQueues;
    if (cfg.strategy === 'dual-workers' && (queues === undefined || (Array.isArray(queues) && queues.length === 0))) {
      report(
        ['namespaces', ns, 'taskQueues'],
        'dual-workers needs the task queues its workers poll',
        `list them, e.g. taskQueues: [${ns}]`,
      );
    }
    checkUnique(asArr(queues), ['namespaces', ns, 'taskQueues'], 'task queue', report);
    const tenants = asObj(cfg.tenants);
    const selector = asObj(tenants?.selector);
    if (selector) {
      const given = ['searchAttribute', 'workflowIdPrefix'].filter((key) => has(selector, key));
      if (given.length !== 1) {
        report(
          ['namespaces', ns, 'tenants', 'selector'],
          given.length ? 'the selector has both searchAttribute and workflowIdPrefix' : 'the selector is empty',
          'give exactly one: { searchAttribute: TenantId } or { workflowIdPrefix: "{tenant}-" }',
        );
      }
    }
    checkUnique(asArr(tenants?.ids), ['namespaces', ns, 'tenants', 'ids'], 'tenant id', report);
    checkTenantPrefixes(asStr(selector?.workflowIdPrefix), asArr(tenants?.ids), ['namespaces', ns, 'tenants', 'ids'], report);
  }

  // Gates: exactly one provider, thresholds that can be met, limits below the count.
  const gates = asObj(plan.gates);
  for (const [name, value] of entries(gates)) {
    const gate = asObj(value);
    if (!gate) continue;
    const providers = ['prometheus', 'temporal', 'synthetic', 'reconcile', 'compare', 'scheduleToStart'].filter((key) => has(gate, key));
    if (providers.length !== 1) {
      report(
        ['gates', name],
        providers.length ? `gate has ${providers.length} providers (${providers.join(', ')})` : 'gate has no provider',
        'give exactly one of prometheus, temporal, synthetic, reconcile, compare or scheduleToStart; define another gate for another check',
      );
    }
    const prom = asObj(gate.prometheus);
    if (prom && !has(prom, 'max') && !has(prom, 'min')) {
      report(
        ['gates', name, 'prometheus'],
        'no threshold',
        'add max (passes when the value ≤ max) and/or min (passes when the value ≥ min)',
      );
    }
    const max = asNum(prom?.max);
    const min = asNum(prom?.min);
    if (max !== undefined && min !== undefined && min > max) {
      report(['gates', name, 'prometheus', 'min'], `min ${min} is above max ${max}: no value can pass`, 'make min ≤ max');
    }
    const temporal = asObj(gate.temporal);
    if (temporal && !has(temporal, 'maxFailed') && !has(temporal, 'maxFailureRatio')) {
      report(['gates', name, 'temporal'], 'no limit', 'add maxFailed (a count) and/or maxFailureRatio (0..1)');
    }
    const compare = asObj(gate.compare);
    const minSamples = compare?.minSamples === undefined ? DEFAULT_COMPARE_MIN_SAMPLES : asNum(compare.minSamples);
    const maxSamples = compare?.maxSamples === undefined ? DEFAULT_COMPARE_MAX_SAMPLES : asNum(compare.maxSamples);
    if (compare && minSamples !== undefined && maxSamples !== undefined && minSamples > maxSamples) {
      report(
        ['gates', name, 'compare', 'minSamples'],
        `minSamples ${minSamples} is above maxSamples ${maxSamples}: the latency test could never conclude`,
        'make minSamples ≤ maxSamples',
      );
    }
    checkUnique(asArr(compare?.workflowTypes), ['gates', name, 'compare', 'workflowTypes'], 'workflow type', report);
    // The plan names no Prometheus but a gate's own: a compare gate on the SDK's metrics must say which one scrapes the workers.
    const compareSource = compare?.source ?? DEFAULT_COMPARE_SOURCE;
    if (compare && compareSource === 'prometheus' && !has(compare, 'prometheus')) {
      report(
        ['gates', name, 'compare', 'prometheus'],
        'source prometheus, but no Prometheus to read the SDK worker metrics from',
        "add prometheus: { url: http://127.0.0.1:9090 } (the Prometheus scraping the application's workers), or set source: visibility",
      );
    }
    if (compare && compareSource === 'visibility' && has(compare, 'prometheus')) {
      report(
        ['gates', name, 'compare', 'prometheus'],
        'a Prometheus is given but the gate reads visibility (source defaults to visibility)',
        'set source: prometheus to compare the SDK worker metrics, or remove prometheus',
      );
    }
    const count = gate.count === undefined ? DEFAULT_GATE_COUNT : asNum(gate.count);
    const failureLimit = gate.failureLimit === undefined ? DEFAULT_GATE_FAILURE_LIMIT : asNum(gate.failureLimit);
    if (count !== undefined && failureLimit !== undefined && Number.isInteger(count) && failureLimit >= count && count >= 1) {
      report(
        ['gates', name, 'failureLimit'],
        `failureLimit ${failureLimit} is not below count ${count}, so the gate can never fail`,
        `set failureLimit below ${count}, or raise count`,
      );
    }
  }

  // Defaults: canary steps strictly increasing.
  const steps = asArr(asObj(plan.defaults)?.percentSteps);
  steps?.forEach((step, i) => {
    const previous = i > 0 ? asNum(steps[i - 1]) : undefined;
    const current = asNum(step);
    if (previous !== undefined && current !== undefined && current <= previous) {
      report(
        ['defaults', 'percentSteps', i],
        `step ${current} does not increase on the step before it (${previous})`,
        'list whole percentages from 1 to 99 in strictly increasing order, e.g. [1, 10, 50]',
      );
    }
  });

  // Rings: unique names; units declared, each in one ring; gates defined.
  const ringOf = new Map<string, string>();
  const ringNames = new Map<string, number>();
  const wholeNamespaces = new Set<string>();
  const tenantNamespaces = new Set<string>();
  const gateNames = Object.keys(gates ?? {});
  asArr(plan.rings)?.forEach((value, r) => {
    const ring = asObj(value);
    if (!ring) return;
    const ringName = asStr(ring.name) ?? `rings[${r}]`;
    if (asStr(ring.name) !== undefined) {
      const first = ringNames.get(ringName);
      if (first !== undefined)
        report(['rings', r, 'name'], `ring name "${ringName}" is already used by rings[${first}]`, 'give every ring its own name');
      else ringNames.set(ringName, r);
    }
    asArr(ring.units)?.forEach((unitValue, u) => {
      const name = asStr(unitValue);
      const unit = name === undefined ? undefined : parseUnitName(name);
      if (name === undefined || !unit) return; // the schema reports malformed unit names
      const path: PathSegment[] = ['rings', r, 'units', u];
      const previous = ringOf.get(name);
      if (previous !== undefined) {
        report(path, `unit "${name}" is already in ring "${previous}"`, 'list every unit in exactly one ring');
        return;
      }
      ringOf.set(name, ringName);
      if (!namespaces) return;
      const ns = asObj(namespaces[unit.namespace]);
      if (!has(namespaces, unit.namespace)) {
        report(
          path,
          `unknown unit "${name}": namespace "${unit.namespace}" is not declared`,
          `declare namespaces.${unit.namespace}, or remove the unit from the ring`,
        );
        return;
      }
      if (unit.kind === 'tenant') {
        const ids = asArr(asObj(ns?.tenants)?.ids);
        if (ns && !ids?.includes(unit.tenant)) {
          report(
            path,
            `unknown unit "${name}": tenant "${unit.tenant}" is not declared`,
            `declare it under namespaces.${unit.namespace}.tenants.ids, or remove it from the ring`,
          );
          return;
        }
        if (wholeNamespaces.has(unit.namespace)) {
          report(
            path,
            `namespace "${unit.namespace}" is already moved whole by unit "namespace/${unit.namespace}"`,
            'move a namespace either whole or tenant by tenant, not both',
          );
        }
        tenantNamespaces.add(unit.namespace);
      } else {
        if (tenantNamespaces.has(unit.namespace)) {
          report(
            path,
            `namespace "${unit.namespace}" is already moved tenant by tenant`,
            'move a namespace either whole or tenant by tenant, not both',
          );
        }
        wholeNamespaces.add(unit.namespace);
      }
    });
    const ringGates = asArr(ring.gates);
    ringGates?.forEach((gateValue, g) => {
      const gate = asStr(gateValue);
      if (gate !== undefined && !has(gates, gate)) {
        report(
          ['rings', r, 'gates', g],
          `unknown gate "${gate}"`,
          gateNames.length
            ? `name one of the gates defined under gates (${gateNames.join(', ')}), or define gates.${gate}`
            : `define gates.${gate}`,
        );
      }
    });
    checkUnique(ringGates, ['rings', r, 'gates'], 'gate', report);
    // A schedule-to-start gate describes the units' task queues: a namespace that lists none has nothing to describe.
    ringGates?.forEach((gateValue, g) => {
      const gate = asStr(gateValue);
      if (gate === undefined || !has(asObj(gates?.[gate]), 'scheduleToStart')) return;
      const bare = new Set<string>();
      for (const unitValue of asArr(ring.units) ?? []) {
        const unit = typeof unitValue === 'string' ? parseUnitName(unitValue) : undefined;
        const ns = unit && namespaces ? asObj(namespaces[unit.namespace]) : undefined;
        if (unit && ns && !(asArr(ns.taskQueues)?.length ?? 0)) bare.add(unit.namespace);
      }
      for (const ns of bare) {
        report(
          ['rings', r, 'gates', g],
          `gate "${gate}" is a scheduleToStart gate but namespace "${ns}" lists no task queues`,
          `list the task queues its workers poll under namespaces.${ns}.taskQueues, or use another gate in this ring`,
        );
      }
    });
  });

  checkCodec(asObj(plan.codec), report);
  checkOperators(asObj(plan.operators), report);
  return issues;
}

/** One key, one person: a key listed under two names would let one person give both approvals of a two-person step. */
function checkOperators(operators: Obj | undefined, report: (path: PathSegment[], message: string, hint: string) => void): void {
  if (!operators) return;
  const byKey = new Map<string, string>();
  for (const [name, value] of Object.entries(operators)) {
    const key = asStr(asObj(value)?.publicKey);
    if (key === undefined) continue;
    const first = byKey.get(key);
    if (first !== undefined)
      report(
        ['operators', name, 'publicKey'],
        `the same key as operators.${first}: one key under two names would count one person twice`,
        `give ${name} their own key (\`cutover keys new ${name}\`)`,
      );
    else byKey.set(key, name);
  }
}

/**
 * Payload encryption: key IDs are unique and each key has exactly one source; the current key is in the
 * ring; the codec server authenticates one way, and JWT claims are only given with a JWKS.
 */
function checkCodec(codec: Obj | undefined, report: (path: PathSegment[], message: string, hint: string) => void): void {
  if (!codec) return;
  const ids = new Map<string, number>();
  asArr(codec.keys)?.forEach((value, i) => {
    const key = asObj(value);
    if (!key) return;
    const id = asStr(key.id);
    if (id !== undefined) {
      const first = ids.get(id);
      if (first !== undefined) {
        report(
          ['codec', 'keys', i, 'id'],
          `key id "${id}" is already used by codec.keys[${first}]`,
          'give every key its own id (a payload names the key that encrypted it by this id)',
        );
      } else ids.set(id, i);
    }
    const label = id !== undefined ? `key "${id}"` : 'the key';
    if (has(key, 'env') && has(key, 'file')) {
      report(
        ['codec', 'keys', i, 'file'],
        `${label} has both env and file: the key must come from one place`,
        `keep one: env (an environment variable) or file (a file), and remove the other from codec.keys[${i}]`,
      );
    } else if (!has(key, 'env') && !has(key, 'file')) {
      report(
        ['codec', 'keys', i],
        `${label} names neither env nor file, so it cannot be read`,
        'add env: <variable holding the key> or file: <file holding the key> (32 random bytes, base64)',
      );
    }
  });
  const current = asStr(codec.current);
  if (current !== undefined && asArr(codec.keys) !== undefined && !ids.has(current)) {
    report(
      ['codec', 'current'],
      `unknown key "${current}"`,
      ids.size
        ? `name one of the keys under codec.keys (${[...ids.keys()].join(', ')}), or add a key with id ${current}`
        : `add a key with id ${current} under codec.keys`,
    );
  }
  const server = asObj(codec.server);
  if (!server) return;
  if (has(server, 'tokenEnv') && has(server, 'jwksUrl')) {
    report(
      ['codec', 'server', 'jwksUrl'],
      'tokenEnv and jwksUrl are both set: the codec server checks one kind of credential',
      'keep one: tokenEnv (a shared bearer token) or jwksUrl (JWTs checked against a JWKS), and remove the other',
    );
  } else if (!has(server, 'tokenEnv') && !has(server, 'jwksUrl')) {
    report(
      ['codec', 'server'],
      'the codec server has no authentication: anyone who can reach it could decrypt payloads',
      'add tokenEnv: <variable holding a bearer token> or jwksUrl: <JWKS URL the JWTs are checked against>',
    );
  }
  for (const claim of ['jwtAudience', 'jwtIssuer']) {
    if (has(server, claim) && !has(server, 'jwksUrl')) {
      report(['codec', 'server', claim], `${claim} applies only to JWTs, and jwksUrl is not set`, `remove ${claim}, or set jwksUrl`);
    }
  }
  checkUnique(asArr(server.origins), ['codec', 'server', 'origins'], 'origin', report);
}

/**
 * A cluster's kind must agree with where it is: a Temporal Cloud address is `cloud` (Cloud has no operator
 * API: creating namespaces there would fail mid-campaign), and a local dev or PostgreSQL server is not.
 */
function checkClusterKind(name: string, c: Obj | undefined, report: (path: PathSegment[], message: string, hint: string) => void): void {
  const kind = asStr(c?.kind);
  const address = asStr(c?.address);
  const server = asStr(asObj(c?.local)?.server);
  if (kind === 'self-hosted' && address !== undefined && isCloudAddress(address)) {
    report(
      ['clusters', name, 'kind'],
      `kind is self-hosted, but ${addressHost(address)} is a Temporal Cloud address`,
      `set clusters.${name}.kind: cloud (or remove kind), or correct clusters.${name}.address`,
    );
  }
  if (kind === 'cloud' && server !== undefined && server !== 'cloud') {
    report(
      ['clusters', name, 'kind'],
      `kind is cloud, but local.server ${server} runs a self-hosted server that cutover provisions itself`,
      `set clusters.${name}.local.server: cloud for a Cloud-shaped local cluster, or set kind: self-hosted (or remove kind)`,
    );
  }
  if (kind === 'self-hosted' && server === 'cloud') {
    report(
      ['clusters', name, 'kind'],
      'kind is self-hosted, but local.server cloud runs a Cloud-shaped cluster (no operator API)',
      `set clusters.${name}.kind: cloud (or remove kind), or pick local.server dev or postgres`,
    );
  }
}

/** Reports the second and later occurrences of a string in a list. */
function checkUnique(
  list: unknown[] | undefined,
  path: PathSegment[],
  what: string,
  report: (path: PathSegment[], message: string, hint: string) => void,
): void {
  const seen = new Set<string>();
  list?.forEach((value, i) => {
    if (typeof value !== 'string') return;
    if (seen.has(value)) report([...path, i], `${what} "${value}" is listed twice`, 'list it once');
    seen.add(value);
  });
}

/**
 * Refuses tenants whose workflow-ID prefixes overlap (`acme` and `acme-corp` under `"{tenant}-"`):
 * routing would still pick the longest match, but a prefix query for the shorter one (its schedules,
 * the drain's and reconcile's `WorkflowId STARTS_WITH`) would also pick the longer one's runs.
 */
function checkTenantPrefixes(
  pattern: string | undefined,
  ids: unknown[] | undefined,
  path: PathSegment[],
  report: (path: PathSegment[], message: string, hint: string) => void,
): void {
  if (pattern === undefined || !pattern.includes(TENANT_PLACEHOLDER) || !ids) return;
  const tenants = ids.filter((id): id is string => typeof id === 'string');
  for (const pair of ambiguousTenants(pattern, tenants)) {
    report(
      [...path, ids.indexOf(pair.longer)],
      `tenants "${pair.shorter}" and "${pair.longer}" overlap under workflowIdPrefix "${pattern}": ` +
        `every ID of ${pair.longer} ("${pair.longerPrefix}…") also starts with ${pair.shorter}'s prefix "${pair.shorterPrefix}", ` +
        `so ${pair.shorter}'s schedules and run counts would take in ${pair.longer}'s`,
      `select tenants by searchAttribute, or put a character tenant IDs cannot contain right after {tenant} ` +
        `(e.g. "{tenant}/"), or rename one of the two so that neither prefix starts the other`,
    );
  }
}
