/**
 * The validated plan (docs/design.md, "Plan file"). Durations are milliseconds; every default is filled in,
 * so consumers never re-apply defaults. A `Plan` is plain JSON and validates again unchanged, so it
 * can travel as workflow input or be handed back to `loadPlan`.
 */

/** A duration in milliseconds. */
export type DurationMs = number;

/**
 * mTLS / TLS settings of a cluster connection. Paths are read by whoever connects, not by validation; a
 * plan loaded from a file has them resolved against the file's directory.
 */
export interface TlsConfig {
  clientCertPath?: string;
  clientKeyPath?: string;
  serverRootCACertPath?: string;
  serverNameOverride?: string;
}

/** Kind of local server `cutover dev up` runs for a cluster. */
export type LocalServerKind = 'dev' | 'postgres' | 'cloud';

/** How clients authenticate to a Cloud-shaped local cluster (`local.server: cloud`). */
export type LocalAuthKind = 'mtls' | 'api-key';

/** How `cutover dev up` runs a cluster locally. */
export interface LocalClusterConfig {
  server: LocalServerKind;
  /** History shards: 1 for the dev server and the Cloud-shaped cluster, default 4 for postgres. */
  shards: number;
  /** Only with `server: cloud` (default `api-key` there). */
  auth?: LocalAuthKind;
}

/**
 * What a cluster lets cutover do. `cloud` (Temporal Cloud, or a local cluster shaped like it): no operator
 * API, so namespaces and search attributes are only verified, and `tcld` commands are printed for what is
 * missing. `self-hosted`: cutover may create them.
 */
export type ClusterKind = 'self-hosted' | 'cloud';

/** A Temporal frontend endpoint and its credentials. */
export interface ClusterConfig {
  /** `host:port` of the frontend. */
  address: string;
  /** Always filled in: `cloud` for a `*.tmprl.cloud` / `*.api.temporal.io` address or `local.server: cloud`. */
  kind: ClusterKind;
  /** Appended to every namespace name on this cluster (Temporal Cloud's `.<account>`). */
  namespaceSuffix?: string;
  tls?: TlsConfig;
  /** Name of the environment variable that holds the API key (never the key itself). */
  apiKeyEnv?: string;
  /** A file holding the API key (exclusive with `apiKeyEnv`); read at connect time, never logged. */
  apiKeyFile?: string;
  local?: LocalClusterConfig;
}

/** Where cutover's own workflows run. */
export interface ControlConfig {
  cluster: string;
  namespace: string;
  taskQueue: string;
}

/**
 * Redis through Sentinel: the sentinels name the current master, and clients follow a failover to the
 * replica they promote (docs/design.md, "Redis in production").
 */
export interface RedisSentinelConfig {
  /** The name the sentinels monitor the master by (`sentinel monitor <name> …`). */
  masterName: string;
  /** `host:port` of the sentinels (one is enough to start; the others are learnt from it). */
  addresses: string[];
  /** Name of the environment variable holding the sentinels' own password (their `requirepass`). */
  passwordEnv?: string;
  /** TLS to the sentinels and to the master, with the CA of `redis.caPath`. */
  tls?: boolean;
}

/** Redis holding the routing records: one server at `url`, or the master a set of sentinels names. */
export interface RedisConfig {
  /** The one Redis; absent exactly when `sentinel` is given. */
  url?: string;
  sentinel?: RedisSentinelConfig;
  keyPrefix: string;
  /**
   * Longest a routed client may keep using routes it cached from Redis while Redis is unreachable
   * (then it fails closed). A drain waits at least this long after the route's last change, so no
   * client with a stale route can still start work on the side being drained.
   */
  clientStaleness: DurationMs;
  /**
   * How often each unit's workflow reads its routing record back while it waits, restoring one Redis lost
   * (unset: every 10 s, `DEFAULT_ROUTE_CHECK_MS`). Keep it below `clientStaleness` so applications ride
   * through a loss on their cached routes.
   */
  routeCheck?: DurationMs;
  /**
   * Name of the environment variable holding the Redis password (a password in `url` is refused); with
   * Sentinel, the password of the master and its replicas.
   */
  passwordEnv?: string;
  /** CA certificate that signed the Redis server's certificate (only with a `rediss://` URL or `sentinel.tls`). */
  caPath?: string;
}

/** How a namespace is moved. */
export type Strategy = 'dual-workers' | 'drain-and-switch';

