// One temporal-server process of the local stack (frontend, history, matching and worker in one process),
// parameterised by its store (PostgreSQL with several shards, or SQLite in memory) and its front door
// (open loopback, TLS, mTLS, or TLS with JWT API keys). It spawns the server from a rendered config,
// waits until it serves, creates the namespaces and search attributes it must serve, and stops, kills
// and restarts it on the same ports.
import { promises as fs, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { Connection, type ConnectionOptions } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';
import { grpcCode, GrpcStatus } from '../clusters/grpc';
import { PROJECT_ROOT } from './paths';
import { freePorts, isListening, isPortFree, PortInUseError } from './ports';
import { commandLine, isAlive, killGroup, spawnLogged, waitForExit, type SpawnedProcess } from './processes';
import type { ClusterEndpoint, ClusterProcess, ProgressFn } from './types';

/** Search-attribute types as the CLI and the TS SDK name them. */
export type SearchAttributeTypeName = 'Keyword' | 'Text' | 'Int' | 'Double' | 'Bool' | 'Datetime' | 'KeywordList';

const IndexedValueType = temporal.api.enums.v1.IndexedValueType;
export const INDEXED_VALUE_TYPES: Record<SearchAttributeTypeName, temporal.api.enums.v1.IndexedValueType> = {
  Text: IndexedValueType.INDEXED_VALUE_TYPE_TEXT,
  Keyword: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  Int: IndexedValueType.INDEXED_VALUE_TYPE_INT,
  Double: IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
  Bool: IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
  Datetime: IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
  KeywordList: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
};

/** Every port the server listens on besides the frontend gRPC port (which the caller gives). */
export interface ServicePorts {
  frontendMembership: number;
  frontendHttp: number;
  historyGrpc: number;
  historyMembership: number;
  matchingGrpc: number;
  matchingMembership: number;
  workerGrpc: number;
  workerMembership: number;
  metrics: number;
  /** Only behind a secured front door (the internal-frontend the server's own worker uses). */
  internalFrontendGrpc?: number;
  internalFrontendMembership?: number;
}

const BASE_PORT_KEYS: (keyof ServicePorts)[] = [
  'frontendMembership',
  'frontendHttp',
  'historyGrpc',
  'historyMembership',
  'matchingGrpc',
  'matchingMembership',
  'workerGrpc',
  'workerMembership',
  'metrics',
];
const INTERNAL_PORT_KEYS: (keyof ServicePorts)[] = ['internalFrontendGrpc', 'internalFrontendMembership'];
const ALL_PORT_KEYS = [...BASE_PORT_KEYS, ...INTERNAL_PORT_KEYS];

/**
 * Where the server keeps its data. `prepare` runs before every spawn (create or migrate databases);
 * `persistence` is the config's `persistence` section.
 */
export interface TemporalServerStore {
  /** For messages: `PostgreSQL`, `SQLite in memory`. */
  readonly label: string;
  /** False for an in-memory store: a restart comes back empty (the namespaces are created again). */
  readonly durable: boolean;
  prepare(onProgress?: ProgressFn): Promise<void>;
  persistence(shards: number): Record<string, unknown>;
  /** Removes the data (after stop); absent when there is nothing to remove. */
  drop?(): Promise<void>;
}

/** SQLite in memory, both stores in one private database the server sets up itself (nothing survives it). */
export class SqliteMemoryStore implements TemporalServerStore {
  readonly label = 'SQLite in memory';
  readonly durable = false;

  prepare(): Promise<void> {
    return Promise.resolve();
  }

  persistence(shards: number): Record<string, unknown> {
    const sql = {
      pluginName: 'sqlite',
      databaseName: 'default',
      connectAddr: 'localhost',
      connectProtocol: 'tcp',
      connectAttributes: { mode: 'memory', cache: 'private' },
      // One connection: an in-memory database lives as long as its connection, and is private to it.
      maxConns: 1,
      maxIdleConns: 1,
      maxConnLifetime: '1h',
    };
    return {
      defaultStore: 'sqlite-default',
      visibilityStore: 'sqlite-visibility',
      numHistoryShards: shards,
      datastores: { 'sqlite-default': { sql }, 'sqlite-visibility': { sql } },
    };
  }
}

/** The frontend's certificate and the CA its clients trust, plus the internal-frontend's mTLS files. */
export interface FrontDoorTls {
  /** CA that signed the server certificate (clients pin it) and, for mTLS, the client certificates. */
  caCertPath: string;
  serverCertPath: string;
  serverKeyPath: string;
  /**
   * The internal-frontend's own CA and the certificate (serverAuth + clientAuth) every service of the
   * server presents to it: that door skips authorization, so only holders of this certificate get in.
   */
  internal: { caCertPath: string; certPath: string; keyPath: string };
}

/**
 * How clients reach the frontend: `open` (plaintext, no authorization: the self-hosted clusters), `tls`,
 * `mtls` (client certificates verified against the CA; the stack's own calls use `client`), or `jwt`
 * (TLS plus API keys checked against a JWKS; the stack's own calls use `adminToken`).
 */
export type FrontDoor =
  | { kind: 'open' }
  | { kind: 'tls'; tls: FrontDoorTls }
  | { kind: 'mtls'; tls: FrontDoorTls; client: { certPath: string; keyPath: string } }
  | { kind: 'jwt'; tls: FrontDoorTls; jwksUrl: string; refreshInterval: string; adminToken: () => Promise<string> };

/** Options of `TemporalServer`. */
export interface TemporalServerOptions {
  /** Cluster name in the plan; also the server's cluster name. */
  name: string;
  /** Frontend gRPC port on 127.0.0.1. */
  port: number;
  /** Directory for the rendered config, the dynamic config and the server log. */
  runDir: string;
  /** `numHistoryShards`. Fixed for the life of a durable store: a restart must use the same number. */
  shards: number;
  /** Namespaces created at start-up when missing (retention 24 h). */
  namespaces: string[];
  /** Custom search attributes added to every namespace when missing. */
  searchAttributes: { name: string; type: SearchAttributeTypeName }[];
  /** The `temporal-server` executable. */
  serverBinary: string;
  store: TemporalServerStore;
  /** Default open. */
  frontDoor?: FrontDoor;
  /** What `endpoint.kind` reports. Default `postgres`. */
  kind?: ClusterEndpoint['kind'];
  onProgress?: ProgressFn;
  /** Pin the service ports (e.g. those a previous `dev up` recorded); free ones are taken otherwise. */
  ports?: Partial<ServicePorts>;
  /** Adopt a server a previous process started (its PID, from the stack's state file) so it can be stopped. */
  pid?: number;
  /** Server log level. Default `warn`. */
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
  /** Bound on start-up after the process is spawned (serving, namespaces, search attributes). Default 60 s. */
  readyTimeoutMs?: number;
  /** How long `stop()` waits after SIGTERM before SIGKILL. Default 10 s. */
  stopGraceMs?: number;
  /** Extra dynamic config (`key: value`, e.g. `'limit.historyCount.suggestContinueAsNew': 200`) for this server. */
  dynamicConfig?: Record<string, unknown>;
  /**
   * Leave the server running when this process exits (`dev up`). Default false: the server is killed
   * with this process, so a test run that dies never leaves one behind.
   */
  detached?: boolean;
}

/** Where the time of the last `start()` went, in ms (for the benchmarks and `dev up`). */
export interface StartTimings {
  databasesMs: number;
  serveMs: number;
  namespacesMs: number;
  totalMs: number;
}

/** Invalid options: `field` names the option to fix. */
export class TemporalServerOptionsError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'TemporalServerOptionsError';
  }
}

