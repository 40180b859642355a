/**
 * The one way cutover opens the plan's Redis: one server at `redis.url`, or the master a set of sentinels
 * names (`redis.sentinel`), followed through a failover. The password comes from the environment variable
 * `redis.passwordEnv` names (a password written into the URL is refused by the plan); TLS with the CA of
 * `redis.caPath` for a `rediss://` URL or `sentinel.tls`; and a first PING, so that a wrong password, a
 * wrong master name or a TLS problem fails here, with an error naming the field and the fix, rather than
 * as a routing outage later.
 *
 * Every connection to the plan's Redis (worker, CLI, routed clients, dual workers, demo) is made here,
 * and subscriptions use a `duplicate()` of such a connection, which keeps its sentinels, credentials and
 * failover handling: a subscriber follows a failover like any other connection and re-subscribes.
 */
import * as fs from 'node:fs';
import { Redis, type RedisOptions } from 'ioredis';
import { DEFAULT_REDIS_URL } from '../config/defaults';
import type { RedisConfig } from '../config/types';

/** What the connection needs of the plan's `redis` (the key prefix and staleness play no part). */
export type RedisAccess = Pick<RedisConfig, 'url' | 'sentinel' | 'passwordEnv' | 'caPath'>;

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

/** Why Redis (or its sentinels) refused cutover. */
export type RedisAccessFailure = 'unreachable' | 'auth-required' | 'auth-refused' | 'tls' | 'unknown-master';

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

/** The plan's Redis as messages name it: its URL, or the master and the sentinels that name it. */
export function describeRedis(redis: RedisAccess): string {
  const s = redis.sentinel;
  return s ? `the Redis master "${s.masterName}" of sentinels ${s.addresses.join(', ')}` : `Redis at ${shown(urlOf(redis))}`;
}

function urlOf(redis: RedisAccess): string {
  return redis.url ?? DEFAULT_REDIS_URL;
}

/** `host:port` (IPv6 in brackets) as ioredis takes a sentinel. */
export function sentinelEndpoint(address: string): { host: string; port: number } {
  const at = address.lastIndexOf(':');
  return { host: address.slice(0, at).replace(/^\[(.*)\]$/, '$1'), port: Number(address.slice(at + 1)) };
}

function secret(field: string, envName: string, what: string): string {
  const value = process.env[envName];
  if (!value) throw new RedisCredentialsError(field, `environment variable ${envName} is not set; export it with ${what}`);
  return value;
}

function tlsOptions(redis: RedisAccess): { ca?: Buffer } {
  if (!redis.caPath) return {};
  try {
    return { ca: fs.readFileSync(redis.caPath) };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new RedisCredentialsError('caPath', `cannot read ${redis.caPath} (${code}); fix the path`);
  }
}

/** ioredis options for the plan's Redis (password, TLS; the sentinels and failover handling); throws {@link RedisCredentialsError}. */
export function redisOptions(redis: RedisAccess): RedisOptions {
  const opts: RedisOptions = {};
  if (redis.passwordEnv) opts.password = secret('passwordEnv', redis.passwordEnv, 'the Redis password');
  const sentinel = redis.sentinel;
  if (!sentinel) {
    if (urlOf(redis).startsWith('rediss://')) opts.tls = tlsOptions(redis);
    return opts;
  }
  opts.sentinels = sentinel.addresses.map(sentinelEndpoint);
  opts.name = sentinel.masterName;
  // The sentinels announce a failover (+switch-master): move to the new master then, not only once the old
  // master's connection breaks — it may stay open when the old master is merely cut off from the others.
  opts.failoverDetector = true;
  // A demoted master answers writes with READONLY until its clients are moved: reconnect (through the
  // sentinels, to the new master) and resend. Safe, because the refused command changed nothing.
  opts.reconnectOnError = (err) => (/^READONLY\b/.test(err.message) ? 2 : false);
  if (sentinel.passwordEnv) opts.sentinelPassword = secret('sentinel.passwordEnv', sentinel.passwordEnv, "the sentinels' password");
  if (sentinel.tls) {
    const tls = tlsOptions(redis);
    opts.tls = tls;
    opts.sentinelTLS = tls;
    opts.enableTLSForSentinelMode = true;
  }
  return opts;
}

