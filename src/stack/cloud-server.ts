/**
 * A Cloud-shaped local cluster: the same temporal-server 1.29.1 as the self-hosted clusters, behind a
 * front door configured like Temporal Cloud's (docs/design.md, "Cloud-shaped local cluster"):
 * - TLS only, with a CA the stack mints (the server certificate is valid for 127.0.0.1 and localhost);
 * - `mtls`: client certificates verified against that CA (no per-namespace authorization: the stock
 *   server cannot map a certificate to permissions);
 * - `api-key`: JWT API keys checked by the server's default claim mapper and authorizer against a JWKS
 *   the stack serves, with per-namespace permissions; namespace create and search-attribute add need
 *   the stack's own admin key, as Cloud keeps them in its control plane.
 * The store is SQLite in memory: a restart comes back empty and start-up creates the namespaces and
 * search attributes again (as Cloud's control plane would have them). Credentials (certificates, the
 * key ring, cutover's API key) live in `credentialsDir` and survive the server, so clients configured
 * once keep working. Everything listens on 127.0.0.1 only.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { STACK_SEARCH_ATTRIBUTES } from '../domain/search-attributes';
import { KeyRing, namespacePermissions, SYSTEM_ADMIN_PERMISSION, type ApiKeyRole, type MintedApiKey } from './api-keys';
import { JwksServer, jwksUrl, startJwksProcess } from './jwks-server';
import { ensureClusterPki, type ClusterPki } from './pki';
import { freePort } from './ports';
import { isAlive, stopProcess, type SpawnedProcess } from './processes';
import { SDK_TYPE_NAMES } from './postgres-server';
import { SqliteMemoryStore, TemporalServer, type FrontDoor, type SearchAttributeTypeName } from './temporal-server';
import type { ClusterEndpoint, ClusterProcess, ProgressFn } from './types';

/** How clients authenticate to the Cloud-shaped cluster. */
export type CloudAuth = 'mtls' | 'api-key';

/** Options of `CloudServer.create`. */
export interface CloudServerOptions {
  name: string;
  /** Frontend gRPC port on 127.0.0.1. */
  port: number;
  /** Config and logs (removed by `dev down`). */
  runDir: string;
  /** Certificates, key ring and cutover's API key (kept across `dev down`). */
  credentialsDir: string;
  auth: CloudAuth;
  /** The namespaces to create, already suffixed (`payments.acct1`). */
  namespaces: string[];
  /** Default: the stack's search attributes. */
  searchAttributes?: { name: string; type: SearchAttributeTypeName }[];
  serverBinary: string;
  /** How often the server re-reads the JWKS (a revoke takes effect within it). Default `1m`. */
  jwksRefreshInterval?: string;
  /** `process`: the JWKS runs as `cutover dev jwks` (needed when detached); `in-process`: inside this process. */
  jwks?: 'process' | 'in-process';
  detached?: boolean;
  onProgress?: ProgressFn;
  dynamicConfig?: Record<string, unknown>;
  readyTimeoutMs?: number;
}

/** The stack's admin key: tokens are re-signed per start, short-lived, never handed out. */
const ADMIN_SUBJECT = 'cutover-local-stack-admin';
const ADMIN_TOKEN_TTL_MS = 10 * 60_000;
/** cutover's own key (what `dev env` prints): long-lived, re-minted when the namespaces change or it nears expiry. */
const CUTOVER_SUBJECT = 'cutover';
const CUTOVER_KEY_TTL_MS = 365 * 24 * 3600_000;
const CUTOVER_KEY_RENEW_MS = 7 * 24 * 3600_000;

/** cutover's API key as stored in `<credentialsDir>/api-key.json` (mode 0600). */
interface StoredCutoverKey {
  kid: string;
  token: string;
  permissions: string[];
  expiresAt: string;
}

/** A Cloud-shaped temporal-server with its JWKS (api-key) and certificates. */
export class CloudServer implements ClusterProcess {
  readonly keyRing: KeyRing;
  private readonly server: TemporalServer;
  private jwksChild: SpawnedProcess | undefined;
  private jwksInProcess: JwksServer | undefined;

