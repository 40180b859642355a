/**
 * Workflow bundles kept on disk, so a worker process does not bundle the same code again.
 *
 * Bundling cutover's workflows takes 4–5 s of CPU (15 s on a busy 2-core machine), and every process that
 * runs a worker paid it at each start: a restarted cutover worker, a CLI worker, each test process. A bundle
 * depends only on its inputs, so it is kept under the project cache, named by a digest of them:
 * - the bundle options (paths, interceptor modules, converters);
 * - every source file under the package's own source folder (`src`, or `dist/src` when running compiled)
 *   and under the folders of the modules the options name (test workflows live outside `src`);
 * - the packages the bundle can take code from: the lock file where there is one (a clone), else each
 *   dependency's installed version.
 * A change to any of them names another file, so a stale bundle is never loaded. Where the cache cannot be
 * written (a read-only install), the bundle is made in memory as before.
 *
 * For workflow code that imports only from those folders and from packages: cutover's own workflows and
 * its tests'. An application's workflows may import from anywhere in its project, so DualWorkers bundles
 * them itself.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { bundleWorkflowCode, type BundleOptions, type WorkflowBundle } from '@temporalio/worker';
import { cacheDir, findUp, PROJECT_ROOT } from './stack/paths';

/** Bundles kept; older ones are removed when a new one is written. */
const KEEP = 12;
const SOURCE_EXTENSIONS = /\.(ts|js|mjs|cjs|json)$/;

export interface CachedBundle {
  bundle: WorkflowBundle;
  /** The bundle's file (undefined when the cache could not be written). */
  file?: string;
  /** Whether it was read from the cache rather than bundled now. */
  hit: boolean;
}

/** The bundle for `options`, from the cache when its inputs are unchanged; bundled (and kept) otherwise. */
export async function cachedWorkflowBundle(options: BundleOptions, dir = path.join(cacheDir(), 'workflow-bundles')): Promise<CachedBundle> {
  const key = bundleKey(options);
  const file = path.join(dir, `${key}.js`);
  let code: string | undefined;
  try {
    code = fs.readFileSync(file, 'utf8');
  } catch {
    // not cached yet
  }
  if (code !== undefined) {
    try {
      // Used now: the pruning keeps the newest by time of use (a read-only cache just keeps its times).
      const now = new Date();
      fs.utimesSync(file, now, now);
    } catch {
      // read-only
    }
    return { bundle: { code }, file, hit: true };
  }
  const bundle = await bundleWorkflowCode(options);
  try {
    fs.mkdirSync(dir, { recursive: true });
    // Written whole, then renamed: a process reading the cache never sees half a bundle.
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, bundle.code);
    fs.renameSync(tmp, file);
    prune(dir);
    return { bundle: { code: bundle.code }, file, hit: false };
  } catch {
    return { bundle: { code: bundle.code }, hit: false };
  }
}

/** The digest that names a bundle: its options, its sources and its packages (see the file comment). */
export function bundleKey(options: BundleOptions): string {
  const h = createHash('sha256');
  const { logger: _logger, webpackConfigHook: hook, ...rest } = options;
  h.update(JSON.stringify(rest));
  // A config hook is code: its text stands for it.
  if (hook) h.update(String(hook));
  const modules = [
    options.workflowsPath,
    ...(options.workflowInterceptorModules ?? []),
    options.payloadConverterPath,
    options.failureConverterPath,
  ].filter((m): m is string => typeof m === 'string');
  for (const file of sourceFiles([sourceRoot(), ...modules.map((m) => path.dirname(m))])) {
    const text = readIfThere(file);
    // Gone between the listing and the read (an editor's or a lint test's temporary file): not a source.
    if (text === undefined) continue;
    h.update(file);
    h.update('\0');
    h.update(text);
  }
  h.update(packagesDigest());
  return h.digest('hex').slice(0, 32);
}

/** A file's bytes, or undefined when it no longer exists. */
function readIfThere(file: string): Buffer | undefined {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** `src` in a clone; `dist/src` in the installed package (which has no sources). */
function sourceRoot(): string {
  const src = path.join(PROJECT_ROOT, 'src');
  return fs.existsSync(src) ? src : path.join(PROJECT_ROOT, 'dist', 'src');
}

/** Every source file under `dirs` (a folder inside another is read once), in a stable order. */
function sourceFiles(dirs: string[]): string[] {
  const roots = [...new Set(dirs.map((d) => path.resolve(d)))].sort();
  const kept = roots.filter((d, i) => !roots.slice(0, i).some((r) => d.startsWith(`${r}${path.sep}`)));
  const out: string[] = [];
  const walk = (dir: string) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      if (e.name === 'node_modules' || e.name.startsWith('.')) continue;
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (SOURCE_EXTENSIONS.test(e.name)) out.push(p);
    }
  };
  for (const d of kept) walk(d);
  return out;
}

let packages: string | undefined;

/** The lock file's digest, or (installed, no lock file) each dependency's name and version. */
function packagesDigest(): string {
  if (packages !== undefined) return packages;
  const lock = path.join(PROJECT_ROOT, 'package-lock.json');
  if (fs.existsSync(lock)) return (packages = createHash('sha256').update(fs.readFileSync(lock)).digest('hex'));
  const manifest = JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8')) as {
    dependencies?: Record<string, string>;
  };
  const req = createRequire(path.join(PROJECT_ROOT, 'package.json'));
  const versions = Object.keys(manifest.dependencies ?? {})
    .sort()
    .map((name) => `${name}@${installedVersion(req, name)}`);
  return (packages = versions.join('\n'));
}

function installedVersion(req: NodeJS.Require, name: string): string {
  // Some packages do not export their package.json: found from their entry point instead.
  let dir: string;
  try {
    return (JSON.parse(fs.readFileSync(req.resolve(`${name}/package.json`), 'utf8')) as { version?: string }).version ?? '?';
  } catch {
    try {
      dir = path.dirname(req.resolve(name));
    } catch {
      return 'absent';
    }
  }
  const version = findUp(dir, (d) => {
    try {
      const m = JSON.parse(fs.readFileSync(path.join(d, 'package.json'), 'utf8')) as { name?: string; version?: string };
      return m.name === name ? (m.version ?? '?') : undefined;
    } catch {
      return undefined; // not this folder
    }
  });
  return version ?? '?';
}

/** Keeps the newest {@link KEEP} bundles (another process pruning at the same time is harmless). */
function prune(dir: string): void {
  const mtime = (f: string) => {
    try {
      return fs.statSync(path.join(dir, f)).mtimeMs;
    } catch {
      return -1; // removed meanwhile
    }
  };
  const files = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.js'))
    .map((f) => ({ f, t: mtime(f) }))
    .filter((x) => x.t >= 0)
    .sort((a, b) => b.t - a.t);
  for (const { f } of files.slice(KEEP)) fs.rmSync(path.join(dir, f), { force: true });
}
