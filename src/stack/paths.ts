import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * The package root: the repository, or the installed package. Found by its package.json because the
 * compiled copy of this file sits one folder deeper (dist/src/stack) than the source.
 */
export const PROJECT_ROOT = packageRoot(__dirname);

function packageRoot(from: string): string {
  return findUp(from, (dir) => (fs.existsSync(path.join(dir, 'package.json')) ? dir : undefined)) ?? path.resolve(from, '..', '..');
}

/** The first answer of `test` for `from` and each folder above it (the root excluded), or undefined. */
export function findUp<T>(from: string, test: (dir: string) => T | undefined): T | undefined {
  for (let dir = from; path.dirname(dir) !== dir; dir = path.dirname(dir)) {
    const found = test(dir);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** Project cache for built binaries (gitignored); `CUTOVER_CACHE_DIR` moves it. */
export function cacheDir(): string {
  return process.env.CUTOVER_CACHE_DIR || path.join(PROJECT_ROOT, '.cache');
}

/** Where `cutover dev up` keeps its run directory and state file: `./.cutover/stack` of the caller. */
export function devStackDir(cwd = process.cwd()): string {
  return path.join(cwd, '.cutover', 'stack');
}

/** The first executable `name` in the directories of `pathVar` (a PATH value), or undefined. */
export function onPath(name: string, pathVar = process.env.PATH ?? ''): string | undefined {
  for (const dir of pathVar.split(path.delimiter)) {
    if (!dir) continue;
    const p = path.join(dir, name);
    try {
      if (!fs.statSync(p).isFile()) continue;
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      /* not here */
    }
  }
  return undefined;
}