/** The server did not come up (exited, or not ready in time); the message carries the log tail. */
export class TemporalServerStartError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TemporalServerStartError';
  }
}

// From the package root: the compiled code in dist/ reads the same templates as the sources.
const TEMPLATE_DIR = path.join(PROJECT_ROOT, 'src', 'stack', 'templates');
const SERVER_TEMPLATE = path.join(TEMPLATE_DIR, 'temporal-server.yaml');
const DYNAMIC_CONFIG_TEMPLATE = path.join(TEMPLATE_DIR, 'temporal-server-dynamicconfig.yaml');
const RETENTION = '24h';
const EXIT_WAIT_MS = 15_000;

/**
 * Replaces every `{{NAME}}` in `template` with the JSON form of `values[NAME]` (a quoted string, a number,
 * or an object, which YAML reads as flow style — so no value can break the document). Missing or unused
 * values throw.
 */
export function renderTemplate(template: string, values: Record<string, string | number | object>): string {
  const used = new Set<string>();
  const out = template.replace(/\{\{([A-Z0-9_]+)\}\}/g, (_m, key: string) => {
    if (!(key in values)) {
      throw new TemporalServerOptionsError(`template.${key}`, 'the template uses a value that was not given');
    }
    used.add(key);
    return JSON.stringify(values[key]);
  });
  const unused = Object.keys(values).filter((k) => !used.has(k));
  if (unused.length > 0) {
    throw new TemporalServerOptionsError(`template.${unused[0]}`, 'a value was given that the template does not use');
  }
  return out;
}

