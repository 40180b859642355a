/**
 * Connections to the clusters of a plan, with their credentials (mTLS files, or an API key read from the
 * environment variable or file the plan names — never the key itself). The one place that builds SDK
 * connection options: the worker, the CLI, the multi-cluster client, dual workers and the benchmarks all
 * connect through here, and every failure comes out as a {@link ClusterConnectError} that says what failed
 * and the fix, with no secret in it.
 */
import * as fs from 'node:fs';
import { Connection, type ConnectionOptions } from '@temporalio/client';
import type { NativeConnection, NativeConnectionOptions } from '@temporalio/worker';
import type { ClusterConfig } from '../config/types';
import { diagnoseTransport, type TransportVerdict } from './diagnose';
import { grpcCode, GrpcStatus } from './grpc';
import { lazy } from '../lazy';
import type * as SdkWorker from '@temporalio/worker';

/**
 * gRPC channel settings for client connections. The SDK means to let a client receive messages up to
 * 128 MiB, but sets grpc-js's option under a name grpc-js does not read (`max_receive_message_length`,
 * without the `grpc.` prefix), so a client keeps gRPC's 4 MiB default, and a history page larger than
 * that (a campaign at 10,000 tenants) fails with RESOURCE_EXHAUSTED. Workers connect through the SDK's
 * core, which has its own limit.
 */
const CLIENT_CHANNEL_ARGS = { 'grpc.max_receive_message_length': 128 * 1024 * 1024 } as const;

/** What a connection needs of a plan cluster (its kind and local settings play no part). */
export type ClusterAccess = Pick<ClusterConfig, 'address' | 'namespaceSuffix' | 'tls' | 'apiKeyEnv' | 'apiKeyFile'>;

/** What went wrong when cutover connected to a cluster or used a namespace there. */
export type ConnectFailure =
  | 'unreachable'
  | 'server-not-tls'
  | 'tls-required'
  | 'unknown-ca'
  | 'server-name'
  | 'tls-handshake'
  | 'client-certificate-required'
  | 'client-certificate-refused'
  | 'credentials-missing'
  | 'credentials-refused'
  | 'permission-denied'
  | 'namespace-not-found'
  | 'unclassified';

/** When the failure happened: opening the connection, or the first use of a namespace. */
export type ConnectPhase = 'connect' | 'namespace';

/** A plan cluster could not be connected to, or refused cutover: names the cluster, what failed and the fix. */
export class ClusterConnectError extends Error {
  override readonly name: string = 'ClusterConnectError';
  constructor(
    readonly cluster: string,
    readonly address: string,
    readonly failure: ConnectFailure,
    message: string,
    options?: { cause?: unknown; namespace?: string },
  ) {
    super(message, options?.cause !== undefined ? { cause: options.cause } : undefined);
    if (options?.namespace !== undefined) this.namespace = options.namespace;
  }
  /** The namespace the failure is about, when it is about one. */
  readonly namespace?: string;
}

/** A plan cluster's credentials cannot be read (unset variable, unreadable file): bad input, names the field and the fix. */
export class ClusterCredentialsError extends ClusterConnectError {
  override readonly name = 'ClusterCredentialsError';
  constructor(
    cluster: string,
    readonly field: string,
    hint: string,
    address = '',
  ) {
    super(cluster, address, 'credentials-missing', `clusters.${cluster}.${field}: ${hint}`);
  }
}

/** What both `Connection` and `NativeConnection` accept. */
export type ClusterConnectionOptions = Pick<ConnectionOptions, 'address' | 'tls' | 'apiKey'> &
  Pick<NativeConnectionOptions, 'address' | 'tls' | 'apiKey'>;

/** How a cluster's connection authenticates, for humans: never the secret, only where it comes from. */
export function credentialSource(cluster: ClusterAccess): string {
  const parts: string[] = [];
  if (cluster.apiKeyEnv) parts.push(`api key from $${cluster.apiKeyEnv}`);
  if (cluster.apiKeyFile) parts.push(`api key from file ${cluster.apiKeyFile}`);
  if (cluster.tls?.clientCertPath) parts.push(`mTLS client certificate ${cluster.tls.clientCertPath}`);
  const tls = cluster.tls !== undefined || parts.length > 0;
  if (parts.length === 0) return tls ? 'TLS, no client credentials' : 'no credentials (plaintext)';
  return parts.join(', ');
}

