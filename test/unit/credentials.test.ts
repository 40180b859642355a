/**
 * Secrets the plan names by reference, where they are used: the Redis password and CA (connect-redis)
 * and the Prometheus gate's bearer token. The token goes out as a header and never into a measurement.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { createGateActivities } from '../../src/activities/gates';
import { measurePrometheus, type FetchLike } from '../../src/gates/prometheus';
import { explainRedisError, RedisCredentialsError, redisOptions, sentinelEndpoint } from '../../src/routing/connect-redis';

describe('Redis credentials (connect-redis)', () => {
  const ENV = 'CUTOVER_TEST_REDIS_PASSWORD';
  let dir: string;
  before(() => (dir = mkdtempSync(path.join(tmpdir(), 'cutover-redis-creds-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));
  afterEach(() => delete process.env[ENV]);

  it('no passwordEnv, no TLS: plain options', () => {
    assert.deepEqual(redisOptions({ url: 'redis://127.0.0.1:6379' }), {});
  });

  it('the password comes from the variable passwordEnv names; unset is an error naming it', () => {
    assert.throws(
      () => redisOptions({ url: 'redis://127.0.0.1:6379', passwordEnv: ENV }),
      (e: unknown) => e instanceof RedisCredentialsError && e.field === 'passwordEnv' && e.message.includes(ENV),
    );
    process.env[ENV] = 'redis-pw-123';
    assert.deepEqual(redisOptions({ url: 'redis://127.0.0.1:6379', passwordEnv: ENV }), { password: 'redis-pw-123' });
  });

  it('rediss:// turns TLS on, with the CA file when given; an unreadable CA names the field', () => {
    const ca = path.join(dir, 'ca.pem');
    writeFileSync(ca, 'CA BYTES');
    assert.deepEqual(redisOptions({ url: 'rediss://127.0.0.1:6380' }), { tls: {} });
    const opts = redisOptions({ url: 'rediss://127.0.0.1:6380', caPath: ca });
    assert.equal((opts.tls as { ca: Buffer }).ca.toString(), 'CA BYTES');
    assert.throws(
      () => redisOptions({ url: 'rediss://127.0.0.1:6380', caPath: path.join(dir, 'absent.pem') }),
      (e: unknown) => e instanceof RedisCredentialsError && e.field === 'caPath',
    );
  });

  it("Redis's own refusals become errors naming the fix, never the password", () => {
    const access = { url: 'redis://127.0.0.1:6379', passwordEnv: ENV };
    const wrong = explainRedisError(access, new Error('WRONGPASS invalid username-password pair or user is disabled.'));
    assert.equal(wrong.failure, 'auth-refused');
    assert.match(wrong.message, new RegExp(`\\$${ENV}`));
    const noauth = explainRedisError({ url: 'redis://127.0.0.1:6379' }, new Error('NOAUTH Authentication required.'));
    assert.equal(noauth.failure, 'auth-required');
    assert.match(noauth.message, /redis\.passwordEnv/);
    const down = explainRedisError(access, new Error('connect ECONNREFUSED 127.0.0.1:6379'));
    assert.equal(down.failure, 'unreachable');
    const tls = explainRedisError({ url: 'rediss://127.0.0.1:6380' }, new Error('self-signed certificate in certificate chain'));
    assert.equal(tls.failure, 'tls');
    assert.match(tls.message, /redis\.caPath/);
  });
});

describe('Redis through Sentinel (connect-redis)', () => {
  const ENV = 'CUTOVER_TEST_REDIS_PASSWORD';
  const SENTINEL_ENV = 'CUTOVER_TEST_REDIS_SENTINEL_PASSWORD';
  const sentinel = { masterName: 'cutover', addresses: ['10.0.0.1:26379', '[fd00::2]:26380'] };
  let dir: string;
  before(() => (dir = mkdtempSync(path.join(tmpdir(), 'cutover-redis-sentinel-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));
  afterEach(() => {
    delete process.env[ENV];
    delete process.env[SENTINEL_ENV];
  });

  it('the sentinels and master name, a failover detector, and a reconnect on READONLY only', () => {
    const opts = redisOptions({ sentinel });
    assert.deepEqual(opts.sentinels, [
      { host: '10.0.0.1', port: 26379 },
      { host: 'fd00::2', port: 26380 },
    ]);
    assert.equal(opts.name, 'cutover');
    assert.equal(opts.failoverDetector, true);
    const reconnect = opts.reconnectOnError as (err: Error) => boolean | 1 | 2;
    assert.equal(reconnect(new Error("READONLY You can't write against a read only replica.")), 2);
    assert.equal(reconnect(new Error('ERR wrong number of arguments')), false);
    assert.equal(opts.tls, undefined);
    assert.equal(opts.password, undefined);
    assert.deepEqual(sentinelEndpoint('sentinel-3.internal:26379'), { host: 'sentinel-3.internal', port: 26379 });
  });

  it("the master's password from passwordEnv, the sentinels' from sentinel.passwordEnv; unset names the field", () => {
    const access = { sentinel: { ...sentinel, passwordEnv: SENTINEL_ENV }, passwordEnv: ENV };
    assert.throws(
      () => redisOptions(access),
      (e: unknown) => e instanceof RedisCredentialsError && e.field === 'passwordEnv',
    );
    process.env[ENV] = 'master-pw';
    assert.throws(
      () => redisOptions(access),
      (e: unknown) => e instanceof RedisCredentialsError && e.field === 'sentinel.passwordEnv' && e.message.includes(SENTINEL_ENV),
    );
    process.env[SENTINEL_ENV] = 'sentinel-pw';
    const opts = redisOptions(access);
    assert.equal(opts.password, 'master-pw');
    assert.equal(opts.sentinelPassword, 'sentinel-pw');
  });

  it('sentinel.tls: TLS to the sentinels and the master, with the CA file', () => {
    const ca = path.join(dir, 'ca.pem');
    writeFileSync(ca, 'CA BYTES');
    const opts = redisOptions({ sentinel: { ...sentinel, tls: true }, caPath: ca });
    assert.equal(opts.enableTLSForSentinelMode, true);
    assert.equal((opts.tls as { ca: Buffer }).ca.toString(), 'CA BYTES');
    assert.equal((opts.sentinelTLS as { ca: Buffer }).ca.toString(), 'CA BYTES');
  });

  it('refusals name the sentinels or the master, the field and the fix', () => {
    const access = { sentinel: { ...sentinel, passwordEnv: SENTINEL_ENV }, passwordEnv: ENV };
    const unknown = explainRedisError(
      access,
      new Error('All sentinels are unreachable. Retrying from scratch after 10ms. Last error: ERR No such master with that name'),
    );
    assert.equal(unknown.failure, 'unknown-master');
    assert.match(unknown.message, /redis\.sentinel\.masterName/);
    const sentinelAuth = explainRedisError(
      access,
      new Error('failed to connect to sentinel 10.0.0.1:26379 because WRONGPASS invalid username-password pair'),
    );
    assert.equal(sentinelAuth.failure, 'auth-refused');
    assert.match(sentinelAuth.message, new RegExp(`\\$${SENTINEL_ENV}`));
    const sentinelNoAuth = explainRedisError(
      { sentinel },
      new Error('All sentinels are unreachable. Last error: NOAUTH Authentication required.'),
    );
    assert.equal(sentinelNoAuth.failure, 'auth-required');
    assert.match(sentinelNoAuth.message, /redis\.sentinel\.passwordEnv/);
    const masterAuth = explainRedisError(access, new Error('WRONGPASS invalid username-password pair or user is disabled.'));
    assert.equal(masterAuth.failure, 'auth-refused');
    assert.match(masterAuth.message, /the Redis master "cutover"/);
    assert.match(masterAuth.message, new RegExp(`\\$${ENV}`));
    const down = explainRedisError(
      access,
      new Error('All sentinels are unreachable. Retrying from scratch after 10ms. Last error: connect ECONNREFUSED'),
    );
    assert.equal(down.failure, 'unreachable');
    assert.match(down.message, /redis\.sentinel\.addresses/);
    assert.doesNotMatch(down.message, /Retrying/);
    const tls = explainRedisError({ sentinel }, new Error('wrong version number'));
    assert.equal(tls.failure, 'tls');
    assert.match(tls.message, /redis\.sentinel\.tls: true/);
  });
});

describe('Prometheus gate: bearer token', () => {
  const TOKEN = 'prom-bearer-token-value';
  const ok = JSON.stringify({ status: 'success', data: { resultType: 'vector', result: [{ value: [1, '0.1'] }] } });

  function recordingFetch(status = 200, body = ok): { fetch: FetchLike; headers: Record<string, string>[] } {
    const headers: Record<string, string>[] = [];
    const fetch: FetchLike = async (_url, init) => {
      headers.push(init?.headers ?? {});
      return { ok: status < 400, status, text: async () => body };
    };
    return { fetch, headers };
  }

  it('sends Authorization: Bearer when given a token, and nothing otherwise', async () => {
    const r = recordingFetch();
    const m = await measurePrometheus({ url: 'http://127.0.0.1:9090', query: 'up', max: 1, bearerToken: TOKEN }, r.fetch);
    assert.equal(m.result, 'successful');
    assert.equal(r.headers[0]!.authorization, `Bearer ${TOKEN}`);
    await measurePrometheus({ url: 'http://127.0.0.1:9090', query: 'up', max: 1 }, r.fetch);
    assert.equal(r.headers[1]!.authorization, undefined);
  });

  it('a refused token is an error measurement naming the fix, without the token', async () => {
    const r = recordingFetch(401, 'Unauthorized');
    const m = await measurePrometheus({ url: 'http://127.0.0.1:9090', query: 'up', max: 1, bearerToken: TOKEN }, r.fetch);
    assert.equal(m.result, 'error');
    assert.match(m.message, /HTTP 401.*tokenEnv/);
    assert.ok(!m.message.includes(TOKEN));
  });

  it('the gate activity reads tokenEnv through the lookup the worker gives; unset is an error measurement', async () => {
    const r = recordingFetch();
    const gate = {
      kind: 'prometheus' as const,
      prometheus: { url: 'http://127.0.0.1:9090', query: 'up', max: 1, tokenEnv: 'PROM_TOKEN' },
      name: 'errors',
      policy: { interval: 1000, count: 1, failureLimit: 0, consecutiveErrorLimit: 0 },
      summary: 'up',
    };
    const args = { gate, units: [], stepStartedAt: new Date(0).toISOString(), measurementId: 'm1' };
    const connection = {} as never;
    const withToken = createGateActivities({
      target: { connection },
      fetch: r.fetch,
      secret: (n) => (n === 'PROM_TOKEN' ? TOKEN : undefined),
    });
    assert.equal((await withToken.measureGate(args as never)).result, 'successful');
    assert.equal(r.headers[0]!.authorization, `Bearer ${TOKEN}`);
    const without = createGateActivities({ target: { connection }, fetch: r.fetch, secret: () => undefined });
    const m = await without.measureGate(args as never);
    assert.equal(m.result, 'error');
    assert.match(m.message, /PROM_TOKEN is not set/);
    assert.equal(r.headers.length, 1, 'no query goes out without the token');
  });
});