/**
 * The dynamic-config file: the template's entries, with `extra` entries (values as JSON, which YAML reads
 * as flow style) replacing template entries of the same key — the server refuses duplicate keys.
 */
export function renderDynamicConfig(template: string, extra: Record<string, unknown>): string {
  for (const [key, value] of Object.entries(extra)) {
    if (!/^[A-Za-z][A-Za-z0-9_.-]*$/.test(key) || value === undefined) {
      throw new TemporalServerOptionsError(
        `dynamicConfig.${key}`,
        'give a dotted key (e.g. history.defaultWorkflowTaskTimeout) and a JSON value',
      );
    }
  }
  const kept: string[] = [];
  let skipping = false;
  for (const line of renderTemplate(template, {}).split('\n')) {
    const top = /^([A-Za-z][A-Za-z0-9_.-]*):\s*$/.exec(line);
    if (top) skipping = top[1]! in extra;
    else if (!/^\s/.test(line)) skipping = false;
    if (!skipping) kept.push(line);
  }
  const added = Object.entries(extra).map(([key, value]) => `${key}:\n  - value: ${JSON.stringify(value)}\n`);
  return `${kept.join('\n').trimEnd()}\n${added.join('')}`;
}

/**
 * The PostgreSQL schema stores each service's membership port in a SMALLINT (`cluster_membership.rpc_port`),
 * so a port above 32767 makes the server die at start-up ("out of range for type smallint"). The OS hands
 * out ephemeral ports from 32768 up, so service ports are chosen from this range instead — which also keeps
 * them clear of the dev servers' randomly chosen ports.
 */
export const SERVICE_PORT_RANGE = { min: 20000, max: 32767 } as const;

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Thrown by a step of the start-up that is not ready yet: retried like an unavailable server. */
class NotReadyYet extends Error {}

/** A temporal-server the local stack can start, kill and restart on the same ports. */
export class TemporalServer implements ClusterProcess {
  /** Server log (stdout and stderr), appended across restarts. */
  readonly logPath: string;
  /** Timings of the last successful `start()`. */
  lastStart: StartTimings | undefined;

  protected readonly opts: Required<Omit<TemporalServerOptions, 'onProgress' | 'ports' | 'pid'>> & {
    onProgress?: ProgressFn;
  };
  private servicePorts: ServicePorts | undefined;
  private spawned: SpawnedProcess | undefined;
  private adoptedPid: number | undefined;

  constructor(options: TemporalServerOptions) {
    validateOptions(options);
    const runDir = path.resolve(options.runDir);
    this.opts = {
      name: options.name,
      port: options.port,
      runDir,
      shards: options.shards,
      namespaces: [...new Set(options.namespaces)],
      searchAttributes: options.searchAttributes,
      serverBinary: options.serverBinary,
      store: options.store,
      frontDoor: options.frontDoor ?? { kind: 'open' },
      kind: options.kind ?? 'postgres',
      logLevel: options.logLevel ?? 'warn',
      readyTimeoutMs: options.readyTimeoutMs ?? 60_000,
      stopGraceMs: options.stopGraceMs ?? 10_000,
      detached: options.detached ?? false,
      dynamicConfig: options.dynamicConfig ?? {},
      onProgress: options.onProgress,
    };
    this.logPath = path.join(runDir, 'temporal-server.log');
    const wanted = this.portKeys();
    if (options.ports && wanted.every((k) => options.ports?.[k] !== undefined)) {
      this.servicePorts = options.ports as ServicePorts;
    } else if (options.ports && Object.keys(options.ports).length > 0) {
      throw new TemporalServerOptionsError('ports', `give all of ${wanted.join(', ')} or none`);
    }
    this.adoptedPid = options.pid;
  }

