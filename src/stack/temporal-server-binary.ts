// Finds (or builds) temporal-server and temporal-sql-tool for self-hosted clusters in the local stack,
// and the PostgreSQL schema files that ship in the server's Go module.
//
// Order: paths from the environment → the project cache → `go install` into the cache. The build goes
// to a private GOBIN inside the cache and is renamed into place, so a build killed half-way never
// leaves a half-written binary where the next run would pick it up.
import { execFile, spawn } from 'node:child_process';
import { constants as fsConstants, promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { cacheDir as projectCacheDir } from './paths';
import type { ProgressFn } from './types';

/** The server version the project pins (the same server the temporal CLI v1.5.1 embeds). */
export const TEMPORAL_SERVER_VERSION = '1.29.1';
const MODULE = 'go.temporal.io/server';
const HEARTBEAT_MS = 10_000;
const BUILD_TIMEOUT_MS = 30 * 60_000;

/** Where the binaries and schema files were found. */
export interface TemporalServerBinaries {
  /** `temporal-server` executable. */
  server: string;
  /** `temporal-sql-tool` executable. */
  sqlTool: string;
  /** `…/schema/postgresql/v12` (holds `temporal/versioned` and `visibility/versioned`). */
  schemaDir: string;
}

/** Options of `resolveTemporalServer`. */
export interface ResolveTemporalServerOptions {
  /** Project cache; binaries go to `<cacheDir>/bin`. Default `<repo>/.cache` (or `CUTOVER_CACHE_DIR`). */
  cacheDir?: string;
  /** Progress lines (build start, a heartbeat every ~10 s, the time it took). */
  onProgress?: ProgressFn;
  /** Environment to read the overrides from (tests); default `process.env`. */
  env?: NodeJS.ProcessEnv;
}

/** The binaries could not be found or built; the message names the fixes. */
export class TemporalServerBinaryError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TemporalServerBinaryError';
  }
}

const FIXES =
  `Fixes: set TEMPORAL_SERVER_BIN and TEMPORAL_SQL_TOOL to existing binaries (and TEMPORAL_SCHEMA_DIR to ` +
  `…/schema/postgresql/v12), or install Go (https://go.dev/dl) and re-run so the project builds ` +
  `${MODULE} v${TEMPORAL_SERVER_VERSION} into the cache.`;

async function isExecutable(file: string): Promise<boolean> {
  try {
    const stat = await fs.stat(file);
    if (!stat.isFile()) return false;
    await fs.access(file, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

async function isDirectory(dir: string): Promise<boolean> {
  try {
    return (await fs.stat(dir)).isDirectory();
  } catch {
    return false;
  }
}

function goEnvVars(): NodeJS.ProcessEnv {
  // GOTOOLCHAIN=local: never download another toolchain (the machine may be offline).
  return { ...process.env, GOTOOLCHAIN: 'local', CGO_ENABLED: '0' };
}

function goOutput(args: string[], timeoutMs = 120_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('go', args, { cwd: os.tmpdir(), env: goEnvVars(), timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(Object.assign(err, { stderr: String(stderr) }));
      else resolve(String(stdout).trim());
    });
  });
}

function envPath(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name]?.trim();
  return value ? path.resolve(value) : undefined;
}

/** Resolves temporal-server, temporal-sql-tool and the PostgreSQL schema dir, building them if needed. */
export async function resolveTemporalServer(options: ResolveTemporalServerOptions = {}): Promise<TemporalServerBinaries> {
  const env = options.env ?? process.env;
  const cacheDir = path.resolve(options.cacheDir ?? projectCacheDir());
  const binDir = path.join(cacheDir, 'bin');
  const wanted = [
    { envName: 'TEMPORAL_SERVER_BIN', cached: path.join(binDir, 'temporal-server'), pkg: `${MODULE}/cmd/server`, built: 'server' },
    { envName: 'TEMPORAL_SQL_TOOL', cached: path.join(binDir, 'temporal-sql-tool'), pkg: `${MODULE}/cmd/tools/sql`, built: 'sql' },
  ];

  const found: string[] = [];
  const toBuild: typeof wanted = [];
  for (const w of wanted) {
    const fromEnv = envPath(env, w.envName);
    if (fromEnv) {
      // An explicit path that is wrong is an error, never a silent fallback to something else.
      if (!(await isExecutable(fromEnv))) {
        throw new TemporalServerBinaryError(
          `${w.envName}=${fromEnv} is not an executable file. Fix: point ${w.envName} at the binary, or unset it to use the project cache.`,
        );
      }
      found.push(fromEnv);
    } else if (await isExecutable(w.cached)) {
      found.push(w.cached);
    } else {
      found.push(w.cached);
      toBuild.push(w);
    }
  }
  if (toBuild.length > 0) {
    await buildInto(binDir, toBuild, options.onProgress);
  }
  const schemaDir = await resolveSchemaDir(env, options.onProgress);
  return { server: found[0], sqlTool: found[1], schemaDir };
}

