/**
 * The zod schema of the plan file: the shape, type and range of every value on its own. How values
 * relate to each other (references, uniqueness, exactly-one-of) is checked in `cross-checks.ts`, on
 * the raw input, so that those problems are reported even when some value here is malformed.
 */
import { z } from 'zod';
import { parseUnitName } from '../domain/ids';
import { COMPARE_PROMETHEUS_GATE_LABELS } from './defaults';
import { DURATION_FORMS, parseDuration } from './duration';
import { show } from './issues';

/** Params of the custom issues raised here; `toRawIssues` in validate.ts reads them. */
export interface IssueParams {
  hint: string;
  atKey?: boolean;
}

function fail(ctx: z.RefinementCtx, message: string, hint: string, atKey?: boolean): void {
  const params: IssueParams = atKey ? { hint, atKey } : { hint };
  ctx.addIssue({ code: z.ZodIssueCode.custom, message, params });
}

/** Edit distance, for "did you mean" hints on misspelt keys. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length];
}

/** The closest of `known` to `key`, when it is close enough to be a typo. */
export function suggestKey(key: string, known: readonly string[]): string | undefined {
  let best: { name: string; d: number } | undefined;
  for (const name of known) {
    const d = name.toLowerCase() === key.toLowerCase() ? 0 : distance(key, name);
    if (!best || d < best.d) best = { name, d };
  }
  return best && best.d <= Math.max(1, Math.floor(best.name.length / 3)) ? best.name : undefined;
}

/**
 * A strict object: every unknown key is an error of its own, at the key's path, with a "did you
 * mean" hint. (zod's `.strict()` reports all unknown keys as one issue on the parent object, which
 * can neither point at the key's line nor suggest the right spelling.) Keys in `refused` get their own
 * message and fix (a secret written where only its location belongs).
 */
function strictObject<T extends z.ZodRawShape>(shape: T, refused: Readonly<Record<string, { message: string; hint: string }>> = {}) {
  const known = Object.keys(shape);
  return z.object(shape).catchall(
    z.unknown().superRefine((_value, ctx) => {
      const key = String(ctx.path[ctx.path.length - 1]);
      const special = Object.prototype.hasOwnProperty.call(refused, key) ? refused[key] : undefined;
      if (special) {
        fail(ctx, special.message, special.hint, true);
        return;
      }
      const guess = suggestKey(key, known);
      fail(
        ctx,
        `unknown key "${key}"`,
        guess ? `did you mean "${guess}"? (allowed here: ${known.join(', ')})` : `remove it (allowed here: ${known.join(', ')})`,
        true,
      );
    }),
  );
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const NAME_MAX = 200;

/** A name that also appears in workflow IDs, unit names and search attributes. */
function name(what: string, example: string) {
  return z.string().superRefine((value, ctx) => {
    if (!NAME_RE.test(value) || value.length > NAME_MAX) {
      fail(
        ctx,
        `${what} "${value}" is not a valid name`,
        `use up to ${NAME_MAX} letters, digits, ".", "_" or "-", starting with a letter or digit (e.g. ${example})`,
      );
    }
  });
}

/** A record key that must be a valid name; the problem is reported at the key. */
function keyName(what: string, example: string) {
  return z.string().superRefine((value, ctx) => {
    if (!NAME_RE.test(value) || value.length > NAME_MAX) {
      fail(
        ctx,
        `${what} "${value}" is not a valid name`,
        `rename it with letters, digits, ".", "_" or "-", starting with a letter or digit (e.g. ${example})`,
        true,
      );
    }
  });
}

/** A non-blank string (blank values of keys are already "unset"; this catches blank list items). */
const text = z.string().superRefine((value, ctx) => {
  if (value.trim() === '') fail(ctx, 'empty value', 'write a value, or remove the entry');
});

function integer(min: number, max?: number) {
  return z.number().superRefine((value, ctx) => {
    if (!Number.isInteger(value)) fail(ctx, `${value} is not a whole number`, `write a whole number ≥ ${min}`);
    else if (value < min) fail(ctx, `${value} is less than ${min}`, `write a whole number ≥ ${min}`);
    else if (max !== undefined && value > max) fail(ctx, `${value} is more than ${max}`, `write a whole number from ${min} to ${max}`);
  });
}

const finite = z.number().superRefine((value, ctx) => {
  if (!Number.isFinite(value)) fail(ctx, `${value} is not a finite number`, 'write a finite number such as 0.5');
});

const ratio = z.number().superRefine((value, ctx) => {
  if (!(value >= 0 && value <= 1)) fail(ctx, `${value} is not a ratio between 0 and 1`, 'write a number from 0 to 1, e.g. 0.99 for 99%');
});

/** `never` or a duration (see duration.ts) in milliseconds, zero allowed: how long a completed unit stays reversible. */
const finalizeAfter = z.unknown().transform((value, ctx): number | 'never' => {
  if (value === 'never') return 'never';
  const ms = parseDuration(value);
  if (ms === undefined) {
    fail(
      ctx,
      `${show(value)} is not a duration or never`,
      `write how long a completed unit stays reversible (${DURATION_FORMS}; 0s: final at once), or never (until \`cutover finalize\`)`,
    );
    return z.NEVER;
  }
  return ms;
});

/** A duration (see duration.ts), converted to milliseconds; `positive` rejects zero. */
function duration(positive: boolean) {
  return z.unknown().transform((value, ctx): number => {
    if (value === undefined) {
      fail(ctx, 'a duration is required', `write ${DURATION_FORMS}`);
      return z.NEVER;
    }
    const ms = parseDuration(value);
    if (ms === undefined) {
      fail(ctx, `${show(value)} is not a duration`, `write ${DURATION_FORMS}`);
      return z.NEVER;
    }
    if (positive && ms === 0) {
      fail(ctx, 'the duration must be longer than zero', `write a positive duration: ${DURATION_FORMS}`);
      return z.NEVER;
    }
    return ms;
  });
}

const HOST_PORT_RE = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?):(\d{1,5})$/;