  /** Address, metrics URL (known once ports are chosen, i.e. after `start()` or with `ports`) and kind. */
  get endpoint(): ClusterEndpoint {
    return {
      name: this.opts.name,
      address: `127.0.0.1:${this.opts.port}`,
      metricsUrl: this.servicePorts ? `http://127.0.0.1:${this.servicePorts.metrics}/metrics` : '',
      kind: this.opts.kind,
    };
  }

  /** The service ports in use (for the stack's state file), once chosen. */
  get ports(): ServicePorts | undefined {
    return this.servicePorts ? { ...this.servicePorts } : undefined;
  }

  /** The namespaces it creates at every start. */
  get namespaces(): string[] {
    return [...this.opts.namespaces];
  }

  get pid(): number | undefined {
    const child = this.spawned?.child;
    if (child) {
      return child.exitCode === null && child.signalCode === null ? child.pid : undefined;
    }
    // An adopted PID (from a state file) counts only while it is still our server: PIDs get reused.
    if (this.adoptedPid === undefined || !isAlive(this.adoptedPid)) return undefined;
    const cmdline = commandLine(this.adoptedPid);
    return cmdline?.includes(this.opts.runDir) ? this.adoptedPid : undefined;
  }

  /** Connection options of the stack's own calls (start-up, namespaces, search attributes). */
  async adminConnectionOptions(): Promise<ConnectionOptions> {
    const door = this.opts.frontDoor;
    const address = this.endpoint.address;
    if (door.kind === 'open') return { address };
    const serverRootCACertificate = await fs.readFile(door.tls.caCertPath);
    if (door.kind === 'tls') return { address, tls: { serverRootCACertificate } };
    if (door.kind === 'mtls') {
      const [crt, key] = await Promise.all([fs.readFile(door.client.certPath), fs.readFile(door.client.keyPath)]);
      return { address, tls: { serverRootCACertificate, clientCertPair: { crt, key } } };
    }
    return { address, tls: { serverRootCACertificate }, apiKey: await door.adminToken() };
  }

  /** Prepares the store, renders the config, spawns the server and waits until every namespace is usable. */
  async start(): Promise<void> {
    if (this.pid !== undefined) return;
    const { name, store, onProgress } = this.opts;
    const startedAt = Date.now();
    // Ports first: a taken port fails before any database is touched.
    if (!this.servicePorts) {
      const keys = this.portKeys();
      const picked = await freePorts(keys.length, SERVICE_PORT_RANGE, [this.opts.port]);
      this.servicePorts = Object.fromEntries(keys.map((k, i) => [k, picked[i]])) as unknown as ServicePorts;
    }
    await this.assertPortsFree();
    const databasesAt = Date.now();
    await store.prepare(onProgress ? (l) => onProgress(`${name}: ${l}`) : undefined);
    const databasesMs = Date.now() - databasesAt;
    await this.writeConfig();

    const spawnedAt = Date.now();
    try {
      this.spawnServer();
    } catch (err) {
      throw new TemporalServerStartError(
        `${name}: could not run ${this.opts.serverBinary}: ${(err as Error).message}; check the path (TEMPORAL_SERVER_BIN)`,
        { cause: err },
      );
    }
    const deadline = spawnedAt + this.opts.readyTimeoutMs;
    // Wait for the port before the first gRPC call: a channel that fails its first connect backs off for
    // a second or more before it tries again, which would double the start-up time.
    try {
      await this.retrying(
        'waiting for the frontend port',
        deadline,
        async () => {
          if (!(await isListening('127.0.0.1', this.opts.port, 200))) throw new NotReadyYet('not listening yet');
        },
        [GrpcStatus.UNAVAILABLE],
      );
    } catch (err) {
      await this.kill();
      throw err;
    }
    let connection: Connection | undefined;
    try {
      connection = Connection.lazy(await this.adminConnectionOptions());
      await this.waitServing(connection, deadline);
      const servingAt = Date.now();
      // The shard count is fixed when the databases are created; the server keeps the recorded one.
      const conn = connection;
      const { historyShardCount } = await this.retrying(
        'reading the cluster info',
        deadline,
        () => conn.withDeadline(Math.min(Date.now() + 5_000, deadline), () => conn.workflowService.getClusterInfo({})),
        [GrpcStatus.UNAVAILABLE, GrpcStatus.DEADLINE_EXCEEDED],
      );
      if (historyShardCount !== this.opts.shards) {
        onProgress?.(
          `${name}: warning: its databases were created with ${historyShardCount} history shards, so the server runs ` +
            `${historyShardCount}, not ${this.opts.shards}; drop them (dev down without --keep) to change it`,
        );
      }
      await this.ensureNamespaces(connection, deadline);
      const readyAt = Date.now();
      this.lastStart = { databasesMs, serveMs: servingAt - spawnedAt, namespacesMs: readyAt - servingAt, totalMs: readyAt - startedAt };
      onProgress?.(
        `${name}: temporal-server ready on ${this.endpoint.address} (${store.label}, ${this.opts.shards} shards, ` +
          `${this.opts.frontDoor.kind} front door, ${this.opts.namespaces.length} namespaces) in ${this.lastStart.totalMs} ms`,
      );
    } catch (err) {
      // Never leave a half-started server behind.
      await this.kill();
      throw err;
    } finally {
      await connection?.close();
    }
  }

