/**
 * The payload codec's keys: read from the environment variables and files the plan names (never from the
 * plan itself), checked, and held as `KeyObject`s so the material never sits in a plain buffer that a log
 * line or `JSON.stringify` could print. Every error names the key ID and where the key came from, never
 * the key.
 */
import { createSecretKey, type KeyObject, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as nodePath from 'node:path';
import type { CodecConfig } from '../config/types';

/** AES-256 takes a 32-byte key. */
export const KEY_BYTES = 32;

/** One key of the ring: its ID (written into every payload it encrypts), the key, and where it was read from. */
export interface CodecKey {
  id: string;
  key: KeyObject;
  /** `$VARIABLE` or `file /abs/path`: for messages, never the key. */
  source: string;
}

/** One problem with the codec's keys: the plan field it is about, what is wrong, and the fix. */
export interface CodecKeyProblem {
  /** Path in the plan, e.g. `codec.keys[1].env`. */
  field: string;
  keyId?: string;
  message: string;
  hint: string;
}

/**
 * The codec's keys cannot be used (unset variable, unreadable file, not 32 bytes of base64, a ring without
 * its current key): bad input, every problem at once, with no key material in the message.
 */
export class CodecKeyError extends Error {
  override readonly name = 'CodecKeyError';
  constructor(readonly problems: readonly CodecKeyProblem[]) {
    super(
      `the payload codec's keys cannot be used (${problems.length === 1 ? '1 problem' : `${problems.length} problems`}):\n` +
        problems.map((p) => `${p.field}: ${p.message} — fix: ${p.hint}`).join('\n'),
    );
  }
}

/** How to make a key, for hints. */
export const KEYGEN_HINT = `node -e "console.log(require('crypto').randomBytes(${KEY_BYTES}).toString('base64'))"`;

/** A new random key, base64: what an operator puts in the variable or file a new key ID names. */
export function generateKey(): string {
  return randomBytes(KEY_BYTES).toString('base64');
}

const BASE64_RE = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * The key in `text` (base64 of 32 bytes, surrounding whitespace ignored), or the problem with it. Node's
 * base64 decoder skips characters it does not know, so the alphabet and length are checked first: a key
 * with a typo in it must be refused, not silently shortened.
 */
export function parseKeyMaterial(text: string, id: string, source: string): KeyObject | { message: string; hint: string } {
  const trimmed = text.trim();
  const fix = `put ${KEY_BYTES} random bytes, base64-encoded, in ${source}, e.g. the output of ${KEYGEN_HINT}`;
  if (trimmed === '') return { message: `key "${id}" from ${source} is empty`, hint: fix };
  if (!BASE64_RE.test(trimmed) || trimmed.length % 4 !== 0) {
    return { message: `key "${id}" from ${source} is not base64 (the key is not shown)`, hint: fix };
  }
  const bytes = Buffer.from(trimmed, 'base64');
  try {
    if (bytes.length !== KEY_BYTES) {
      // A 64-character hex key is valid base64 too (48 bytes): say what it probably is.
      const hex = /^[0-9a-fA-F]{64}$/.test(trimmed) ? '; it looks like hex: convert it with xxd -r -p | base64' : '';
      return {
        message: `key "${id}" from ${source} is ${bytes.length} bytes; AES-256 needs exactly ${KEY_BYTES}${hex}`,
        hint: fix,
      };
    }
    return createSecretKey(bytes);
  } finally {
    bytes.fill(0);
  }
}

/**
 * Where each key of the ring is read from, for an operator to check (`cutover validate`): `$VARIABLE` or
 * `file <path>` (relative paths against `baseDir`), the way {@link CodecKey.source} says it. Reads nothing.
 */
export function codecKeySources(config: CodecConfig, baseDir = process.cwd()): { id: string; source: string; current: boolean }[] {
  return config.keys.map((k) => ({
    id: k.id,
    source: k.env !== undefined ? `$${k.env}` : k.file !== undefined ? `file ${nodePath.resolve(baseDir, k.file)}` : '(no env or file)',
    current: k.id === config.current,
  }));
}

/** Where the plan's key entries and relative key files are read from. */
export interface ReadKeysOptions {
  /** Environment to read `env` keys from (default `process.env`). */
  env?: Readonly<Record<string, string | undefined>>;
  /** Directory relative `file` paths resolve against (default the current directory; a plan loaded from a file has them absolute). */
  baseDir?: string;
}

/** Every key of the config, read and checked; throws {@link CodecKeyError} with every problem at once. */
export function readCodecKeys(config: CodecConfig, options: ReadKeysOptions = {}): CodecKey[] {
  const env = options.env ?? process.env;
  const problems: CodecKeyProblem[] = [];
  const keys: CodecKey[] = [];
  const seen = new Map<string, number>();
  config.keys.forEach((entry, i) => {
    const at = `codec.keys[${i}]`;
    if (!entry.id) {
      problems.push({ field: `${at}.id`, message: 'the key has no id', hint: 'name the key, e.g. id: 2025-01' });
      return;
    }
    const first = seen.get(entry.id);
    if (first !== undefined) {
      problems.push({
        field: `${at}.id`,
        keyId: entry.id,
        message: `key id "${entry.id}" is already used by codec.keys[${first}]`,
        hint: 'give every key its own id',
      });
      return;
    }
    seen.set(entry.id, i);
    if ((entry.env === undefined) === (entry.file === undefined)) {
      problems.push({
        field: at,
        keyId: entry.id,
        message: entry.env === undefined ? `key "${entry.id}" names no env or file` : `key "${entry.id}" names both env and file`,
        hint: 'give exactly one: env (an environment variable holding the key) or file (a file holding it)',
      });
      return;
    }
    let text: string;
    let source: string;
    let field: string;
    if (entry.env !== undefined) {
      field = `${at}.env`;
      source = `$${entry.env}`;
      const value = env[entry.env];
      if (value === undefined || value.trim() === '') {
        problems.push({
          field,
          keyId: entry.id,
          message: `environment variable ${entry.env} (key "${entry.id}") is not set`,
          hint: `export ${entry.env} with the key: ${KEY_BYTES} random bytes, base64-encoded`,
        });
        return;
      }
      text = value;
    } else {
      field = `${at}.file`;
      const file = nodePath.resolve(options.baseDir ?? process.cwd(), entry.file!);
      source = `file ${file}`;
      try {
        text = fs.readFileSync(file, 'utf8');
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
        problems.push({
          field,
          keyId: entry.id,
          message: `cannot read ${file} (key "${entry.id}": ${code})`,
          hint: code === 'ENOENT' ? 'fix the path (relative to the plan file), or create the file' : 'make the file readable by this user',
        });
        return;
      }
    }
    const parsed = parseKeyMaterial(text, entry.id, source);
    if ('message' in parsed) problems.push({ field, keyId: entry.id, ...parsed });
    else keys.push({ id: entry.id, key: parsed, source });
  });
  if (config.keys.length === 0) {
    problems.push({
      field: 'codec.keys',
      message: 'no keys',
      hint: 'list at least the key that encrypts, e.g. keys: [{ id: 2025-01, env: CODEC_KEY }]',
    });
  } else if (!seen.has(config.current)) {
    problems.push({
      field: 'codec.current',
      keyId: config.current,
      message: `current names key "${config.current}", which is not under codec.keys (${[...seen.keys()].join(', ')})`,
      hint: 'name the key that encrypts new payloads, one of codec.keys',
    });
  }
  if (problems.length) throw new CodecKeyError(problems);
  return keys;
}
