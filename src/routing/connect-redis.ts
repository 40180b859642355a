/**
 * The one way cutover opens the plan's Redis: the password from the environment variable
 * `redis.passwordEnv` names (a password written into the URL is refused by the plan), TLS with the CA of
 * `redis.caPath` for a `rediss://` URL, and a first PING so that a wrong password or a TLS problem fails
 * here, with an error naming the field and the fix, rather than as a routing outage later.
 */
import * as fs from 'node:fs';
import { Redis, type RedisOptions } from 'ioredis';
import type { RedisConfig } from '../config/types';

/** What the connection needs of the plan's `redis` (the key prefix and staleness play no part). */
export type RedisAccess = Pick<RedisConfig, 'url' | 'passwordEnv' | 'caPath'>;

/** The plan's Redis credentials cannot be read (unset variable, unreadable CA file): bad input. */
export class RedisCredentialsError extends Error {
  override readonly name = 'RedisCredentialsError';
  constructor(
    readonly field: string,
    hint: string,
  ) {
    super(`redis.${field}: ${hint}`);
  }
}

/** Why Redis refused cutover. */
export type RedisAccessFailure = 'unreachable' | 'auth-required' | 'auth-refused' | 'tls';

/** The plan's Redis could not be reached or refused the credentials: names what failed and the fix, never the password. */
export class RedisAccessError extends Error {
  override readonly name = 'RedisAccessError';
  constructor(
    readonly failure: RedisAccessFailure,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The URL as printed: user info (and any password in it) blanked. */
function shown(url: string): string {
  return url.replace(/^([a-z]+:\/\/)[^/@]*@/i, '$1');
}

/** ioredis options for the plan's Redis (password, TLS); throws {@link RedisCredentialsError}. */
export function redisOptions(redis: RedisAccess): RedisOptions {
  const opts: RedisOptions = {};
  if (redis.passwordEnv) {
    const password = process.env[redis.passwordEnv];
    if (!password) {
      throw new RedisCredentialsError(
        'passwordEnv',
        `environment variable ${redis.passwordEnv} is not set; export it with the Redis password`,
      );
    }
    opts.password = password;
  }
  if (redis.url.startsWith('rediss://')) {
    let ca: Buffer | undefined;
    if (redis.caPath) {
      try {
        ca = fs.readFileSync(redis.caPath);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
        throw new RedisCredentialsError('caPath', `cannot read ${redis.caPath} (${code}); fix the path`);
      }
    }
    opts.tls = ca ? { ca } : {};
  }
  return opts;
}

/** Maps a connection or PING failure to the error that names the fix. */
export function explainRedisError(redis: RedisAccess, err: unknown): RedisAccessError {
  const message = (err as Error)?.message ?? String(err);
  const url = shown(redis.url);
  if (/WRONGPASS|invalid password|invalid username-password/i.test(message)) {
    return new RedisAccessError(
      'auth-refused',
      `Redis at ${url} refused the password${redis.passwordEnv ? ` from $${redis.passwordEnv}` : ''} — fix: ` +
        `put the right password in ${redis.passwordEnv ? `$${redis.passwordEnv}` : 'the variable redis.passwordEnv names'}`,
      { cause: err },
    );
  }
  if (/NOAUTH|Authentication required/i.test(message)) {
    return new RedisAccessError(
      'auth-required',
      `Redis at ${url} requires a password, and the plan gives none — fix: set redis.passwordEnv to the name of an ` +
        'environment variable holding it, and export that variable',
      { cause: err },
    );
  }
  if (/certificate|self[- ]signed|SSL|TLS|wrong version number|handshake|EPROTO/i.test(message)) {
    return new RedisAccessError(
      'tls',
      `Redis at ${url}: the TLS connection failed (${message.replace(/\s+/g, ' ').slice(0, 200)}) — fix: ` +
        (redis.url.startsWith('rediss://')
          ? 'set redis.caPath to the CA that signed the server certificate, or use redis:// if the server has no TLS'
          : 'use a rediss:// URL for a server that requires TLS'),
      { cause: err },
    );
  }
  return new RedisAccessError('unreachable', `cannot reach Redis at ${url}: ${message} — fix: start it or correct redis.url in the plan`, {
    cause: err,
  });
}

/**
 * Opens the plan's Redis and checks it with a PING. `options` are ioredis options of the caller's own
 * (retries, timeouts); the credentials come from the plan. Throws {@link RedisCredentialsError} or
 * {@link RedisAccessError}; the client is closed when it throws.
 */
export async function connectRedis(
  redis: RedisAccess,
  options: RedisOptions = {},
  opts: {
    /** Return the client still (re)connecting when Redis does not answer; only refused credentials and TLS throw. */
    tolerateUnreachable?: boolean;
  } = {},
): Promise<Redis> {
  const client = new Redis(redis.url, {
    connectTimeout: 5_000,
    ...options,
    ...redisOptions(redis),
    lazyConnect: true,
  });
  // Until the first PING answers, errors are thrown from here; afterwards the caller's handlers decide.
  let firstError: unknown;
  const onError = (err: unknown) => (firstError ??= err);
  client.on('error', onError);
  try {
    await client.connect();
    await client.ping();
  } catch (err) {
    // A refused AUTH arrives as an 'error' event, and the PING after it only says NOAUTH: the refusal is the story.
    const seen = [firstError, err].filter((e) => e !== undefined);
    const pick = (re: RegExp) => seen.find((e) => re.test(String((e as Error)?.message ?? e)));
    const explained = explainRedisError(redis, pick(/WRONGPASS|invalid password/i) ?? pick(/NOAUTH/) ?? err);
    if (explained.failure === 'unreachable' && opts.tolerateUnreachable) return client;
    client.disconnect();
    throw explained;
  } finally {
    client.off('error', onError);
  }
  return client;
}