  /** SIGKILLs the whole process group and waits until the server is gone. */
  async kill(): Promise<void> {
    const pid = this.pid;
    if (pid === undefined) return;
    killGroup(pid, 'SIGKILL');
    await this.waitExit(pid, EXIT_WAIT_MS);
  }

  /** SIGTERM, then SIGKILL after the grace period; never throws if already stopped. */
  async stop(): Promise<void> {
    const pid = this.pid;
    if (pid === undefined) return;
    killGroup(pid, 'SIGTERM');
    try {
      await this.waitExit(pid, this.opts.stopGraceMs);
    } catch {
      await this.kill();
    }
  }

  /**
   * Starts again on the same store and ports (stopping first if it still runs); resolves when ready. On
   * an in-memory store the server comes back empty, and start-up creates the namespaces and search
   * attributes again.
   */
  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** Removes the store's data (stops the server first). */
  async dropData(): Promise<void> {
    await this.stop();
    await this.opts.store.drop?.();
  }

  /** The service ports this front door needs. */
  private portKeys(): (keyof ServicePorts)[] {
    return this.opts.frontDoor.kind === 'open' ? BASE_PORT_KEYS : ALL_PORT_KEYS;
  }

  private async assertPortsFree(): Promise<void> {
    const all: [string, number][] = [
      ['port', this.opts.port],
      ...this.portKeys().map((k): [string, number] => [`ports.${k}`, this.servicePorts![k]!]),
    ];
    for (const [field, port] of all) {
      if (!(await isPortFree(port))) throw new PortInUseError(port, field);
    }
  }

  /** `global.tls`, `global.authorization` and `services` for the front door. */
  private frontDoorConfig(): { tls: object; authorization: object; services: Record<string, unknown> } {
    const p = this.servicePorts!;
    const rpc = (grpcPort: number, membershipPort: number, extra: object = {}) => ({
      rpc: { grpcPort, membershipPort, ...extra, bindOnLocalHost: true },
    });
    const services: Record<string, unknown> = {
      frontend: rpc(this.opts.port, p.frontendMembership, { httpPort: p.frontendHttp }),
      history: rpc(p.historyGrpc, p.historyMembership),
      matching: rpc(p.matchingGrpc, p.matchingMembership),
      worker: rpc(p.workerGrpc, p.workerMembership),
    };
    const door = this.opts.frontDoor;
    if (door.kind === 'open') return { tls: {}, authorization: {}, services };
    services['internal-frontend'] = rpc(p.internalFrontendGrpc!, p.internalFrontendMembership!);
    const { tls } = door;
    const mtls = door.kind === 'mtls';
    const tlsConfig = {
      frontend: {
        server: {
          certFile: tls.serverCertPath,
          keyFile: tls.serverKeyPath,
          requireClientAuth: mtls,
          ...(mtls ? { clientCaFiles: [tls.caCertPath] } : {}),
        },
        client: { serverName: 'localhost', rootCaFiles: [tls.caCertPath], ...(mtls ? { forceTLS: true } : {}) },
      },
      // Internode: the internal-frontend (and history, matching) accept only the server's own certificate.
      internode: {
        server: {
          certFile: tls.internal.certPath,
          keyFile: tls.internal.keyPath,
          requireClientAuth: true,
          clientCaFiles: [tls.internal.caCertPath],
        },
        client: { serverName: 'localhost', rootCaFiles: [tls.internal.caCertPath] },
      },
    };
    const authorization =
      door.kind === 'jwt'
        ? {
            jwtKeyProvider: { keySourceURIs: [door.jwksUrl], refreshInterval: door.refreshInterval },
            permissionsClaimName: 'permissions',
            authorizer: 'default',
            claimMapper: 'default',
          }
        : {};
    return { tls: tlsConfig, authorization, services };
  }

