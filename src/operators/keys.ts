/**
 * Operator key files. `cutover keys new <name>` writes `<name>.key` (the secret key, mode 0600) and
 * `<name>.pub` (the public key, for the plan); the CLI signs with `--key <file>` or `$CUTOVER_KEY`.
 * A key file readable by others is refused, as ssh refuses one: a signature proves who sent a command
 * only while the key is theirs alone.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ed25519 } from '@noble/curves/ed25519';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils';
import { publicKeyOf, signBody, type SignedBody, type SignedEnvelope } from './signing';

/** Bad input about a key: names the flag or file and the fix. */
export class OperatorKeyError extends Error {
  constructor(
    readonly field: string,
    message: string,
    readonly hint: string,
  ) {
    super(`${field}: ${message}; ${hint}`);
    this.name = 'OperatorKeyError';
  }
}

/** A loaded operator key. */
export interface OperatorSecret {
  name: string;
  publicKey: string;
  file: string;
  sign(body: Omit<SignedBody, 'by' | 'v'>): SignedEnvelope;
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/** Writes a new key pair; refuses to overwrite one. Returns the files and the public key. */
export function newOperatorKey(opts: { name: string; dir: string }): { keyFile: string; pubFile: string; publicKey: string } {
  if (!NAME_RE.test(opts.name))
    throw new OperatorKeyError('<name>', `"${opts.name}" is not a valid operator name`, 'use letters, digits, ".", "_" or "-", e.g. alice');
  fs.mkdirSync(opts.dir, { recursive: true });
  const keyFile = path.join(opts.dir, `${opts.name}.key`);
  const pubFile = path.join(opts.dir, `${opts.name}.pub`);
  if (fs.existsSync(keyFile))
    throw new OperatorKeyError(
      '<name>',
      `${keyFile} already exists`,
      'pick another name or --dir, or delete the old key first (keys are never overwritten)',
    );
  const secret = ed25519.utils.randomSecretKey();
  const publicKey = publicKeyOf(secret);
  // 'wx': fail rather than follow a file created meanwhile; the mode applies at creation.
  fs.writeFileSync(keyFile, `${JSON.stringify({ name: opts.name, publicKey, secretKey: bytesToHex(secret) }, null, 2)}\n`, {
    mode: 0o600,
    flag: 'wx',
  });
  fs.writeFileSync(pubFile, `${publicKey}\n`, { mode: 0o644 });
  return { keyFile, pubFile, publicKey };
}

/** Loads a key file; every problem names the file and the fix. */
export function loadOperatorKey(file: string, field = '--key'): OperatorSecret {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch {
    throw new OperatorKeyError(field, `no key file at ${file}`, 'create one with `cutover keys new <name>`, or pass the right path');
  }
  if (process.platform !== 'win32' && (stat.mode & 0o077) !== 0)
    throw new OperatorKeyError(
      field,
      `${file} is readable by others (mode ${(stat.mode & 0o777).toString(8)})`,
      `run chmod 600 ${file}: a key others can read proves nothing`,
    );
  let raw: { name?: unknown; publicKey?: unknown; secretKey?: unknown };
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8')) as typeof raw;
  } catch {
    throw new OperatorKeyError(
      field,
      `${file} is not a cutover key file`,
      'pass the .key file `cutover keys new` wrote (not the .pub file)',
    );
  }
  if (typeof raw.name !== 'string' || typeof raw.secretKey !== 'string' || !/^[0-9a-f]{64}$/.test(raw.secretKey))
    throw new OperatorKeyError(field, `${file} lacks name or secretKey`, 'pass the .key file `cutover keys new` wrote (not the .pub file)');
  const secret = hexToBytes(raw.secretKey);
  const publicKey = publicKeyOf(secret);
  if (raw.publicKey !== undefined && raw.publicKey !== publicKey)
    throw new OperatorKeyError(field, `${file}: its publicKey does not belong to its secretKey`, 'the file was edited; create a new key');
  const name = raw.name;
  return { name, publicKey, file, sign: (body) => signBody({ v: 1, by: name, ...body }, secret) };
}

/** The key to sign with: the flag, else $CUTOVER_KEY, else none. */
export function resolveKey(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): OperatorSecret | undefined {
  if (flag) return loadOperatorKey(flag, '--key');
  const fromEnv = env.CUTOVER_KEY;
  return fromEnv ? loadOperatorKey(fromEnv, '$CUTOVER_KEY') : undefined;
}
