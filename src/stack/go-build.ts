/**
 * Builds a Go command with `go install` into the project cache, with progress lines (a cold build
 * takes minutes: never a silent wait) and an atomic rename so a killed build never leaves half a binary.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ProgressFn } from './types';

/** The Go toolchain's version (`1.26.8`), or undefined when `go` is not on PATH. */
export function goVersion(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const r = spawnSync('go', ['env', 'GOVERSION'], { encoding: 'utf8', env });
  if (r.status !== 0) return undefined;
  return r.stdout.trim().replace(/^go/, '');
}

/** Compares dotted versions numerically: negative, zero or positive like a sort comparator. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map((x) => parseInt(x, 10) || 0);
  const pb = b.split('.').map((x) => parseInt(x, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

export interface GoInstallOptions {
  /** Module path with version, e.g. `github.com/temporalio/cli/cmd/temporal@v1.5.1`. */
  pkg: string;
  /** Name of the binary `go install` produces (last path element of the package). */
  producedName: string;
  /** Final path in the cache. */
  dest: string;
  ldflags?: string;
  /** Typical duration, for the progress line ("typically ~150 s cold"). */
  typicalSeconds: number;
  onProgress: ProgressFn;
  /** Environment of the build (its PATH finds `go`); default `process.env`. */
  env?: NodeJS.ProcessEnv;
}

/** Runs `go install` into a temporary GOBIN and moves the binary to `dest`. */
export async function goInstall(opts: GoInstallOptions): Promise<void> {
  const gobin = fs.mkdtempSync(path.join(path.dirname(opts.dest), '.build-'));
  const args = ['install', '-v'];
  if (opts.ldflags) args.push('-ldflags', opts.ldflags);
  args.push(opts.pkg);
  const started = Date.now();
  opts.onProgress(`building ${opts.pkg} with go install (typically ~${opts.typicalSeconds} s on a cold cache)…`);
  let packages = 0;
  let lastLine = '';
  const child = spawn('go', args, {
    env: { ...(opts.env ?? process.env), GOTOOLCHAIN: 'local', CGO_ENABLED: '0', GOBIN: gobin },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const onData = (buf: Buffer) => {
    for (const line of buf.toString().split('\n')) {
      if (!line.trim()) continue;
      if (!line.startsWith('go: downloading')) packages++;
      lastLine = line.trim();
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const timer = setInterval(() => {
    const s = Math.round((Date.now() - started) / 1000);
    opts.onProgress(`  … ${s} s elapsed, ${packages} packages built (last: ${lastLine.slice(0, 60)})`);
  }, 10_000);
  const code = await new Promise<number | null>((resolve) => {
    child.once('exit', (c) => resolve(c));
    child.once('error', () => resolve(-1));
  });
  clearInterval(timer);
  const built = path.join(gobin, opts.producedName);
  if (code !== 0 || !fs.existsSync(built)) {
    fs.rmSync(gobin, { recursive: true, force: true });
    throw new Error(`go install ${opts.pkg} failed (exit ${code}); last output: ${lastLine}`);
  }
  fs.renameSync(built, opts.dest);
  fs.rmSync(gobin, { recursive: true, force: true });
  opts.onProgress(`built ${path.basename(opts.dest)} in ${Math.round((Date.now() - started) / 1000)} s → ${opts.dest}`);
}
