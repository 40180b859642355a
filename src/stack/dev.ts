/**
 * `cutover dev up|down`: the local stack in the background, its addresses in a state file that
 * other commands read, and a `dev down` that stops exactly what `dev up` started.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseDocument } from 'yaml';
import type { ClusterConfig, Plan } from '../config/types';
import { namespaceOn } from '../clusters/connect';
import { checkListen, codecServerAuthFrom } from '../security/codec-server';
import { loadCodec } from '../security/load';
import { codecTokenFile, ensureCodecToken, writeMissingKeyFiles } from './codec-files';
import { codecEndpointOf, startCodecServerProcess } from './codec-server-process';
import type { CloudServer } from './cloud-server';
import { devStackDir, PROJECT_ROOT } from './paths';
import { ensureClusterPki } from './pki';
import { databasePair, dropDatabasePair, pgFromEnv } from './postgres';
import { commandLine, isAlive, killGroup, waitForPidExit } from './processes';
import { isListening, splitAddress } from './ports';
import { LocalStack, type StackClusterSpec } from './stack';
import type { ClusterEndpoint, ProgressFn } from './types';

export const STATE_FILE = 'state.json';

/** What `dev up` wrote: enough for `dev down` and for other commands to find the stack. */
export interface DevState {
  version: 1;
  runDir: string;
  startedAt: string;
  /** The plan the stack serves: the one given to `dev up`, or one it generated for its own clusters. */
  planPath: string;
  clusters: (ClusterEndpoint & {
    pid: number;
    dbPrefix?: string;
    /** A Cloud-shaped cluster: how clients authenticate, where its credentials are, its JWKS server. */
    cloud?: { auth: 'mtls' | 'api-key'; credentialsDir: string; apiKeyEnv?: string; jwksPid?: number };
  })[];
  redis: { url: string; pid?: number };
  prometheus?: { url: string; pid: number };
  /** The plan's codec server (when it has `codec.server`): every dev-server UI decodes through it. */
  codecServer?: {
    url: string;
    pid: number;
    origins: string[];
    signInUrl?: string;
    /** The variable the token is read from, and the file `dev up` keeps it in when it supplied the token (for `dev env`). */
    tokenEnv?: string;
    tokenFile?: string;
  };
}

export class DevStackError extends Error {
  override name = 'DevStackError';
}