/** Reads the API key the plan names (environment variable or file); throws {@link ClusterCredentialsError}. */
function readApiKey(name: string, cluster: ClusterAccess): string | undefined {
  if (cluster.apiKeyEnv) {
    const apiKey = process.env[cluster.apiKeyEnv]?.trim();
    if (!apiKey) {
      throw new ClusterCredentialsError(
        name,
        'apiKeyEnv',
        `environment variable ${cluster.apiKeyEnv} is not set; export it with the cluster's API key`,
        cluster.address,
      );
    }
    return apiKey;
  }
  if (cluster.apiKeyFile) {
    let text: string;
    try {
      text = fs.readFileSync(cluster.apiKeyFile, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
      throw new ClusterCredentialsError(name, 'apiKeyFile', `cannot read ${cluster.apiKeyFile} (${code}); fix the path`, cluster.address);
    }
    const apiKey = text.trim();
    if (!apiKey) {
      throw new ClusterCredentialsError(
        name,
        'apiKeyFile',
        `${cluster.apiKeyFile} is empty; write the cluster's API key into it`,
        cluster.address,
      );
    }
    return apiKey;
  }
  return undefined;
}

/** Connection options of a plan cluster; throws {@link ClusterCredentialsError} naming the missing file or variable. */
export function connectionOptions(name: string, cluster: ClusterAccess): ClusterConnectionOptions {
  // Read the files here, once, at start-up: the plan only names them.
  const read = (field: string, file: string | undefined) => {
    if (!file) return undefined;
    try {
      return fs.readFileSync(file);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      throw new ClusterCredentialsError(name, `tls.${field}`, `cannot read ${file} (${code}); fix the path`, cluster.address);
    }
  };
  const opts: ClusterConnectionOptions = { address: cluster.address };
  if (cluster.tls) {
    const crt = read('clientCertPath', cluster.tls.clientCertPath);
    const key = read('clientKeyPath', cluster.tls.clientKeyPath);
    opts.tls = {
      serverNameOverride: cluster.tls.serverNameOverride,
      serverRootCACertificate: read('serverRootCACertPath', cluster.tls.serverRootCACertPath),
      clientCertPair: crt && key ? { crt, key } : undefined,
    };
  }
  const apiKey = readApiKey(name, cluster);
  if (apiKey !== undefined) {
    opts.apiKey = apiKey;
    // API keys are only accepted over TLS (Temporal Cloud); default to system roots.
    opts.tls ??= true;
  }
  return opts;
}

// ── Explaining failures ─────────────────────────────────────────────────────────────────────────

const JWT_RE = /eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g;
const BEARER_RE = /(bearer\s+)[^\s"',;]+/gi;
const PEM_KEY_RE = /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|$)/g;

/** `text` with every bearer token, JWT, private key and given secret blanked out. */
export function redactSecrets(text: string, secrets: readonly (string | undefined)[] = []): string {
  let out = text;
  for (const secret of secrets) {
    // Short strings would blank ordinary words; keys are long.
    if (secret && secret.length >= 8) out = out.split(secret).join('***');
  }
  return out.replace(PEM_KEY_RE, '***').replace(JWT_RE, '***').replace(BEARER_RE, '$1***');
}

/** Every message and gRPC detail along `err`'s cause chain, joined: what classification reads. */
function causeText(err: unknown): string {
  const parts: string[] = [];
  let e: unknown = err;
  for (let depth = 0; depth < 6 && e; depth++) {
    const x = e as { message?: unknown; details?: unknown; code?: unknown };
    if (typeof x.message === 'string') parts.push(x.message);
    if (typeof x.details === 'string' && x.details !== x.message) parts.push(x.details);
    if (typeof x.code === 'string') parts.push(x.code);
    if (typeof e === 'string') parts.push(e);
    e = (e as { cause?: unknown }).cause;
  }
  return parts.join(' | ');
}

/** The innermost message of `err`, redacted and shortened: a detail for humans, never the whole story. */
function detailOf(err: unknown, secrets: readonly (string | undefined)[]): string {
  let e: unknown = err;
  let last = '';
  for (let depth = 0; depth < 6 && e; depth++) {
    const x = e as { message?: unknown; details?: unknown };
    const m = typeof x.details === 'string' && x.details ? x.details : typeof x.message === 'string' ? x.message : '';
    if (m) last = m;
    e = (e as { cause?: unknown }).cause;
  }
  // A gRPC message starts with the bare status ("7 PERMISSION_DENIED: …"): the headline says what it means.
  const text = redactSecrets(last || String(err), secrets)
    .replace(/^\d+ [A-Z_]+: /, '')
    .trim();
  return text.length > 300 ? `${text.slice(0, 297)}...` : text;
}

// What the TLS stacks (Node's for clients, rustls for workers) and the server say, by failure.
const CERT_REQUIRED = /certificate required|alert number 116|CERTIFICATE_REQUIRED|peer did not return a certificate/i;
const CERT_REFUSED = new RegExp(
  'bad certificate|alert number 42|unknown ca alert|alert number 48|certificate unknown|alert number 46|' +
    'certificate revoked|expired certificate alert',
  'i',
);
const UNKNOWN_CA = new RegExp(
  'self[- ]signed certificate|unable to get local issuer|unable to verify|certificate verify failed|' +
    'UNABLE_TO_GET_ISSUER|SELF_SIGNED|UnknownIssuer',
  'i',
);
const SERVER_NAME =
  /does not match certificate|altnames|ERR_TLS_CERT_ALTNAME|NotValidForName|hostname mismatch|certificate is not valid for/i;
const NOT_TLS =
  /wrong version number|packet length too long|unknown protocol|http request|InvalidContentType|CorruptMessage|record overflow/i;
const PLAINTEXT_TO_TLS = new RegExp(
  'server preface|Connection dropped|ECONNRESET|socket hang up|Protocol error|frame of type|GOAWAY|connection ?reset|' +
    'BrokenPipe|h2 protocol error|http2 error',
  'i',
);
const OTHER_TLS = /certificate has expired|CERT_HAS_EXPIRED|certificate is not yet valid|\bSSL\b|\bTLS\b|handshake|alert/i;
const UNAUTHENTICATED = 16;
const REFUSED = /Request unauthorized|unauthenticated/i;
const UNREACHABLE = new RegExp(
  'ECONNREFUSED|EHOSTUNREACH|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|connection refused|deadline|timed out|Failed to connect|' +
    'No connection established|dns error|tcp connect error',
  'i',
);

/** What the caller knows when explaining a failure. */
export interface ExplainContext {
  phase: ConnectPhase;
  /** The namespace (as the cluster names it) the failing call used. */
  namespace?: string;
  /** Secret values to blank out of the detail (the API key the connection used). */
  secrets?: readonly (string | undefined)[];
  /** What a TLS handshake of our own showed ({@link diagnoseTransport}), when the SDK's error says too little. */
  transport?: TransportVerdict;
}

/** Which failure an error shows; `transport` (what a handshake of our own showed) wins over the SDK's vaguer words. */
export function classifyClusterError(cluster: ClusterAccess, err: unknown, ctx: ExplainContext): ConnectFailure {
  if (ctx.transport) return ctx.transport.failure;
  const text = causeText(err);
  const code = grpcCode(err);
  const hasKey = Boolean(cluster.apiKeyEnv || cluster.apiKeyFile);
  const hasCert = Boolean(cluster.tls?.clientCertPath);
  const usesTls = cluster.tls !== undefined || hasKey;
  // TLS first: its failures reach the SDK as UNAVAILABLE, like a cluster that is down.
  if (CERT_REQUIRED.test(text)) return hasCert ? 'client-certificate-refused' : 'client-certificate-required';
  if (CERT_REFUSED.test(text)) return 'client-certificate-refused';
  if (UNKNOWN_CA.test(text)) return 'unknown-ca';
  if (SERVER_NAME.test(text)) return 'server-name';
  if (usesTls && NOT_TLS.test(text)) return 'server-not-tls';
  if (!usesTls && PLAINTEXT_TO_TLS.test(text)) return 'tls-required';
  if (code !== GrpcStatus.PERMISSION_DENIED && code !== UNAUTHENTICATED && OTHER_TLS.test(text)) return 'tls-handshake';
  if (code === GrpcStatus.PERMISSION_DENIED || code === UNAUTHENTICATED || REFUSED.test(text)) {
    if (!hasKey && !hasCert) return 'credentials-missing';
    // The connection's first call (GetSystemInfo) is open to any caller the server can identify: a
    // refusal there means the key itself was not accepted, not a missing permission.
    if (ctx.phase === 'connect' && hasKey) return 'credentials-refused';
    return 'permission-denied';
  }
  if (code === GrpcStatus.NOT_FOUND && ctx.namespace !== undefined) return 'namespace-not-found';
  if (code === GrpcStatus.UNAVAILABLE || code === GrpcStatus.DEADLINE_EXCEEDED || UNREACHABLE.test(text)) return 'unreachable';
  return 'unclassified';
}

/**
 * Turns an SDK / gRPC / TLS error from connecting to (or first using) a plan cluster into a
 * {@link ClusterConnectError}: the cluster, what failed, and the fix. Never a bare gRPC status, and no
 * bearer token or key text from the underlying messages.
 */
export function explainClusterError(name: string, cluster: ClusterAccess, err: unknown, ctx: ExplainContext): ClusterConnectError {
  if (err instanceof ClusterConnectError) return err;
  const failure = classifyClusterError(cluster, err, ctx);
  const secrets = ctx.secrets ?? [];
  const hasKey = Boolean(cluster.apiKeyEnv || cluster.apiKeyFile);
  const where = `cluster ${name} at ${cluster.address}`;
  const field = (f: string) => `clusters.${name}.${f}`;
  const keyField = cluster.apiKeyEnv ? `$${cluster.apiKeyEnv} (${field('apiKeyEnv')})` : `the file ${field('apiKeyFile')} names`;
  const ns = ctx.namespace;
  const certFields = `${field('tls.clientCertPath')} and ${field('tls.clientKeyPath')}`;
  const detail = () => (ctx.transport ? redactSecrets(ctx.transport.detail, secrets) : detailOf(err, secrets));
  const explained: Record<ConnectFailure, () => [what: string, fix: string]> = {
    unreachable: () => [
      `cannot reach cluster ${name} at ${cluster.address}: ${detail()}`,
      `start it or correct ${field('address')} in the plan`,
    ],
    'server-not-tls': () => [
      `${where} does not speak TLS, but cutover connects to it with TLS`,
      `remove ${field('tls')}${hasKey ? ' and the API key (keys are only sent over TLS)' : ''}, ` +
        `or point ${field('address')} at the cluster's TLS endpoint`,
    ],
    'tls-required': () => [
      `${where} expects TLS, and the plan connects to it in plaintext`,
      `add ${field('tls')} with serverRootCACertPath (the cluster's CA), or an API key (${field('apiKeyEnv')}), which turns TLS on`,
    ],
    'unknown-ca': () => [
      `${where}: the server's certificate is not signed by a CA cutover trusts`,
      `set ${field('tls.serverRootCACertPath')} to the CA certificate that signed the server's certificate`,
    ],
    'server-name': () => [
      `${where}: the server's certificate is not valid for the name cutover connected to`,
      `set ${field('tls.serverNameOverride')} to a name the certificate holds, or connect by that name in ${field('address')}`,
    ],
    'tls-handshake': () => [
      `${where}: the TLS handshake failed (${detail()})`,
      `check ${field('tls')} (CA, client certificate and key, server name) against the cluster's TLS settings`,
    ],
    'client-certificate-required': () => [
      `${where} requires a client certificate (mTLS), and the plan gives none`,
      `set ${certFields} to the client certificate and its key`,
    ],
    'client-certificate-refused': () => [
      `${where} refused cutover's client certificate`,
      `use a valid client certificate signed by a CA the cluster trusts in ${certFields}`,
    ],
    'credentials-missing': () => [
      `${where} refused a call${ns ? ` on namespace ${ns}` : ''} made without credentials`,
      `give the cluster an API key (${field('apiKeyEnv')} or ${field('apiKeyFile')}) ` +
        `or an mTLS client certificate (${field('tls.clientCertPath')})`,
    ],
    'credentials-refused': () => [
      `${where} refused the API key from ${keyField} (unknown, expired or revoked)`,
      `put a valid API key for this cluster in ${keyField}`,
    ],
    'permission-denied': () => [
      // A per-namespace key is refused on a namespace it cannot see, existing or not: say both.
      `${where}: the ${hasKey ? 'API key' : 'client certificate'} lacks permission on namespace ${ns ?? '(unknown)'} ` +
        '(or the namespace does not exist)',
      hasKey
        ? `give the key from ${keyField} access to namespace ${ns ?? '(the namespace)'}, or use a key that has it`
        : `grant the certificate's identity access to namespace ${ns ?? '(the namespace)'}`,
    ],
    'namespace-not-found': () => [
      `${where}: namespace ${ns ?? '(unknown)'} does not exist`,
      `create namespace ${ns ?? '(the namespace)'} on ${name}, or correct the namespace (and ${field('namespaceSuffix')}) in the plan`,
    ],
    unclassified: () => [
      `${where}: ${ctx.phase === 'connect' ? 'the connection failed' : `a call on namespace ${ns ?? '(unknown)'} failed`} (${detail()})`,
      `check ${field('address')} and the cluster's credentials in the plan`,
    ],
  };
  const [what, fix] = explained[failure]();
  return new ClusterConnectError(name, cluster.address, failure, `${what} — fix: ${fix}`, {
    cause: err,
    ...(ns !== undefined ? { namespace: ns } : {}),
  });
}

// ── Connecting ──────────────────────────────────────────────────────────────────────────────────

/**
 * Explains a failed connect. When the SDK gives no gRPC status (its client says only "Failed to connect
 * before the deadline" for every TLS problem), a handshake of our own says what went wrong.
 */
async function explainConnectFailure(
  name: string,
  cluster: ClusterAccess,
  options: ClusterConnectionOptions,
  err: unknown,
): Promise<ClusterConnectError> {
  const known = (err as { transport?: TransportVerdict } | undefined)?.transport;
  const transport =
    known ??
    (grpcCode(err) === undefined || grpcCode(err) === GrpcStatus.UNAVAILABLE
      ? await diagnoseTransport(options).catch(() => undefined)
      : undefined);
  return explainClusterError(name, cluster, err, { phase: 'connect', secrets: [options.apiKey], ...(transport ? { transport } : {}) });
}

/** What a connection is checked for before it is handed out. */
export interface ConnectOptions {
  /**
   * Namespaces (as the cluster names them) the caller will use: each is described right away, so a key
   * without permission, or a missing namespace, fails here with its own error rather than later.
   */
  namespaces?: readonly string[];
}

/** Anything with a workflow service to describe a namespace on. */
interface HasWorkflowService {
  workflowService: { describeNamespace(req: { namespace: string }): Promise<unknown> };
}

/**
 * Describes `namespace` on an open connection: a cheap call that proves the credentials may use it.
 * Throws the {@link ClusterConnectError} that explains a refusal (`permission-denied`, `namespace-not-found`…).
 */
export async function checkNamespaceAccess(
  conn: HasWorkflowService,
  name: string,
  cluster: ClusterAccess,
  namespace: string,
): Promise<void> {
  try {
    await conn.workflowService.describeNamespace({ namespace });
  } catch (err) {
    throw explainClusterError(name, cluster, err, { phase: 'namespace', namespace });
  }
}

/**
 * Runs `fn` (a first use of a namespace on an open connection) and explains its failure the way
 * {@link checkNamespaceAccess} does; for callers whose first call is not a describe.
 */
export async function withNamespaceAccess<T>(name: string, cluster: ClusterAccess, namespace: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    // Errors that already explain themselves (a CloudSetupError with its tcld commands…) pass through.
    if (grpcCode(err) === undefined && !(err instanceof Error && /ServiceError|TransportError/.test(err.name))) throw err;
    throw explainClusterError(name, cluster, err, { phase: 'namespace', namespace });
  }
}