  private async writeConfig(): Promise<void> {
    const configDir = path.join(this.opts.runDir, 'config');
    await fs.mkdir(configDir, { recursive: true });
    const p = this.servicePorts!;
    const dynamicConfigPath = path.join(configDir, 'dynamicconfig.yaml');
    const door = this.frontDoorConfig();
    const values: Record<string, string | number | object> = {
      LOG_LEVEL: this.opts.logLevel,
      PERSISTENCE: this.opts.store.persistence(this.opts.shards),
      METRICS_ADDRESS: `127.0.0.1:${p.metrics}`,
      TLS: door.tls,
      AUTHORIZATION: door.authorization,
      SERVICES: door.services,
      CLUSTER_NAME: this.opts.name,
      FRONTEND_ADDRESS: this.endpoint.address,
      DYNAMIC_CONFIG_PATH: dynamicConfigPath,
    };
    const [serverTemplate, dynamicTemplate] = await Promise.all([
      fs.readFile(SERVER_TEMPLATE, 'utf8'),
      fs.readFile(DYNAMIC_CONFIG_TEMPLATE, 'utf8'),
    ]);
    // `--env development` makes the server read <root>/config/development.yaml.
    await fs.writeFile(path.join(configDir, 'development.yaml'), renderTemplate(serverTemplate, values), { mode: 0o600 });
    await fs.writeFile(dynamicConfigPath, renderDynamicConfig(dynamicTemplate, this.opts.dynamicConfig));
  }

  private spawnServer(): void {
    // A plain `start` runs frontend, history, matching and worker; the internal-frontend runs only when
    // named, so behind a secured door every service is listed.
    const services =
      this.opts.frontDoor.kind === 'open'
        ? []
        : ['frontend', 'internal-frontend', 'history', 'matching', 'worker'].flatMap((s) => ['--service', s]);
    // Its own process group (kill() takes the whole server); tracked and killed when this process exits
    // unless `detached` (for `dev up`, which returns while the server keeps running).
    this.spawned = spawnLogged(
      this.opts.serverBinary,
      ['--root', this.opts.runDir, '--config', 'config', '--env', 'development', '--allow-no-auth', 'start', ...services],
      {
        logFile: this.logPath,
        cwd: this.opts.runDir,
        env: { ...process.env, TEMPORAL_VERSION_CHECK_DISABLED: '1' },
        detached: this.opts.detached,
      },
    );
    this.adoptedPid = undefined;
  }

  private exited(): boolean {
    const child = this.spawned?.child;
    return child !== undefined && (child.exitCode !== null || child.signalCode !== null || child.pid === undefined);
  }

  private async waitExit(pid: number, timeoutMs: number): Promise<void> {
    if (await waitForExit(this.spawned?.pid === pid ? this.spawned : pid, timeoutMs)) return;
    throw new TemporalServerStartError(`${this.opts.name}: temporal-server (pid ${pid}) did not exit within ${timeoutMs} ms`);
  }

  /** The last log lines, each cut short (the server logs stack traces inline), fatal and error lines first. */
  private logTail(lines = 12): string {
    let all: string[];
    try {
      all = readFileSync(this.logPath, 'utf8').trimEnd().split('\n');
    } catch {
      return '(no log)';
    }
    const cut = (l: string) => (l.length > 400 ? `${l.slice(0, 400)}…` : l);
    const severe = all.filter((l) => /"level":"(fatal|error|dpanic|panic)"/.test(l)).slice(-3);
    const tail = all.slice(-lines).filter((l) => !severe.includes(l));
    return [...severe, ...(severe.length ? ['…'] : []), ...tail].map(cut).join('\n');
  }