async function requireGo(): Promise<string> {
  try {
    return await goOutput(['version'], 30_000);
  } catch (err) {
    throw new TemporalServerBinaryError(
      `Go is needed to build temporal-server but \`go version\` failed (${(err as Error).message.split('\n')[0]}). ${FIXES}`,
      {
        cause: err,
      },
    );
  }
}

async function buildInto(
  binDir: string,
  targets: { cached: string; pkg: string; built: string }[],
  onProgress?: ProgressFn,
): Promise<void> {
  const goVersion = await requireGo();
  await fs.mkdir(binDir, { recursive: true });
  // The private GOBIN is inside the cache so the final rename stays on one filesystem (atomic).
  const gobin = await fs.mkdtemp(path.join(binDir, '.build-'));
  const pkgs = targets.map((t) => `${t.pkg}@v${TEMPORAL_SERVER_VERSION}`);
  const names = targets.map((t) => path.basename(t.cached)).join(' and ');
  const startedAt = Date.now();
  onProgress?.(`building ${names} v${TEMPORAL_SERVER_VERSION} with ${goVersion} (once; 1.5-3 min on 2 cores, longer on a busy machine)…`);
  const heartbeat = setInterval(() => {
    onProgress?.(`  still building ${names}… ${Math.round((Date.now() - startedAt) / 1000)} s`);
  }, HEARTBEAT_MS);
  try {
    await runGoInstall(gobin, pkgs);
    for (const t of targets) {
      await fs.rename(path.join(gobin, t.built), t.cached);
    }
    onProgress?.(`built ${names} in ${((Date.now() - startedAt) / 1000).toFixed(1)} s → ${binDir}`);
  } finally {
    clearInterval(heartbeat);
    await fs.rm(gobin, { recursive: true, force: true });
  }
}

function runGoInstall(gobin: string, pkgs: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('go', ['install', ...pkgs], {
      cwd: os.tmpdir(),
      env: { ...goEnvVars(), GOBIN: gobin },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let tail = '';
    const keep = (chunk: Buffer) => {
      tail = (tail + chunk.toString()).slice(-4000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const timer = setTimeout(() => child.kill('SIGKILL'), BUILD_TIMEOUT_MS);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new TemporalServerBinaryError(`could not run go install: ${err.message}. ${FIXES}`, { cause: err }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) {
        resolve();
      } else {
        const lines = tail
          .split('\n')
          .filter((l) => l && !l.startsWith('go: downloading'))
          .slice(-12)
          .join('\n');
        reject(new TemporalServerBinaryError(`go install ${pkgs.join(' ')} failed (${signal ?? `exit ${code}`}):\n${lines}\n${FIXES}`));
      }
    });
  });
}

async function resolveSchemaDir(env: NodeJS.ProcessEnv, onProgress?: ProgressFn): Promise<string> {
  const fromEnv = envPath(env, 'TEMPORAL_SCHEMA_DIR');
  const check = async (dir: string) =>
    (await isDirectory(path.join(dir, 'temporal', 'versioned'))) && (await isDirectory(path.join(dir, 'visibility', 'versioned')));
  if (fromEnv) {
    if (!(await check(fromEnv))) {
      throw new TemporalServerBinaryError(
        `TEMPORAL_SCHEMA_DIR=${fromEnv} has no temporal/versioned and visibility/versioned. ` +
          `Fix: point it at ${MODULE}@v${TEMPORAL_SERVER_VERSION}/schema/postgresql/v12, or unset it.`,
      );
    }
    return fromEnv;
  }
  await requireGo();
  const modCache = await goOutput(['env', 'GOMODCACHE']);
  const dir = path.join(modCache, `${MODULE}@v${TEMPORAL_SERVER_VERSION}`, 'schema', 'postgresql', 'v12');
  if (await check(dir)) return dir;
  onProgress?.(`downloading ${MODULE}@v${TEMPORAL_SERVER_VERSION} for its schema files…`);
  try {
    await goOutput(['mod', 'download', `${MODULE}@v${TEMPORAL_SERVER_VERSION}`], 10 * 60_000);
  } catch (err) {
    throw new TemporalServerBinaryError(
      `go mod download ${MODULE}@v${TEMPORAL_SERVER_VERSION} failed: ` +
        `${((err as { stderr?: string }).stderr ?? '').trim().split('\n').slice(-3).join(' | ')}. ${FIXES}`,
      { cause: err },
    );
  }
  if (!(await check(dir))) {
    throw new TemporalServerBinaryError(`the schema files are not at ${dir} after go mod download. ${FIXES}`);
  }
  return dir;
}