/** Failures a handshake proves for good: waiting out the SDK's connect deadline cannot change them. */
const STANDING_TRANSPORT_FAILURES: ReadonlySet<ConnectFailure> = new Set<ConnectFailure>([
  'server-not-tls',
  'tls-required',
  'unknown-ca',
  'server-name',
  'tls-handshake',
  'client-certificate-required',
  'client-certificate-refused',
]);
/** How long a connection may take before cutover checks the handshake itself (a healthy one takes milliseconds). */
const EARLY_VERDICT_AFTER_MS = 1_000;

/**
 * The SDK reports a TLS misconfiguration only when its connect deadline (10 s) passes. When the
 * connection is not open after a second, repeat the handshake: a verdict that stands (wrong CA, no
 * client certificate…) rejects at once with its explanation, so an operator with a bad plan waits about a
 * second, not ten. An unreachable server is left to the SDK, which keeps trying until its deadline (a
 * cluster that is still starting). A connection that opens after all is closed, since nobody holds it.
 */
function earlyTransportVerdict<C extends Connection | NativeConnection>(
  options: ClusterConnectionOptions,
  opening: Promise<C>,
): { verdict: Promise<never>; cancel: () => void } {
  let cancelled = false;
  let timer: NodeJS.Timeout | undefined;
  const verdict = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      void diagnoseTransport(options)
        .catch(() => undefined)
        .then((v) => {
          if (cancelled || !v || !STANDING_TRANSPORT_FAILURES.has(v.failure)) return;
          cancelled = true;
          opening.then((c) => c.close()).catch(() => undefined);
          reject(Object.assign(new Error(`TLS handshake refused: ${v.detail}`), { transport: v }));
        });
    }, EARLY_VERDICT_AFTER_MS);
  });
  return {
    verdict,
    cancel: () => {
      cancelled = true;
      clearTimeout(timer);
    },
  };
}