const AUTH_REFUSED = /WRONGPASS|invalid password|invalid username-password/i;
const AUTH_REQUIRED = /NOAUTH|Authentication required/i;
const TLS_FAILED = /certificate|self[- ]signed|SSL|TLS|wrong version number|handshake|EPROTO/i;
// A sentinel that monitors no master of that name: Redis 7 answers an error, older ones nil (ioredis: "invalid reply").
const UNKNOWN_MASTER = /No such master with that name|connected to sentinel \S+ successfully, but got an invalid reply/i;

/** Maps a connection or PING failure to the error that names the fix. */
export function explainRedisError(redis: RedisAccess, err: unknown): RedisAccessError {
  const message = (err as Error)?.message ?? String(err);
  // ioredis's retry schedule says nothing to whoever reads the error.
  const oneLine = message
    .replace(/ Retrying from scratch after \d+ms\./, '')
    .replace(/\s+/g, ' ')
    .slice(0, 200);
  const where = describeRedis(redis);
  const s = redis.sentinel;
  // ioredis words every failure of a sentinel itself ("failed to connect to sentinel …", "All sentinels are …").
  const atSentinel = s !== undefined && /\bsentinels?\b/i.test(message);
  if (s && UNKNOWN_MASTER.test(message)) {
    return new RedisAccessError(
      'unknown-master',
      `no sentinel of ${s.addresses.join(', ')} monitors a master named "${s.masterName}" — fix: set redis.sentinel.masterName ` +
        "to the <name> of the sentinels' `sentinel monitor <name> …` line (`SENTINEL MASTERS` lists them)",
      { cause: err },
    );
  }
  if (AUTH_REFUSED.test(message)) {
    const env = atSentinel ? s.passwordEnv : redis.passwordEnv;
    const field = atSentinel ? 'redis.sentinel.passwordEnv' : 'redis.passwordEnv';
    return new RedisAccessError(
      'auth-refused',
      `${atSentinel ? `the sentinels ${s.addresses.join(', ')}` : where} refused the password${env ? ` from $${env}` : ''} — fix: ` +
        `put the right password in ${env ? `$${env}` : `the variable ${field} names`}`,
      { cause: err },
    );
  }
  if (AUTH_REQUIRED.test(message)) {
    const field = atSentinel ? 'redis.sentinel.passwordEnv' : 'redis.passwordEnv';
    return new RedisAccessError(
      'auth-required',
      `${atSentinel ? `the sentinels ${s.addresses.join(', ')} require` : `${where} requires`} a password, and the plan gives none — ` +
        `fix: set ${field} to the name of an environment variable holding it, and export that variable`,
      { cause: err },
    );
  }
  if (TLS_FAILED.test(message)) {
    const tlsOn = s ? s.tls === true : urlOf(redis).startsWith('rediss://');
    const fix = s
      ? tlsOn
        ? 'set redis.caPath to the CA that signed the certificates of the sentinels and the master, ' +
          'or remove redis.sentinel.tls if they have no TLS'
        : 'set redis.sentinel.tls: true for sentinels and a master that require TLS'
      : tlsOn
        ? 'set redis.caPath to the CA that signed the server certificate, or use redis:// if the server has no TLS'
        : 'use a rediss:// URL for a server that requires TLS';
    return new RedisAccessError('tls', `${where}: the TLS connection failed (${oneLine}) — fix: ${fix}`, { cause: err });
  }
  if (s && atSentinel) {
    return new RedisAccessError(
      'unreachable',
      `cannot reach any sentinel of ${s.addresses.join(', ')} (${oneLine}) — fix: start them, ` +
        'or correct redis.sentinel.addresses in the plan',
      { cause: err },
    );
  }
  if (s) {
    return new RedisAccessError(
      'unreachable',
      `cannot reach ${where}: ${oneLine} — fix: check that the master the sentinels name ` +
        `(\`SENTINEL GET-MASTER-ADDR-BY-NAME ${s.masterName}\`) is up and reachable from here`,
      { cause: err },
    );
  }
  return new RedisAccessError('unreachable', `cannot reach ${where}: ${message} — fix: start it or correct redis.url in the plan`, {
    cause: err,
  });
}

/** How soon a sentinel connection ended by ioredis's failover race is connected again. */
export const REVIVE_AFTER_MS = 100;