/** `host:port` of a Temporal frontend. */
const address = z.string().superRefine((value, ctx) => {
  const match = HOST_PORT_RE.exec(value);
  const port = match ? Number(match[3]) : 0;
  if (!match || port < 1 || port > 65535) {
    const hint = value.includes('://')
      ? 'write host:port without a scheme, e.g. 127.0.0.1:7233 or my-ns.a1b2c.tmprl.cloud:7233'
      : 'write host:port with a port from 1 to 65535, e.g. 127.0.0.1:7233';
    fail(ctx, `"${value}" is not a host:port address`, hint);
  }
});

/** `host:port` of a Redis Sentinel. */
const sentinelAddress = z.string().superRefine((value, ctx) => {
  const match = HOST_PORT_RE.exec(value);
  const port = match ? Number(match[3]) : 0;
  if (!match || port < 1 || port > 65535) {
    fail(
      ctx,
      `"${redactUrl(value)}" is not a host:port address`,
      value.includes('://')
        ? 'write the host:port of a sentinel without a scheme, e.g. 10.0.0.1:26379'
        : 'write the host:port of a sentinel with a port from 1 to 65535, e.g. 10.0.0.1:26379',
    );
  }
});

/** The name a Sentinel monitors its master by (one word: it is written unquoted in sentinel.conf). */
const sentinelMasterName = z.string().superRefine((value, ctx) => {
  if (!/^[^\s]+$/.test(value) || value.length > NAME_MAX) {
    fail(
      ctx,
      `${JSON.stringify(value)} is not a master name a sentinel can monitor`,
      "write the <name> of the sentinels' `sentinel monitor <name> <host> <port> <quorum>` line, one word, e.g. cutover",
    );
  }
});

/** `host:port` a server of cutover's listens on. */
const listenAddress = z.string().superRefine((value, ctx) => {
  const match = HOST_PORT_RE.exec(value);
  const port = match ? Number(match[3]) : 0;
  if (!match || port < 1 || port > 65535) {
    fail(
      ctx,
      `"${value}" is not a host:port address`,
      'write the host:port to listen on, e.g. 127.0.0.1:8888 (0.0.0.0:8888 listens on every interface)',
    );
  }
});

/** Whether a URL carries a password (`redis://:secret@host`, `https://user:secret@host`). */
export function urlHasPassword(value: string): boolean {
  try {
    return new URL(value).password !== '';
  } catch {
    // Not a URL at all: judge by the shape, so a malformed one with a secret in it is never echoed either.
    return /^[a-z][a-z0-9+.-]*:\/\/[^/@]*:[^/@]*@/i.test(value);
  }
}

/** A URL without its user info, for messages (a password written into the URL is never echoed). */
export function redactUrl(value: string): string {
  return value.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1***@');
}

/**
 * A URL of one of `protocols`. A password in it is refused: it would end up in logs, status output and
 * workflow histories, so it comes from the environment variable named by `secretField` instead.
 */
