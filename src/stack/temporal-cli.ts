/**
 * Finds the `temporal` CLI (dev server) the project runs, in order: `TEMPORAL_CLI` (a path) → a
 * `temporal` on PATH whose version is ≥ 1.5 → the project cache → a `go install` build into that
 * cache → an error naming the three ways to provide it.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cacheDir, onPath } from './paths';
import { compareVersions, goInstall, goVersion } from './go-build';
import type { ProgressFn } from './types';

export const TEMPORAL_CLI_VERSION = '1.5.1';
const MIN_VERSION = '1.5.0';
/** go.mod of the CLI declares go 1.25.0. */
const MIN_GO = '1.25';

export class TemporalCliNotFoundError extends Error {
  override name = 'TemporalCliNotFoundError';
}

/** `temporal --version` → `1.5.1`, or undefined when it does not run. */
export function cliVersion(bin: string): string | undefined {
  const r = spawnSync(bin, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) return undefined;
  return /version (\d+\.\d+\.\d+)/.exec(r.stdout)?.[1];
}

/** Resolves (and if needed builds) the temporal CLI; returns its absolute path. */
export async function resolveTemporalCli(onProgress: ProgressFn = () => {}): Promise<string> {
  const fromEnv = process.env.TEMPORAL_CLI;
  if (fromEnv) {
    if (!cliVersion(fromEnv))
      throw new TemporalCliNotFoundError(
        `TEMPORAL_CLI=${fromEnv} does not run (\`${fromEnv} --version\` failed); point it at a temporal CLI ≥ ${MIN_VERSION}, or unset it`,
      );
    return fromEnv;
  }
  const found = onPath('temporal');
  if (found) {
    const v = cliVersion(found);
    if (v && compareVersions(v, MIN_VERSION) >= 0) return found;
    onProgress(`ignoring ${found} (version ${v ?? 'unknown'} < ${MIN_VERSION})`);
  }
  const cached = path.join(cacheDir(), 'bin', 'temporal');
  if (fs.existsSync(cached) && cliVersion(cached)) return cached;

  const go = goVersion();
  if (!go || compareVersions(go, MIN_GO) < 0) {
    throw new TemporalCliNotFoundError(
      `no Temporal CLI found. Provide one of:\n` +
        `  1. TEMPORAL_CLI=/path/to/temporal (v${MIN_VERSION} or newer)\n` +
        `  2. a \`temporal\` ≥ ${MIN_VERSION} on PATH\n` +
        `  3. Go ≥ ${MIN_GO} on PATH (found: ${go ?? 'none'}), and cutover builds v${TEMPORAL_CLI_VERSION} into ${cached}`,
    );
  }
  fs.mkdirSync(path.dirname(cached), { recursive: true });
  await goInstall({
    pkg: `github.com/temporalio/cli/cmd/temporal@v${TEMPORAL_CLI_VERSION}`,
    producedName: 'temporal',
    dest: cached,
    ldflags: `-s -w -X github.com/temporalio/cli/temporalcli.Version=${TEMPORAL_CLI_VERSION}`,
    typicalSeconds: 150,
    onProgress,
  });
  return cached;
}