/**
 * ioredis (5.x) can end a sentinel connection for good in a failover, and every later command then fails
 * with "Connection is closed". After the old master is lost the connection asks the sentinels for the new
 * one; if the sentinels announce it (+switch-master, which the failover detector listens for) during that
 * ask, the detector closes the connector under it, connect() rejects, and the client is left `end` — no
 * retry follows. The more time an ask takes, the likelier: with 300 ms between the clients and the
 * sentinels every connection ended in every run; with 20 ms, 15 of 20 in one run of three; in CI, on
 * loopback, the worker's and a subscription's. A connection its owner did not close is connected again here
 * (it resubscribes, as after any reconnect), and so are its duplicates (subscriptions are duplicates).
 */
export function keepFollowing(client: Redis): Redis {
  let closing = false;
  const disconnect = client.disconnect.bind(client);
  client.disconnect = (reconnect = false) => {
    if (!reconnect) closing = true;
    disconnect(reconnect);
  };
  const quit = client.quit.bind(client) as (...args: unknown[]) => Promise<'OK'>;
  client.quit = ((...args: unknown[]) => {
    closing = true;
    return quit(...args);
  }) as Redis['quit'];
  const duplicate = client.duplicate.bind(client);
  client.duplicate = (override?: Partial<RedisOptions>) => {
    const copy = duplicate(override);
    return override?.retryStrategy ? copy : keepFollowing(copy);
  };
  client.on('end', () => {
    if (closing) return;
    setTimeout(() => {
      if (!closing && client.status === 'end') client.connect().catch(() => undefined);
    }, REVIVE_AFTER_MS).unref();
  });
  return client;
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
    /** Return the client still (re)connecting when Redis does not answer; only refused credentials, TLS and an unknown master throw. */
    tolerateUnreachable?: boolean;
  } = {},
): Promise<Redis> {
  const settings: RedisOptions = { connectTimeout: 5_000, ...options, ...redisOptions(redis), lazyConnect: true };
  // A caller that does not retry a lost server does not retry lost sentinels either.
  if (redis.sentinel && options.retryStrategy && !options.sentinelRetryStrategy) settings.sentinelRetryStrategy = options.retryStrategy;
  const client = redis.sentinel ? new Redis(settings) : new Redis(urlOf(redis), settings);
  // A client that retries forever follows every failover; one whose caller set its own retries ends as they say.
  if (redis.sentinel && !options.retryStrategy) keepFollowing(client);
  // Until the first PING answers, errors are thrown from here; afterwards the caller's handlers decide.
  const seen: unknown[] = [];
  let roundFailed: (err: unknown) => void = () => undefined;
  const onError = (err: unknown) => {
    if (seen.length < 50) seen.push(err);
    // Every sentinel was asked once and none named a reachable master: that is the answer (ioredis would
    // keep asking, and connect() would not settle).
    if (/All sentinels are unreachable/.test(String((err as Error)?.message))) roundFailed(err);
  };
  client.on('error', onError);
  client.on('sentinelError', onError);
  let timer: NodeJS.Timeout | undefined;
  const boundMs = 2 * (settings.connectTimeout ?? 5_000);
  try {
    const ready = (async () => {
      await client.connect();
      await client.ping();
    })();
    ready.catch(() => undefined); // raced below; a late rejection (after disconnect) is not news
    await Promise.race([
      ready,
      new Promise<never>((_resolve, reject) => {
        roundFailed = reject;
        // A bound of our own: with sentinels, connect() only settles once a master answers.
        timer = setTimeout(() => reject(new Error(`no answer within ${boundMs} ms`)), boundMs);
      }),
    ]);
  } catch (err) {
    // A refused AUTH arrives as an 'error' event, and the PING after it only says NOAUTH: the refusal is the story.
    const all = [...seen, err];
    const pick = (re: RegExp) => all.find((e) => re.test(String((e as Error)?.message ?? e)));
    // Through sentinels, the last thing ioredis reported says more than the bound that ran out.
    const last = redis.sentinel && seen.length ? seen[seen.length - 1] : err;
    const explained = explainRedisError(
      redis,
      pick(AUTH_REFUSED) ?? pick(AUTH_REQUIRED) ?? pick(UNKNOWN_MASTER) ?? pick(TLS_FAILED) ?? last,
    );
    if (explained.failure === 'unreachable' && opts.tolerateUnreachable) return client;
    client.disconnect();
    throw explained;
  } finally {
    clearTimeout(timer);
    client.off('error', onError);
    client.off('sentinelError', onError);
  }
  return client;
}