function url(protocols: string[], example: string, secretField?: string) {
  return z.string().superRefine((value, ctx) => {
    if (secretField && urlHasPassword(value)) {
      fail(
        ctx,
        `the URL ${redactUrl(value)} has a password in it`,
        `remove the password from the URL and set ${secretField} to the name of an environment variable that holds it`,
      );
      return;
    }
    let ok = false;
    try {
      ok = protocols.includes(new URL(value).protocol);
    } catch {
      ok = false;
    }
    if (!ok) {
      fail(ctx, `"${redactUrl(value)}" is not a ${protocols.map((p) => p.slice(0, -1)).join('/')} URL`, `write a URL such as ${example}`);
    }
  });
}

/**
 * A web origin as a browser sends it in its `Origin` header: `scheme://host[:port]`, lower case, without
 * a path or a trailing slash. CORS compares origins as strings, so anything else would never match.
 */
const webOrigin = z.string().superRefine((value, ctx) => {
  let parsed: URL | undefined;
  try {
    parsed = new URL(value);
  } catch {
    parsed = undefined;
  }
  if (!parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')) {
    fail(
      ctx,
      `"${redactUrl(value)}" is not an http(s) origin`,
      'write the scheme, host and port of a Temporal UI, e.g. http://localhost:8233 (no wildcards: list each UI)',
    );
  } else if (parsed.origin !== value) {
    fail(
      ctx,
      `"${redactUrl(value)}" is not an origin as a browser sends it (scheme://host[:port], lower case, no path or trailing slash)`,
      `write ${parsed.origin}`,
    );
  }
});

/** The name of an environment variable that holds a secret (never the secret itself: it is not echoed). */
function envName(what: string, example: string) {
  return z.string().superRefine((value, ctx) => {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(value)) {
      fail(
        ctx,
        'not an environment variable name (the value is not shown: it may be a secret)',
        `name the environment variable that holds the ${what}, e.g. ${example} (never the ${what} itself)`,
      );
    }
  });
}

const searchAttributeName = z.string().superRefine((value, ctx) => {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(value)) {
    fail(ctx, `"${value}" is not a search attribute name`, 'name a Keyword search attribute of letters, digits and "_", e.g. TenantId');
  }
});

const tenantId = z.string().superRefine((value, ctx) => {
  if (!/^[^\s/]+$/.test(value)) {
    fail(ctx, `tenant id ${JSON.stringify(value)} may not contain "/" or spaces`, 'use an id without "/" or whitespace, e.g. acme');
  }
});

const unitNameSchema = z.string().superRefine((value, ctx) => {
  if (!parseUnitName(value)) {
    fail(ctx, `"${value}" is not a unit name`, 'write namespace/<namespace> or tenant/<namespace>/<tenant>, e.g. tenant/detections/acme');
  }
});

const tlsSchema = strictObject({
  clientCertPath: text.optional(),
  clientKeyPath: text.optional(),
  serverRootCACertPath: text.optional(),
  serverNameOverride: text.optional(),
});

const localSchema = strictObject({
  server: z.enum(['dev', 'postgres', 'cloud']).optional(),
  shards: integer(1, 16384).optional(),
  auth: z.enum(['mtls', 'api-key']).optional(),
});

const clusterSchema = strictObject({
  address,
  namespaceSuffix: text.optional(),
  tls: tlsSchema.optional(),
  kind: z.enum(['self-hosted', 'cloud']).optional(),
  apiKeyEnv: envName('API key', 'CLOUD_API_KEY').optional(),
  apiKeyFile: text.optional(),
  local: localSchema.optional(),
});

const tenantsSchema = strictObject({
  selector: strictObject({
    searchAttribute: searchAttributeName.optional(),
    workflowIdPrefix: z
      .string()
      .superRefine((value, ctx) => {
        if (!value.includes('{tenant}')) {
          fail(ctx, `workflowIdPrefix "${value}" does not contain {tenant}`, 'put {tenant} where the tenant id appears, e.g. "{tenant}-"');
        }
      })
      .optional(),
  }),
  ids: z.array(tenantId).min(1),
});

const namespaceName = name('namespace', 'payments');

/** How the namespace's schedules move (its tenants' schedules too). */
const schedulesSchema = strictObject({
  backfill: z.enum(['gap', 'none']).optional(),
});

const namespaceSchema = strictObject({
  target: namespaceName.optional(),
  strategy: z.enum(['dual-workers', 'drain-and-switch']),
  taskQueues: z.array(text).optional(),
  tenants: tenantsSchema.optional(),
  schedules: schedulesSchema.optional(),
});