/**
 * Opens a connection with `open`, explaining a failure, then describes `namespaces` on it (closing it
 * when one is refused). Shared by the client-side and the worker-side connection.
 */
async function openChecked<C extends Connection | NativeConnection>(
  name: string,
  cluster: ClusterAccess,
  opts: ConnectOptions,
  open: (options: ClusterConnectionOptions) => Promise<C>,
): Promise<C> {
  const options = connectionOptions(name, cluster);
  let conn: C;
  const opening = open(options);
  const early = earlyTransportVerdict(options, opening);
  try {
    conn = await Promise.race([opening, early.verdict]);
  } catch (err) {
    throw await explainConnectFailure(name, cluster, options, err);
  } finally {
    early.cancel();
  }
  try {
    for (const namespace of opts.namespaces ?? []) await checkNamespaceAccess(conn, name, cluster, namespace);
  } catch (err) {
    await conn.close().catch(() => undefined);
    throw err;
  }
  return conn;
}

/**
 * A client-side connection to a plan cluster (receiving messages up to 128 MiB). Its first call
 * (GetSystemInfo) proves the server and the credentials; `namespaces` are then described.
 */
export function connectCluster(name: string, cluster: ClusterAccess, opts: ConnectOptions = {}): Promise<Connection> {
  return openChecked(name, cluster, opts, (options) =>
    Connection.connect({ ...options, connectTimeout: '10s', channelArgs: CLIENT_CHANNEL_ARGS }),
  );
}

/** A worker-side connection to a plan cluster, checked like {@link connectCluster}. */
export function connectNativeCluster(name: string, cluster: ClusterAccess, opts: ConnectOptions = {}): Promise<NativeConnection> {
  // The worker package is loaded only by what runs workers: a CLI command that only talks to a cluster
  // starts about a second sooner without its native runtime.
  return openChecked(name, cluster, opts, async (options) =>
    lazy<typeof SdkWorker>(require, '@temporalio/worker').NativeConnection.connect(options),
  );
}

/** The namespace name on a cluster (Temporal Cloud appends `.<account>`). */
export function namespaceOn(cluster: ClusterAccess, namespace: string): string {
  return cluster.namespaceSuffix ? `${namespace}${cluster.namespaceSuffix}` : namespace;
}