import type { TenantSelector } from '../domain/selectors';

export type { TenantSelector };

/** The tenants of a namespace that are routed on their own. */
export interface TenantsConfig {
  selector: TenantSelector;
  ids: string[];
}

/** One namespace of the source, keyed in `Plan.namespaces` by its source name. */
export interface NamespaceConfig {
  /** Namespace name on the target (defaults to the source name). */
  target: string;
  strategy: Strategy;
  /** Task queues of the application's workers (non-empty for dual-workers). */
  taskQueues: string[];
  tenants?: TenantsConfig;
  /** How its schedules move (each switched to the target exactly once at cutover). */
  schedules: SchedulesConfig;
}

/** What happens to a schedule's fires that fall between its pause on one cluster and its unpause on the other. */
export type ScheduleBackfill = 'gap' | 'none';

/** How a namespace's schedules move. */
export interface SchedulesConfig {
  /** `gap`: the missed fires run on the new cluster; `none`: they are only reported. */
  backfill: ScheduleBackfill;
}

/** A PromQL query compared to thresholds; at least one of `max` / `min`. */
export interface PrometheusGate {
  url: string;
  query: string;
  /** Name of the environment variable holding a bearer token, sent as `Authorization: Bearer …`. */
  tokenEnv?: string;
  /** Passes when the value is ≤ max. */
  max?: number;
  /** Passes when the value is ≥ min. */
  min?: number;
}

/** Temporal-native measure of the unit's workflows on the target; at least one limit. */
export interface TemporalGate {
  /** Failed (failed, timed out, terminated) runs tolerated since the step began. */
  maxFailed?: number;
  /** Ratio of failed to closed runs tolerated (0..1). */
  maxFailureRatio?: number;
}

/** Synthetic probe workflows run on the target. */
export interface SyntheticGate {
  workflows: number;
  /** Share of probes that must succeed (0..1). */
  minSuccess: number;
  maxP99: DurationMs;
}

/** Reconcile report limits. */
export interface ReconcileGate {
  maxDuplicates: number;
  maxStranded: number;
}

/** The same workflow types on source and target over the bake window, from visibility or Prometheus (defaults applied). */
export interface CompareGate {
  workflowTypes: string[];
  /** Where runs are read: visibility, or the SDK's worker metrics in `prometheus`. Absent: visibility. */
  source?: 'visibility' | 'prometheus';
  /** The Prometheus scraping the application's workers (present exactly when source is prometheus). */
  prometheus?: {
    url: string;
    tokenEnv?: string;
    /** Labels selecting each side's workers (name → value), when one Prometheus scrapes both with the same namespace name. */
    sourceLabels?: Record<string, string>;
    targetLabels?: Record<string, string>;
  };
  /** Least runs per side for a test to conclude (below it: inconclusive). */
  minSamples: number;
  /** Most completed runs listed per side and type for the latency test (visibility only). */
  maxSamples: number;
  /** Significance level of the one-sided tests. */
  alpha: number;
  /** How much slower (relative) the target may be before it counts as worse. */
  latencyTolerance: number;
  /** The source's window starts this long before the step (absent: the same window as the target). */
  baselineLookback?: DurationMs;
}

/** The target's task queue backlogs: do its workers keep up? */
export interface ScheduleToStartGate {
  maxBacklogAge: DurationMs;
  maxBacklogCount?: number;
}

/** The providers a gate may use; exactly one per gate. */
export type GateKind = 'prometheus' | 'temporal' | 'synthetic' | 'reconcile' | 'compare' | 'scheduleToStart';

/** How often a gate measures and how many bad measurements it tolerates. */
export interface GateLimits {
  interval: DurationMs;
  count: number;
  failureLimit: number;
  consecutiveErrorLimit: number;
}

/** A gate as written in the plan: exactly one provider key, plus its limits. Use `gateKind` to switch. */
export type GateConfig = GateLimits &
  (
    | ({ prometheus: PrometheusGate } & NoOtherProvider<'prometheus'>)
    | ({ temporal: TemporalGate } & NoOtherProvider<'temporal'>)
    | ({ synthetic: SyntheticGate } & NoOtherProvider<'synthetic'>)
    | ({ reconcile: ReconcileGate } & NoOtherProvider<'reconcile'>)
    | ({ compare: CompareGate } & NoOtherProvider<'compare'>)
    | ({ scheduleToStart: ScheduleToStartGate } & NoOtherProvider<'scheduleToStart'>)
  );