/** Bad input to a `dev` command (exit 2): `field` names what to fix; nothing was started or changed. */
export class DevInputError extends Error {
  override name = 'DevInputError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

/** Where `dev up` keeps the credentials of Cloud-shaped clusters: `./.cutover/cloud/<cluster>/`, kept by `dev down`. */
export function cloudCredentialsDir(cwd = process.cwd()): string {
  return path.join(cwd, '.cutover', 'cloud');
}

const isCloudShaped = (cluster: ClusterConfig | undefined) => cluster?.local?.server === 'cloud';

/**
 * The control namespace as its cluster names it: with the cluster's `namespaceSuffix` (Cloud's account
 * suffix), as for every other namespace there — the same name the worker and the cockpit use.
 */
export function controlNamespaceOn(plan: Plan): string {
  return namespaceOn(plan.clusters[plan.control.cluster]!, plan.control.namespace);
}

/**
 * Namespaces each cluster of a plan needs: default, the control namespace, and the units' namespaces.
 * A Cloud-shaped cluster gets no `default` (Cloud has none) and suffixed names throughout.
 */
export function planClusterSpecs(plan: Plan): StackClusterSpec[] {
  return Object.entries(plan.clusters).map(([name, cluster]) => {
    const { host, port } = splitAddress(cluster.address);
    if (!['127.0.0.1', 'localhost'].includes(host)) {
      throw new DevStackError(
        `clusters.${name}.address: ${cluster.address} is not local; ` +
          '`cutover dev up` runs clusters on 127.0.0.1 only — use a 127.0.0.1:<port> address in a local plan',
      );
    }
    const namespaces = new Set(isCloudShaped(cluster) ? [] : ['default']);
    if (plan.control.cluster === name) namespaces.add(controlNamespaceOn(plan));
    for (const [ns, cfg] of Object.entries(plan.namespaces)) {
      if (plan.source === name) namespaces.add(namespaceOn(cluster, ns));
      if (plan.target === name) namespaces.add(namespaceOn(cluster, cfg.target));
    }
    return { name, port, namespaces: [...namespaces], local: cluster.local };
  });
}

/** The stack without a plan: `legacy` and `cloud` on free ports, with the example plan's namespaces. */
export const DEFAULT_SPECS: StackClusterSpec[] = ['legacy', 'cloud'].map((name) => ({
  name,
  namespaces: ['default', 'cutover', 'payments', 'detections'],
}));

export function readDevState(cwd = process.cwd()): DevState | undefined {
  const file = path.join(devStackDir(cwd), STATE_FILE);
  if (!fs.existsSync(file)) return undefined;
  return JSON.parse(fs.readFileSync(file, 'utf8')) as DevState;
}

function anyAlive(state: DevState): boolean {
  return [...state.clusters.map((c) => c.pid), state.redis.pid, state.prometheus?.pid, state.codecServer?.pid].some(
    (pid) => pid !== undefined && isAlive(pid),
  );
}

/** Writes the example plan with this stack's addresses, so `worker`, `validate` etc. work at once. */
function writeGeneratedPlan(file: string, endpoints: Record<string, ClusterEndpoint>, redisUrl: string): void {
  const doc = parseDocument(fs.readFileSync(path.join(PROJECT_ROOT, 'examples', 'plan.yaml'), 'utf8'));
  for (const [name, ep] of Object.entries(endpoints)) {
    doc.setIn(['clusters', name, 'address'], ep.address);
    doc.deleteIn(['clusters', name, 'local']);
  }
  doc.setIn(['redis', 'url'], redisUrl);
  fs.writeFileSync(file, `# Generated by \`cutover dev up\` for the stack it started; removed by \`cutover dev down\`.\n${doc.toString()}`);
}

export interface DevUpOptions {
  plan?: { path: string; plan: Plan };
  cwd?: string;
  ui?: boolean;
  onProgress?: ProgressFn;
}

/** A credential file the plan names for a Cloud-shaped cluster, and the stack's file it must equal. */
interface PlanCredentialFile {
  field: string;
  planFile: string;
  source: string;
  secret: boolean;
}

/**
 * The files the plan names (`tls.*Path`, relative to the plan file's directory) for its Cloud-shaped
 * clusters, each paired with the stack's copy. Mints the stack's certificates on first use. Throws
 * DevInputError, before anything is written or started, when an existing file differs from the stack's.
 */
async function planCredentialFiles(planPath: string, plan: Plan, credentialsDir: string): Promise<PlanCredentialFile[]> {
  const files: PlanCredentialFile[] = [];
  const planDir = path.dirname(path.resolve(planPath));
  for (const [name, cluster] of Object.entries(plan.clusters)) {
    if (!isCloudShaped(cluster)) continue;
    const pki = await ensureClusterPki(path.join(credentialsDir, name));
    const mtls = cluster.local?.auth === 'mtls';
    const wanted: [keyof NonNullable<ClusterConfig['tls']>, string, boolean][] = [
      ['serverRootCACertPath', pki.ca.certPath, false],
      ...(mtls
        ? ([
            ['clientCertPath', pki.client.certPath, false],
            ['clientKeyPath', pki.client.keyPath, true],
          ] as [keyof NonNullable<ClusterConfig['tls']>, string, boolean][])
        : []),
    ];
    for (const [key, source, secret] of wanted) {
      const named = cluster.tls?.[key];
      if (!named) continue;
      const field = `clusters.${name}.tls.${key}`;
      const planFile = path.resolve(planDir, named);
      if (fs.existsSync(planFile) && !fs.readFileSync(planFile).equals(fs.readFileSync(source))) {
        throw new DevInputError(
          field,
          `${planFile} exists and is not this stack's ${secret ? 'key' : 'certificate'} (${source}); ` +
            'remove that file so `dev up` writes it, or point the field at a new path',
        );
      }
      files.push({ field, planFile, source, secret });
    }
  }
  return files;
}

/** Starts the local stack in the background and records it; throws DevStackError if one is up. */
export async function devUp(opts: DevUpOptions): Promise<DevState> {
  const dir = devStackDir(opts.cwd);
  const previous = readDevState(opts.cwd);
  if (previous && anyAlive(previous)) {
    throw new DevStackError(`a local stack is already up (state in ${path.join(dir, STATE_FILE)}); run \`cutover dev down\` first`);
  }
  if (opts.plan?.plan.redis.sentinel) {
    // The local stack runs one Redis of its own; the plan's sentinels are a production setup it cannot stand in for.
    throw new DevInputError(
      'redis.sentinel',
      'the local stack runs one Redis and no sentinels; for `dev up`, use a copy of the plan with redis.url ' +
        '(e.g. redis://127.0.0.1:6379) in place of redis.sentinel',
    );
  }
  const credentialsDir = cloudCredentialsDir(opts.cwd);
  const credentialFiles = opts.plan ? await planCredentialFiles(opts.plan.path, opts.plan.plan, credentialsDir) : [];
  const codecSettings = opts.plan?.plan.codec?.server;
  // The codec's key files and the codec server's token, written when missing, before they are checked (after
  // the plan's certificate files are: a refusal there leaves no new key behind).
  const codecEnv: NodeJS.ProcessEnv = { ...process.env };
  let tokenFile: string | undefined;
  if (opts.plan?.plan.codec) {
    const planDir = path.dirname(path.resolve(opts.plan.path));
    for (const k of writeMissingKeyFiles(opts.plan.plan, planDir)) opts.onProgress?.(`wrote codec key ${k.id} → ${k.file} (mode 0600)`);
    const tokenEnv = codecSettings?.tokenEnv;
    // A token the caller exported is theirs to keep; otherwise the stack's own, kept in .cutover/codec/.
    if (tokenEnv && !codecEnv[tokenEnv]?.trim()) {
      tokenFile = codecTokenFile(opts.cwd);
      const { token, created } = ensureCodecToken(tokenFile);
      codecEnv[tokenEnv] = token;
      if (created) opts.onProgress?.(`wrote the codec server's token → ${tokenFile} (mode 0600; \`cutover dev env\` exports it)`);
    }
  }
  if (codecSettings) await checkCodecServerInput(opts.plan!.plan, codecEnv);
  for (const f of credentialFiles) {
    if (fs.existsSync(f.planFile)) continue;
    fs.mkdirSync(path.dirname(f.planFile), { recursive: true });
    // Created with its mode: a private key is never readable by others, not even for a moment.
    fs.writeFileSync(f.planFile, fs.readFileSync(f.source), { mode: f.secret ? 0o600 : 0o644, flag: 'wx' });
    opts.onProgress?.(`wrote ${f.field} → ${f.planFile}`);
  }
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const stack = await LocalStack.start({
    runDir: dir,
    clusters: opts.plan ? planClusterSpecs(opts.plan.plan) : DEFAULT_SPECS,
    redisUrl: opts.plan?.plan.redis.url,
    ui: opts.ui ?? true,
    codecEndpoint: codecSettings ? codecEndpointOf(codecSettings) : undefined,
    detached: true,
    prometheus: 'if-installed',
    onProgress: opts.onProgress,
    credentialsDir,
    jwksRefreshInterval: '1m',
  });
  const cloudInfo = async (name: string, proc: unknown): Promise<DevState['clusters'][number]['cloud']> => {
    if (!opts.plan || !isCloudShaped(opts.plan.plan.clusters[name])) return undefined;
    const server = proc as CloudServer;
    // Minted (or reused) now, so `dev env` only reads a file.
    if (server.auth === 'api-key') await server.cutoverApiKey();
    return {
      auth: server.auth,
      credentialsDir: path.join(credentialsDir, name),
      apiKeyEnv: opts.plan.plan.clusters[name]?.apiKeyEnv,
      jwksPid: server.jwksPid,
    };
  };
  let codecServer: DevState['codecServer'];
  if (codecSettings) {
    // The UIs' origins exist only now (their ports are picked at start), so the codec server starts last.
    const origins = Object.values(stack.endpoints()).flatMap((e) => (e.uiUrl ? [e.uiUrl] : []));
    opts.onProgress?.('starting the codec server…');
    try {
      const proc = await startCodecServerProcess({
        planPath: opts.plan!.path,
        origins,
        logFile: path.join(dir, 'codec-server.log'),
        detached: true,
        env: codecEnv,
      });
      const signIn = codecSettings.tokenEnv && codecSettings.includeCredentials ? `${proc.url}/session` : undefined;
      codecServer = {
        url: proc.url,
        pid: proc.pid,
        origins: [...new Set([...codecSettings.origins, ...origins])],
        signInUrl: signIn,
        tokenEnv: codecSettings.tokenEnv,
        tokenFile,
      };
    } catch (err) {
      await stack.stop({ dropData: true });
      throw new DevStackError((err as Error).message);
    }
  }
  let planPath = opts.plan ? path.resolve(opts.plan.path) : path.join(dir, 'plan.yaml');
  if (!opts.plan) writeGeneratedPlan(planPath, stack.endpoints(), stack.redisUrl);
  planPath = path.resolve(planPath);
  const state: DevState = {
    version: 1,
    runDir: dir,
    startedAt: new Date().toISOString(),
    planPath,
    clusters: await Promise.all(
      Object.entries(stack.clusters).map(async ([name, c]) => ({
        ...c.endpoint,
        pid: c.pid!,
        dbPrefix: c.cleanupInfo?.dbPrefix,
        cloud: await cloudInfo(name, c),
      })),
    ),
    redis: { url: stack.redisUrl, pid: stack.redis?.pid },
    prometheus: stack.prometheus ? { url: stack.prometheus.url, pid: stack.prometheus.pid! } : undefined,
    codecServer,
  };
  fs.writeFileSync(path.join(dir, STATE_FILE), JSON.stringify(state, null, 2));
  return state;
}

/**
 * What the codec server needs, checked before anything starts (a missing key or token is bad input, and
 * the child would only die of it later): the keys, the token, and a free listen address.
 */
async function checkCodecServerInput(plan: Plan, env: NodeJS.ProcessEnv): Promise<void> {
  const settings = plan.codec!.server!;
  loadCodec(plan.codec!, { env });
  codecServerAuthFrom(settings, env);
  const { host, port } = checkListen(settings.listen);
  if (port !== 0 && (await isListening(host === '0.0.0.0' ? '127.0.0.1' : host, port))) {
    throw new DevInputError(
      'codec.server.listen',
      `${settings.listen} is already in use (a codec server of your own?); stop what listens there, or set another listen address`,
    );
  }
}

/** Binaries `dev up` may have started: `dev down` never signals a PID running anything else. */
const OURS = /temporal|redis-server|prometheus|cutover\.js dev jwks|cutover\.js codec-server/;

/**
 * Stops everything the recorded `dev up` started, drops the databases of PostgreSQL-backed clusters
 * (unless `keep`), and removes its run directory (keeping it too with `keep`).
 */
export async function devDown(
  opts: { cwd?: string; keep?: boolean; onProgress?: ProgressFn } = {},
): Promise<{ stopped: string[]; dropped: string[] }> {
  const state = readDevState(opts.cwd);
  const stopped: string[] = [];
  const dropped: string[] = [];
  if (!state) return { stopped, dropped };
  const procs = [
    ...state.clusters.map((c) => ({ label: `cluster ${c.name} (pid ${c.pid})`, pid: c.pid })),
    ...state.clusters.flatMap((c) =>
      c.cloud?.jwksPid ? [{ label: `JWKS of cluster ${c.name} (pid ${c.cloud.jwksPid})`, pid: c.cloud.jwksPid }] : [],
    ),
    ...(state.redis.pid ? [{ label: `redis (pid ${state.redis.pid})`, pid: state.redis.pid }] : []),
    ...(state.prometheus ? [{ label: `prometheus (pid ${state.prometheus.pid})`, pid: state.prometheus.pid }] : []),
    ...(state.codecServer ? [{ label: `codec server (pid ${state.codecServer.pid})`, pid: state.codecServer.pid }] : []),
  ];
  // Gone already, or the PID was reused by something not ours: leave it alone.
  const ours = procs.filter((p) => OURS.test(commandLine(p.pid) ?? ''));
  for (const p of ours) killGroup(p.pid, 'SIGTERM');
  for (const p of ours) {
    if (!(await waitForPidExit(p.pid, 10_000))) {
      killGroup(p.pid, 'SIGKILL');
      await waitForPidExit(p.pid, 5_000);
    }
    stopped.push(p.label);
    opts.onProgress?.(`stopped ${p.label}`);
  }
  if (opts.keep) {
    // The databases stay (the next `dev up` here reuses them: their names derive from the run directory).
    fs.rmSync(path.join(state.runDir, STATE_FILE), { force: true });
    return { stopped, dropped };
  }
  for (const c of state.clusters.filter((c) => c.dbPrefix)) {
    const pair = databasePair(c.dbPrefix!);
    await dropDatabasePair(pgFromEnv(), pair);
    dropped.push(pair.persistence, pair.visibility);
    opts.onProgress?.(`dropped databases ${pair.persistence}, ${pair.visibility}`);
  }
  fs.rmSync(state.runDir, { recursive: true, force: true });
  return { stopped, dropped };
}

/**
 * `dev env`: one `export <apiKeyEnv>=<token>` line per Cloud-shaped cluster with API keys of the stack
 * `dev up` started here (for `planPath`, when given), and `export <codec.server.tokenEnv>=<token>` when
 * `dev up` supplied the codec server's token. DevInputError when no such stack is up.
 */
export function devEnv(opts: { cwd?: string; planPath?: string } = {}): string[] {
  const state = readDevState(opts.cwd);
  if (!state || !anyAlive(state)) {
    throw new DevInputError('--plan', 'no local stack is up here; run `cutover dev up --plan <file>` first');
  }
  if (opts.planPath && path.resolve(opts.planPath) !== state.planPath) {
    throw new DevInputError(
      '--plan',
      `the local stack here serves ${state.planPath}, not ${path.resolve(opts.planPath)}; ` +
        'pass that plan, or run `cutover dev down` and `cutover dev up --plan <file>`',
    );
  }
  const lines: string[] = [];
  for (const c of state.clusters) {
    if (c.cloud?.auth !== 'api-key' || !c.cloud.apiKeyEnv) continue;
    const stored = JSON.parse(fs.readFileSync(path.join(c.cloud.credentialsDir, 'api-key.json'), 'utf8')) as { token: string };
    lines.push(`export ${c.cloud.apiKeyEnv}=${shellQuote(stored.token)}`);
  }
  const codec = state.codecServer;
  if (codec?.tokenEnv && codec.tokenFile) {
    lines.push(`export ${codec.tokenEnv}=${shellQuote(fs.readFileSync(codec.tokenFile, 'utf8').trim())}`);
  }
  return lines;
}

/** A single-quoted shell word (a JWT has no quote, but nothing printed for `eval` goes unquoted). */
function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}
