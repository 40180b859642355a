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
import { explainRedisError, RedisCredentialsError, redisOptions } from '../../src/routing/connect-redis';

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
