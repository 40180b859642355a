/**
 * The local stack's codec secrets: the key files a plan's `codec.keys` name, and the codec server's bearer
 * token. `cutover dev up` and the demo write what is missing, as they do the Cloud-shaped cluster's CA and
 * API key, so a plan with a `codec` section runs encrypted without a manual step. Nothing here prints or
 * returns key material; the token is returned only to be put in the environment of this process.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Plan } from '../config/types';
import { generateKey } from '../security/keys';

/** A key file `dev up` wrote: the key's ID and the file (never the key). */
export interface WrittenKeyFile {
  id: string;
  file: string;
}

/**
 * Writes a new random key (32 bytes, base64) for every `codec.keys[].file` that does not exist, in a
 * directory created 0700, the file created 0600 in one step (never readable by others, not even for a
 * moment). An existing file is never touched, whatever it holds: it may be the only copy of a key that
 * opens stored payloads, and `loadCodec` says what is wrong with it. Relative paths resolve against
 * `baseDir` (a plan loaded from a file has them absolute already).
 */
export function writeMissingKeyFiles(plan: Plan, baseDir = process.cwd()): WrittenKeyFile[] {
  const written: WrittenKeyFile[] = [];
  for (const key of plan.codec?.keys ?? []) {
    if (key.file === undefined) continue;
    const file = path.resolve(baseDir, key.file);
    if (fs.existsSync(file)) continue;
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    try {
      fs.writeFileSync(file, `${generateKey()}\n`, { mode: 0o600, flag: 'wx' });
    } catch (err) {
      // Another process wrote it in between: that key stands.
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue;
      throw err;
    }
    written.push({ id: key.id, file });
  }
  return written;
}

/** Where `dev up` keeps the codec server's token: `./.cutover/codec/token`, kept by `dev down` like the API keys. */
export function codecTokenFile(cwd = process.cwd()): string {
  return path.join(cwd, '.cutover', 'codec', 'token');
}

/**
 * The token in `file`, or a new one (32 random bytes, base64url: 43 characters, no character a shell or
 * a form would alter) written there with mode 0600 in a 0700 directory. Kept across runs, so a browser
 * signed in and a shell that exported it keep working after the next `dev up`.
 */
export function ensureCodecToken(file: string): { token: string; created: boolean } {
  try {
    const token = fs.readFileSync(file, 'utf8').trim();
    if (token !== '') return { token, created: false };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const token = randomBytes(32).toString('base64url');
  // Write then rename: a reader never sees an empty or half-written token.
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${token}\n`, { mode: 0o600 });
  fs.renameSync(tmp, file);
  return { token, created: true };
}