const prometheusSchema = strictObject({
  url: url(['http:', 'https:'], 'http://127.0.0.1:9090', 'tokenEnv'),
  tokenEnv: envName('bearer token', 'PROMETHEUS_TOKEN').optional(),
  query: text,
  max: finite.optional(),
  min: finite.optional(),
});

const temporalGateSchema = strictObject({
  maxFailed: integer(0).optional(),
  maxFailureRatio: ratio.optional(),
});

const syntheticSchema = strictObject({
  workflows: integer(1, 10_000),
  minSuccess: ratio,
  maxP99: duration(true),
});

const reconcileSchema = strictObject({
  maxDuplicates: integer(0).optional(),
  maxStranded: integer(0).optional(),
});

/** A significance level: above 0 (a test could never fail) and at most 0.5 (beyond it a test fails on noise). */
const alpha = z.number().superRefine((value, ctx) => {
  if (!(value > 0 && value <= 0.5)) fail(ctx, `${value} is not a significance level`, 'write a number above 0 and at most 0.5, e.g. 0.05');
});

/** A relative tolerance: 0.1 lets the target be 10 % slower. */
const tolerance = z.number().superRefine((value, ctx) => {
  if (!(value >= 0 && value <= 10))
    fail(ctx, `${value} is not a relative tolerance`, 'write a number from 0 to 10, e.g. 0.1 for 10 % slower');
});

/** A Prometheus label name a side's workers carry; the gate sets namespace, task_queue, workflow_type and le itself. */
const promLabelName = z.string().superRefine((value, ctx) => {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(value) || value.startsWith('__')) {
    fail(
      ctx,
      `"${value}" is not a Prometheus label name`,
      'write letters, digits and _ (not starting with a digit or __), e.g. cluster',
      true,
    );
  } else if ((COMPARE_PROMETHEUS_GATE_LABELS as readonly string[]).includes(value)) {
    fail(
      ctx,
      `the gate sets ${value} itself`,
      "remove it: the side's namespace, the unit's task queues and the workflow type are matched already",
      true,
    );
  }
});

/** The Prometheus scraping the application's workers, for a compare gate reading the SDK's metrics. */
const comparePrometheusSchema = strictObject({
  url: url(['http:', 'https:'], 'http://127.0.0.1:9090', 'tokenEnv'),
  tokenEnv: envName('bearer token', 'PROMETHEUS_TOKEN').optional(),
  sourceLabels: z.record(promLabelName, text).optional(),
  targetLabels: z.record(promLabelName, text).optional(),
});

const compareSchema = strictObject({
  workflowTypes: z.array(text).min(1),
  source: z.enum(['visibility', 'prometheus']).optional(),
  prometheus: comparePrometheusSchema.optional(),
  minSamples: integer(1, 100_000).optional(),
  maxSamples: integer(1, 5_000).optional(),
  alpha: alpha.optional(),
  latencyTolerance: tolerance.optional(),
  baselineLookback: duration(true).optional(),
});

const scheduleToStartSchema = strictObject({
  maxBacklogAge: duration(true),
  maxBacklogCount: integer(0).optional(),
});

const gateSchema = strictObject({
  prometheus: prometheusSchema.optional(),
  temporal: temporalGateSchema.optional(),
  synthetic: syntheticSchema.optional(),
  reconcile: reconcileSchema.optional(),
  compare: compareSchema.optional(),
  scheduleToStart: scheduleToStartSchema.optional(),
  interval: duration(true).optional(),
  count: integer(1).optional(),
  failureLimit: integer(0).optional(),
  consecutiveErrorLimit: integer(0).optional(),
});

const defaultsSchema = strictObject({
  bake: duration(false).optional(),
  percentSteps: z.array(integer(1, 99)).optional(),
  onGateFailure: z.enum(['rollback', 'hold']).optional(),
  drainDeadline: duration(true).optional(),
  stragglers: z.enum(['wait', 'report', 'terminate', 'handoff']).optional(),
  holdTimeout: duration(true).optional(),
  finalizeAfter: finalizeAfter.optional(),
});

const ringSchema = strictObject({
  name: name('ring', 'ring0-synthetic'),
  units: z.array(unitNameSchema).min(1),
  gates: z.array(text).optional(),
  batchSize: integer(1).optional(),
  approval: z.enum(['two-person']).optional(),
  bake: duration(false).optional(),
});

