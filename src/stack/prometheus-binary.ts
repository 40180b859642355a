/**
 * Finds `prometheus` (the stack's metrics server) and `promtool` (the alert rules' checks), in order:
 * an environment path (`PROMETHEUS_BIN`, `PROMTOOL_BIN`) → the binary on PATH, if it is recent enough →
 * the project cache → a `go install` build into that cache → an error naming every way to provide it.
 * The build has no web UI assets (they are not in the Go module): the stack only uses the HTTP API.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { compareVersions, goInstall, goVersion } from './go-build';
import { cacheDir as projectCacheDir, onPath } from './paths';
import type { ProgressFn } from './types';

/** The Prometheus release the project builds; the Go module tags it v0.<major><minor>.<patch>. */
export const PROMETHEUS_VERSION = '3.16.0';
export const PROMETHEUS_MODULE = 'github.com/prometheus/prometheus';
const MODULE_VERSION = 'v0.316.0';
/** Oldest release the suite runs on (Debian 12's). */
export const PROMETHEUS_MIN_VERSION = '2.42.0';
/** The module's go.mod asks for go 1.26.7; GOTOOLCHAIN=local never fetches a newer toolchain. */
const MIN_GO = '1.26.7';

export type PrometheusTool = 'prometheus' | 'promtool';

/** The variable that names each tool's path. */
export const PROMETHEUS_ENV: Record<PrometheusTool, string> = { prometheus: 'PROMETHEUS_BIN', promtool: 'PROMTOOL_BIN' };

/** For the progress line (cold Go caches, 2 busy cores); promtool mostly reuses the build cache prometheus leaves. */
const TYPICAL_SECONDS: Record<PrometheusTool, number> = { prometheus: 650, promtool: 60 };

export class PrometheusUnavailableError extends Error {
  override name = 'PrometheusUnavailableError';
}

export interface ResolvePrometheusOptions {
  /** Environment to read the overrides and PATH from, and to build with (tests); default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Project cache; binaries live in `<cacheDir>/bin`. Default `CUTOVER_CACHE_DIR` or `<repo>/.cache`. */
  cacheDir?: string;
  onProgress?: ProgressFn;
}

/** `prometheus --version` → `2.42.0` (also for promtool), or undefined when it does not run or names none. */
export function prometheusVersion(bin: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const r = spawnSync(bin, ['--version'], { encoding: 'utf8', timeout: 10_000, env });
  if (r.status !== 0) return undefined;
  return /version (\d+\.\d+\.\d+)/.exec(`${r.stdout}\n${r.stderr}`)?.[1];
}

function runs(bin: string, env: NodeJS.ProcessEnv): boolean {
  return spawnSync(bin, ['--version'], { timeout: 10_000, env }).status === 0;
}

function recentEnough(version: string | undefined): boolean {
  return version !== undefined && compareVersions(version, PROMETHEUS_MIN_VERSION) >= 0;
}

function binDir(options: ResolvePrometheusOptions): string {
  return path.join(path.resolve(options.cacheDir ?? projectCacheDir()), 'bin');
}

/**
 * The tool from the environment path, PATH or the cache, without building; undefined when none of
 * them has it. A set environment path that does not run is an error, never a silent fallback.
 */
export function findPrometheusTool(tool: PrometheusTool, options: ResolvePrometheusOptions = {}): string | undefined {
  const env = options.env ?? process.env;
  const onProgress = options.onProgress ?? (() => {});
  const envName = PROMETHEUS_ENV[tool];
  const fromEnv = env[envName]?.trim();
  if (fromEnv) {
    const bin = path.resolve(fromEnv);
    if (!runs(bin, env))
      throw new PrometheusUnavailableError(
        `${envName}=${fromEnv} does not run (\`${fromEnv} --version\` failed). ` +
          `Fix: point ${envName} at a ${tool} ≥ ${PROMETHEUS_MIN_VERSION}, or unset it.`,
      );
    return bin;
  }
  const found = onPath(tool, env.PATH ?? '');
  if (found) {
    const v = prometheusVersion(found, env);
    if (recentEnough(v)) return found;
    onProgress(`ignoring ${found} (version ${v ?? 'unknown'}, need ≥ ${PROMETHEUS_MIN_VERSION})`);
  }
  const cached = path.join(binDir(options), tool);
  if (fs.existsSync(cached) && recentEnough(prometheusVersion(cached, env))) return cached;
  return undefined;
}

/** How to provide the tool, for errors. */
function fixes(tool: PrometheusTool, cached: string, go: string | undefined): string {
  return (
    `Provide one of:\n` +
    `  1. ${PROMETHEUS_ENV[tool]}=/path/to/${tool} (${PROMETHEUS_MIN_VERSION} or newer)\n` +
    `  2. a ${tool} ≥ ${PROMETHEUS_MIN_VERSION} on PATH (Debian: apt-get install prometheus, which ships both tools; ` +
    `or a release from https://prometheus.io/download)\n` +
    `  3. Go ≥ ${MIN_GO} on PATH (found: ${go ?? 'none'}), and cutover builds ${tool} ${PROMETHEUS_VERSION} into ${cached} ` +
    `(\`npx cutover dev build\` does it ahead of time)`
  );
}

/** Resolves the tool, building it into the project cache when nothing provides it; returns its path. */
export async function resolvePrometheusTool(tool: PrometheusTool, options: ResolvePrometheusOptions = {}): Promise<string> {
  const found = findPrometheusTool(tool, options);
  if (found) return found;
  const env = options.env ?? process.env;
  const cached = path.join(binDir(options), tool);
  const go = goVersion(env);
  if (!go || compareVersions(go, MIN_GO) < 0) throw new PrometheusUnavailableError(`no ${tool} found. ${fixes(tool, cached, go)}`);
  fs.mkdirSync(path.dirname(cached), { recursive: true });
  try {
    await goInstall({
      pkg: `${PROMETHEUS_MODULE}/cmd/${tool}@${MODULE_VERSION}`,
      producedName: tool,
      dest: cached,
      // The release's version string; without it `--version` names none and the PATH/cache checks fail.
      ldflags: `-s -w -X github.com/prometheus/common/version.Version=${PROMETHEUS_VERSION}`,
      typicalSeconds: TYPICAL_SECONDS[tool],
      onProgress: options.onProgress ?? (() => {}),
      env,
    });
  } catch (err) {
    throw new PrometheusUnavailableError(`${(err as Error).message}\n${fixes(tool, cached, go)}`, { cause: err });
  }
  if (!recentEnough(prometheusVersion(cached, env)))
    throw new PrometheusUnavailableError(`the ${tool} built into ${cached} does not report a version. ${fixes(tool, cached, go)}`);
  return cached;
}