  private failure(what: string, cause?: unknown): TemporalServerStartError {
    return new TemporalServerStartError(`${this.opts.name}: temporal-server ${what}. Log ${this.logPath}, last lines:\n${this.logTail()}`, {
      cause,
    });
  }

  /** Retries `op` while the server is still coming up (unavailable, or the namespace not yet cached). */
  private async retrying<T>(what: string, deadline: number, op: () => Promise<T>, retryOn: number[]): Promise<T> {
    let wait = 50;
    for (;;) {
      const child = this.spawned?.child;
      if (this.exited()) throw this.failure(`exited (${child?.signalCode ?? `code ${child?.exitCode}`}) while ${what}`);
      try {
        return await op();
      } catch (err) {
        const code = err instanceof NotReadyYet ? GrpcStatus.UNAVAILABLE : grpcCode(err);
        // Anything that is not a transient gRPC status (bad options, refused requests) fails at once.
        const retryable = code !== undefined && retryOn.includes(code);
        if (!retryable) throw err;
        if (Date.now() + wait > deadline) throw this.failure(`was not ready within ${this.opts.readyTimeoutMs} ms (${what})`, err);
      }
      await delay(wait);
      wait = Math.min(wait * 2, 500);
    }
  }

  private async waitServing(connection: Connection, deadline: number): Promise<void> {
    await this.retrying(
      'waiting for the frontend',
      deadline,
      // A short deadline per attempt, so a call to a server that is not listening yet fails fast.
      () => connection.withDeadline(Math.min(Date.now() + 2_000, deadline), () => connection.workflowService.getSystemInfo({})),
      [GrpcStatus.UNAVAILABLE, GrpcStatus.DEADLINE_EXCEEDED],
    );
  }

  private async ensureNamespaces(connection: Connection, deadline: number): Promise<void> {
    const transient = [GrpcStatus.UNAVAILABLE, GrpcStatus.DEADLINE_EXCEEDED, GrpcStatus.INTERNAL];
    const ws = connection.workflowService;
    const ops = connection.operatorService;
    const withDeadline = <T>(fn: () => Promise<T>) => connection.withDeadline(Math.min(Date.now() + 5_000, deadline), fn);
    // One namespace at a time: the server's namespace cache refreshes as a whole, so parallel creation
    // would not be faster, and the errors stay readable.
    for (const namespace of this.opts.namespaces) {
      await this.retrying(
        `creating namespace ${namespace}`,
        deadline,
        async () => {
          try {
            await withDeadline(() => ws.describeNamespace({ namespace }));
          } catch (err) {
            if (grpcCode(err) !== GrpcStatus.NOT_FOUND) throw err;
            try {
              await withDeadline(() => ws.registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs(RETENTION) }));
            } catch (regErr) {
              if (grpcCode(regErr) !== GrpcStatus.ALREADY_EXISTS) throw regErr;
            }
          }
        },
        transient,
      );
    }
    for (const namespace of this.opts.namespaces) {
      // describeNamespace reads the database; a start or a visibility query goes through the namespace
      // cache, which learns new namespaces on its next refresh. Count answers only once the cache has it.
      await this.retrying(
        `waiting for namespace ${namespace} to be usable`,
        deadline,
        () => withDeadline(() => ws.countWorkflowExecutions({ namespace, query: '' })),
        [...transient, GrpcStatus.NOT_FOUND],
      );
    }
    for (const namespace of this.opts.namespaces) {
      await this.retrying(
        `adding search attributes to ${namespace}`,
        deadline,
        async () => {
          const listed = await withDeadline(() => ops.listSearchAttributes({ namespace }));
          const existing = { ...(listed.customAttributes ?? {}), ...(listed.systemAttributes ?? {}) };
          const missing: Record<string, temporal.api.enums.v1.IndexedValueType> = {};
          for (const attr of this.opts.searchAttributes) {
            const want = INDEXED_VALUE_TYPES[attr.type];
            const have = existing[attr.name];
            if (have === undefined) {
              missing[attr.name] = want;
            } else if (have !== want) {
              throw new TemporalServerOptionsError(
                `searchAttributes.${attr.name}`,
                `already exists in namespace ${namespace} with type ${IndexedValueType[have]}, not ${attr.type}; ` +
                  'use that type or another name',
              );
            }
          }
          if (Object.keys(missing).length === 0) return;
          try {
            await withDeadline(() => ops.addSearchAttributes({ namespace, searchAttributes: missing }));
          } catch (err) {
            // Added by someone else meanwhile: the next round lists it.
            if (grpcCode(err) !== GrpcStatus.ALREADY_EXISTS) throw err;
            throw new NotReadyYet('search attributes changed concurrently');
          }
        },
        // NOT_FOUND: the namespace is created but the frontend's cache does not know it yet.
        [...transient, GrpcStatus.NOT_FOUND],
      );
    }
  }
}