  private constructor(
    private readonly opts: CloudServerOptions,
    readonly pki: ClusterPki,
    private readonly jwksPort: number,
  ) {
    this.keyRing = new KeyRing(path.join(opts.credentialsDir, 'keys.json'));
    const tls = {
      caCertPath: pki.ca.certPath,
      serverCertPath: pki.server.certPath,
      serverKeyPath: pki.server.keyPath,
      internal: { caCertPath: pki.internalCa.certPath, certPath: pki.internal.certPath, keyPath: pki.internal.keyPath },
    };
    const frontDoor: FrontDoor =
      opts.auth === 'mtls'
        ? { kind: 'mtls', tls, client: pki.client }
        : {
            kind: 'jwt',
            tls,
            jwksUrl: jwksUrl(jwksPort),
            refreshInterval: opts.jwksRefreshInterval ?? '1m',
            adminToken: () => this.adminToken(),
          };
    this.server = new TemporalServer({
      name: opts.name,
      port: opts.port,
      runDir: opts.runDir,
      shards: 1,
      namespaces: opts.namespaces,
      searchAttributes: opts.searchAttributes ?? STACK_SEARCH_ATTRIBUTES.map((k) => ({ name: k.name, type: SDK_TYPE_NAMES[k.type] })),
      serverBinary: opts.serverBinary,
      store: new SqliteMemoryStore(),
      frontDoor,
      kind: 'cloud',
      onProgress: opts.onProgress,
      detached: opts.detached,
      dynamicConfig: opts.dynamicConfig,
      readyTimeoutMs: opts.readyTimeoutMs,
    });
  }

  /** Mints (first time) or reuses the certificates under `credentialsDir`, and picks the JWKS port. */
  static async create(opts: CloudServerOptions): Promise<CloudServer> {
    const pki = await ensureClusterPki(opts.credentialsDir);
    const jwksPort = opts.auth === 'api-key' ? await freePort() : 0;
    return new CloudServer(opts, pki, jwksPort);
  }

  get endpoint(): ClusterEndpoint {
    return this.server.endpoint;
  }

  /** The internal-frontend (internode mTLS with the internal CA; no authorization behind it), once started. */
  get internalFrontendAddress(): string | undefined {
    const port = this.server.ports?.internalFrontendGrpc;
    return port ? `127.0.0.1:${port}` : undefined;
  }

  get auth(): CloudAuth {
    return this.opts.auth;
  }

  get pid(): number | undefined {
    return this.server.pid;
  }

  /** The JWKS server's PID when it runs as its own process (`dev down` stops it too). */
  get jwksPid(): number | undefined {
    const child = this.jwksChild?.child;
    return child && child.exitCode === null && child.signalCode === null ? child.pid : undefined;
  }

  /** Every PID this cluster runs: the server and, when separate, the JWKS server. */
  pids(): number[] {
    return [this.pid, this.jwksPid].filter((p): p is number => p !== undefined);
  }

  /** The JWKS first (the server loads keys only at start-up and at each refresh), then the server. */
  async start(): Promise<void> {
    await this.ensureJwks();
    try {
      await this.server.start();
    } catch (err) {
      // A detached JWKS would otherwise outlive a failed `dev up`, with nothing recording its PID.
      await this.stop().catch(() => undefined);
      throw err;
    }
  }

  /** SIGKILLs the server (the JWKS keeps running, as Cloud's would). */
  kill(): Promise<void> {
    return this.server.kill();
  }

  /** Stops the server, then the JWKS. */
  async stop(): Promise<void> {
    await this.server.stop();
    await stopProcess(this.jwksChild);
    this.jwksChild = undefined;
    await this.jwksInProcess?.stop();
    this.jwksInProcess = undefined;
  }

  /** Comes back empty (in-memory store) and creates the namespaces and search attributes again. */
  async restart(): Promise<void> {
    await this.server.stop();
    await this.start();
  }

  /** A namespace-scoped API key (`<ns>:<role>` for each namespace, default write) with its own signing key. */
  mintApiKey(opts: { namespaces: string[]; role?: ApiKeyRole; expiresInMs?: number; subject?: string }): Promise<MintedApiKey> {
    this.requireApiKeys('mintApiKey');
    return this.keyRing.mint({
      subject: opts.subject ?? 'cutover-test',
      permissions: namespacePermissions(opts.namespaces, opts.role),
      expiresInMs: opts.expiresInMs,
    });
  }