/** Keys under which someone would write a codec key itself: refused with their own fix. */
const KEY_MATERIAL: Record<string, { message: string; hint: string }> = Object.fromEntries(
  ['key', 'secret', 'value', 'material', 'base64'].map((name) => [
    name,
    {
      message: `"${name}" would put key material in the plan (the value is not shown)`,
      hint:
        'remove it: put the key (32 random bytes, base64) in an environment variable or a file, ' +
        'and name it with env or file, e.g. { id: 2025-01, env: CUTOVER_CODEC_KEY_2025_01 }',
    },
  ]),
);

const codecKeySchema = strictObject(
  {
    id: name('key id', '2025-01'),
    env: envName('codec key', 'CUTOVER_CODEC_KEY_2025_01').optional(),
    file: text.optional(),
  },
  KEY_MATERIAL,
);

const codecServerSchema = strictObject({
  listen: listenAddress.optional(),
  tokenEnv: envName('bearer token', 'CUTOVER_CODEC_TOKEN').optional(),
  jwksUrl: url(['http:', 'https:'], 'https://login.example.com/.well-known/jwks.json').optional(),
  jwtAudience: text.optional(),
  jwtIssuer: text.optional(),
  origins: z.array(webOrigin).optional(),
  includeCredentials: z.boolean().optional(),
  maxBodyBytes: integer(1).optional(),
});

const codecSchema = strictObject(
  {
    keys: z.array(codecKeySchema).min(1),
    current: text,
    server: codecServerSchema.optional(),
  },
  KEY_MATERIAL,
);

/** An operator's public key and roles; the secret key never goes in the plan. */
const operatorSchema = strictObject(
  {
    publicKey: z.string().superRefine((value, ctx) => {
      if (!/^ed25519:[0-9a-f]{64}$/.test(value))
        fail(
          ctx,
          'not an Ed25519 public key',
          'paste the line `cutover keys new <name>` printed (or the .pub file): ed25519:<64 hex digits>',
        );
    }),
    roles: z.array(z.enum(['operator', 'approver', 'controller'])).min(1),
  },
  Object.fromEntries(
    ['secretKey', 'privateKey', 'key', 'secret'].map((name) => [
      name,
      {
        message: `"${name}" would put a secret key in the plan (the value is not shown)`,
        hint: 'remove it: the plan lists only publicKey; the operator keeps the .key file and signs with --key',
      },
    ]),
  ),
);

function nonEmptyRecord<V extends z.ZodTypeAny>(key: z.ZodType<string>, value: V, what: string, example: string) {
  return z.record(key, value).superRefine((record, ctx) => {
    if (Object.keys(record).length === 0) fail(ctx, `no ${what} declared`, `declare at least one, e.g. ${example}`);
  });
}

/** The plan file as written (after blank strings were turned into "unset"); `toPlan` fills defaults. */
export const planFileSchema = strictObject({
  name: name('plan name', 'legacy-to-cloud'),
  clusters: nonEmptyRecord(keyName('cluster name', 'legacy'), clusterSchema, 'clusters', 'legacy: { address: 127.0.0.1:7233 }'),
  source: text,
  target: text,
  control: strictObject({
    cluster: text.optional(),
    namespace: namespaceName.optional(),
    taskQueue: text.optional(),
  }).optional(),
  redis: strictObject({
    url: url(['redis:', 'rediss:'], 'redis://127.0.0.1:6379', 'redis.passwordEnv').optional(),
    sentinel: strictObject({
      masterName: sentinelMasterName,
      addresses: z.array(sentinelAddress).min(1),
      passwordEnv: envName('Sentinel password', 'REDIS_SENTINEL_PASSWORD').optional(),
      tls: z.boolean().optional(),
    }).optional(),
    passwordEnv: envName('Redis password', 'REDIS_PASSWORD').optional(),
    caPath: text.optional(),
    keyPrefix: text.optional(),
    clientStaleness: duration(true).optional(),
    routeCheck: duration(true).optional(),
  }).optional(),
  namespaces: nonEmptyRecord(
    keyName('namespace', 'payments'),
    namespaceSchema,
    'namespaces',
    'payments: { strategy: dual-workers, taskQueues: [payments] }',
  ),
  gates: z.record(keyName('gate name', 'errors'), gateSchema).optional(),
  defaults: defaultsSchema.optional(),
  rings: z.array(ringSchema).min(1),
  codec: codecSchema.optional(),
  operators: z.record(keyName('operator name', 'alice'), operatorSchema).optional(),
});

/** The plan file as the schema outputs it. */
export type PlanFile = z.output<typeof planFileSchema>;