function validateOptions(o: TemporalServerOptions): void {
  if (typeof o.name !== 'string' || !/^[A-Za-z][A-Za-z0-9_-]{0,62}$/.test(o.name)) {
    throw new TemporalServerOptionsError(
      'name',
      `"${String(o.name)}" must start with a letter and hold only letters, digits, "_" and "-" (e.g. legacy)`,
    );
  }
  if (!Number.isInteger(o.port) || o.port < 1 || o.port > 65535) {
    throw new TemporalServerOptionsError('port', `${String(o.port)} is not a TCP port; give an integer 1-65535 (the frontend gRPC port)`);
  }
  if (typeof o.runDir !== 'string' || o.runDir.trim() === '') {
    throw new TemporalServerOptionsError('runDir', 'give a directory for the config and the log');
  }
  if (!Number.isInteger(o.shards) || o.shards < 1 || o.shards > 16384) {
    throw new TemporalServerOptionsError('shards', `${String(o.shards)} must be an integer from 1 to 16384 (history shards, e.g. 4)`);
  }
  if (!Array.isArray(o.namespaces) || o.namespaces.length === 0) {
    throw new TemporalServerOptionsError('namespaces', 'give at least one namespace to create (e.g. ["default"])');
  }
  o.namespaces.forEach((ns, i) => {
    if (typeof ns !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]{1,254}$/.test(ns)) {
      throw new TemporalServerOptionsError(
        `namespaces[${i}]`,
        `"${String(ns)}" is not a valid namespace name (2-255 letters, digits, ".", "_", "-")`,
      );
    }
  });
  (o.searchAttributes ?? []).forEach((sa, i) => {
    if (typeof sa?.name !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(sa.name)) {
      throw new TemporalServerOptionsError(
        `searchAttributes[${i}].name`,
        `"${String(sa?.name)}" must be letters, digits and "_" (e.g. TenantId)`,
      );
    }
    if (!(sa.type in INDEXED_VALUE_TYPES)) {
      throw new TemporalServerOptionsError(
        `searchAttributes[${i}].type`,
        `"${String(sa.type)}" must be one of ${Object.keys(INDEXED_VALUE_TYPES).join(', ')}`,
      );
    }
  });
  if (typeof o.serverBinary !== 'string' || o.serverBinary === '') {
    throw new TemporalServerOptionsError('serverBinary', 'give the temporal-server path from resolveTemporalServer()');
  }
  if (o.ports) {
    for (const [key, port] of Object.entries(o.ports)) {
      if (!ALL_PORT_KEYS.includes(key as keyof ServicePorts)) {
        throw new TemporalServerOptionsError(`ports.${key}`, `unknown port; the ports are ${ALL_PORT_KEYS.join(', ')}`);
      }
      if (!Number.isInteger(port) || (port as number) < 1 || (port as number) > 65535) {
        throw new TemporalServerOptionsError(`ports.${key}`, `${String(port)} is not a TCP port (1-65535)`);
      }
      if (key.endsWith('Membership') && (port as number) > SERVICE_PORT_RANGE.max) {
        throw new TemporalServerOptionsError(
          `ports.${key}`,
          `${String(port)} is above ${SERVICE_PORT_RANGE.max}: the PostgreSQL schema stores membership ports as SMALLINT`,
        );
      }
    }
  }
}