  /** Removes the key's JWK: the server refuses its tokens after its next JWKS refresh. */
  async revokeApiKey(kid: string): Promise<void> {
    this.requireApiKeys('revokeApiKey');
    await this.keyRing.revoke(kid);
  }

  /**
   * cutover's API key: write on every namespace of this cluster and nothing else (no admin), stored in
   * `<credentialsDir>/api-key.json` so it stays the same across restarts and `dev up` / `dev down`.
   */
  async cutoverApiKey(): Promise<string> {
    this.requireApiKeys('cutoverApiKey');
    const file = path.join(this.opts.credentialsDir, 'api-key.json');
    const permissions = namespacePermissions(this.server.namespaces, 'write');
    let stored: StoredCutoverKey | undefined;
    try {
      stored = JSON.parse(await fs.readFile(file, 'utf8')) as StoredCutoverKey;
    } catch {
      stored = undefined;
    }
    const known = stored && (await this.keyRing.list()).some((k) => k.kid === stored.kid);
    const fresh =
      stored &&
      known &&
      Date.parse(stored.expiresAt) - Date.now() > CUTOVER_KEY_RENEW_MS &&
      [...stored.permissions].sort().join() === [...permissions].sort().join();
    if (stored && fresh) return stored.token;
    if (stored && known) await this.keyRing.revoke(stored.kid);
    const minted = await this.keyRing.mint({ subject: CUTOVER_SUBJECT, permissions, expiresInMs: CUTOVER_KEY_TTL_MS });
    const next: StoredCutoverKey = {
      kid: minted.kid,
      token: minted.token,
      permissions,
      expiresAt: new Date(Date.now() + CUTOVER_KEY_TTL_MS).toISOString(),
    };
    await fs.writeFile(file, JSON.stringify(next, null, 2), { mode: 0o600 });
    return minted.token;
  }

  /** A short-lived token of the stack's admin key (created on first use, kept in the ring). */
  private async adminToken(): Promise<string> {
    const kidFile = path.join(this.opts.credentialsDir, 'admin.kid');
    const kid = await fs.readFile(kidFile, 'utf8').catch(() => '');
    const reissued = kid ? await this.keyRing.reissue(kid.trim(), ADMIN_TOKEN_TTL_MS) : undefined;
    if (reissued) return reissued.token;
    const minted = await this.keyRing.mint({
      subject: ADMIN_SUBJECT,
      permissions: [SYSTEM_ADMIN_PERMISSION],
      expiresInMs: ADMIN_TOKEN_TTL_MS,
    });
    await fs.writeFile(kidFile, minted.kid, { mode: 0o600 });
    // The server learns a new key only at its next JWKS refresh: a server already running with the old
    // JWKS does not know this one yet, so it is minted before the server starts (see ensureJwks).
    return minted.token;
  }

  private async ensureJwks(): Promise<void> {
    if (this.opts.auth !== 'api-key') return;
    // The admin key and cutover's key exist before the server first loads the JWKS: a key minted later
    // is known only after the next refresh (a minute for `dev up`).
    await this.adminToken();
    await this.cutoverApiKey();
    if (this.opts.jwks === 'in-process') {
      if (this.jwksInProcess) return;
      const jwks = new JwksServer(this.keyRing.file, this.jwksPort);
      await jwks.start();
      this.jwksInProcess = jwks;
      return;
    }
    if (this.jwksPid !== undefined && isAlive(this.jwksPid)) return;
    await fs.mkdir(this.opts.runDir, { recursive: true });
    this.jwksChild = await startJwksProcess({
      keyFile: this.keyRing.file,
      port: this.jwksPort,
      logFile: path.join(this.opts.runDir, 'jwks.log'),
      detached: this.opts.detached ?? false,
    });
  }

  private requireApiKeys(what: string): void {
    if (this.opts.auth !== 'api-key') {
      throw new Error(`${what}: cluster ${this.opts.name} authenticates with ${this.opts.auth}, not API keys`);
    }
  }
}