/** Every provider key but `K`, absent. */
type NoOtherProvider<K extends GateKind> = { [P in Exclude<GateKind, K>]?: never };

/** What a failed gate does. */
export type OnGateFailure = 'rollback' | 'hold';
/** What happens to runs still open on the source after the drain deadline. */
export type StragglerPolicy = 'wait' | 'report' | 'terminate' | 'handoff';

/** Plan-wide defaults. */
export interface PlanDefaults {
  bake: DurationMs;
  percentSteps: number[];
  onGateFailure: OnGateFailure;
  drainDeadline: DurationMs;
  stragglers: StragglerPolicy;
  holdTimeout: DurationMs;
  /**
   * How long a completed unit stays reversible (a rollback with two approvals moves it back; its source workers
   * keep running) before it is final on its own; `never`: until `cutover finalize`; 0: final on completion.
   */
  finalizeAfter: DurationMs | 'never';
}

/** A rollout wave. */
export interface RingConfig {
  name: string;
  /** Unit names (`namespace/<ns>` or `tenant/<ns>/<tenant>`), each in exactly one ring. */
  units: string[];
  gates: string[];
  /** Units moved together inside the ring (default: all of them). */
  batchSize: number;
  approval?: 'two-person';
  /** Overrides `defaults.bake` for this ring. */
  bake?: DurationMs;
}

/** One key of the payload codec's ring: where its material is (exactly one of `env` / `file`), never the key. */
export interface CodecKeyConfig {
  /** Written into every payload the key encrypts (in the clear: not a secret). */
  id: string;
  /** Name of the environment variable holding the key (32 random bytes, base64). */
  env?: string;
  /** A file holding the key; resolved against the plan file's directory. */
  file?: string;
}

/** The codec server the Temporal UI decodes payloads through (`cutover codec-server`). */
export interface CodecServerConfig {
  /** `host:port` to listen on. */
  listen: string;
  /** Name of the environment variable holding the bearer token requests must carry (exclusive with `jwksUrl`). */
  tokenEnv?: string;
  /** Requests carry a JWT (RS256) checked against this JWKS (exclusive with `tokenEnv`). */
  jwksUrl?: string;
  jwtAudience?: string;
  jwtIssuer?: string;
  /** Origins of the Temporal UIs that may call it from a browser (CORS); none: no browser may. */
  origins: string[];
  /** Answer CORS with credentials allowed, as the UI's "include credentials" setting expects. */
  includeCredentials: boolean;
  /** Largest request body read; larger requests are answered 413. */
  maxBodyBytes: number;
}

/** Payload encryption: the key ring, the key that encrypts, and the optional codec server. */
export interface CodecConfig {
  keys: CodecKeyConfig[];
  /** ID of the key new payloads are encrypted with; every key of `keys` decrypts. */
  current: string;
  server?: CodecServerConfig;
}

/** A validated plan. */
export interface Plan {
  name: string;
  clusters: Record<string, ClusterConfig>;
  source: string;
  target: string;
  control: ControlConfig;
  redis: RedisConfig;
  namespaces: Record<string, NamespaceConfig>;
  gates: Record<string, GateConfig>;
  defaults: PlanDefaults;
  rings: RingConfig[];
  /** Payload encryption; none: payloads are stored as the SDK's converter writes them. */
  codec?: CodecConfig;
  /**
   * Operators and their public keys. Listed: forward commands must be signed by a key with the right role,
   * and two-person steps need two distinct keys. None: every command is taken on its word.
   */
  operators?: Record<string, OperatorConfig>;
}

/** One operator: the Ed25519 public key (`ed25519:<hex>`) and what it may sign. */
export interface OperatorConfig {
  publicKey: string;
  roles: ('operator' | 'approver' | 'controller')[];
}

/** One problem in a plan: where (`rings[2].units[0]`), what, and how to fix it. */
export interface PlanIssue {
  path: string;
  message: string;
  hint: string;
  /** 1-based, present when the plan was parsed from text. */
  line?: number;
  column?: number;
}

/** Outcome of validating a plan. */
export type PlanValidation =
  | {
      ok: true;
      plan: Plan;
      /** Advice on a valid plan (`cutover validate` prints it and exits 0), e.g. a control cluster that is the target. */
      warnings: PlanIssue[];
    }
  | { ok: false; issues: PlanIssue[] };
