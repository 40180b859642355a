/**
 * The codec server over real HTTP on loopback: the remote codec protocol, its authentication (bearer
 * token; RS256 JWTs from a JWKS served by a small HTTP server here, keys minted by the stack's KeyRing),
 * CORS for the configured UI origins only, the body limit, and that no answer or log line carries the
 * token or payload bytes. The codec is a real, reversible one defined here: the subject is the server.
 */
import assert from 'node:assert/strict';
import { createPrivateKey, createHmac, randomBytes, sign } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { payloadToJSON } from '@temporalio/common/lib/proto-utils';
import { KeyRing, readJwks } from '../../src/stack/api-keys';
import {
  CodecServerInputError,
  codecServerAuthFrom,
  startCodecServer,
  type CodecServer,
  type CodecServerOptions,
  type CodecServerSettings,
} from '../../src/security/codec-server';
import { cookieValue, MAX_SESSIONS, SESSION_TTL_MS, SessionStore } from '../../src/security/codec-session';

const TOKEN = `tok-${randomBytes(16).toString('hex')}`;
const UI = 'http://localhost:8233';
const NS = 'payments';
const MARK = 'x-test-codec';

/** Reverses the data bytes and marks the payload; decode refuses a payload marked `broken`. */
class ReversingCodec implements PayloadCodec {
  constructor(readonly namespace: string) {}
  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => ({
      metadata: { ...p.metadata, [MARK]: Buffer.from(`reversed:${this.namespace}`) },
      data: Buffer.from(p.data ?? []).reverse(),
    }));
  }
  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => {
      const mark = p.metadata?.[MARK] ? Buffer.from(p.metadata[MARK]).toString() : undefined;
      if (mark === undefined) return p; // not ours: passes through
      // Quotes the payload on purpose: the server must not pass this message on.
      if (mark === 'broken') throw new Error(`cannot decode ${Buffer.from(p.data ?? []).toString()}`);
      const { [MARK]: _drop, ...metadata } = p.metadata ?? {};
      return { metadata, data: Buffer.from(p.data ?? []).reverse() };
    });
  }
}
const codecFor = (namespace: string): PayloadCodec => {
  if (namespace === 'no-such-ns') throw new Error('no key ring for no-such-ns');
  return new ReversingCodec(namespace);
};

const plain = (text: string): Payload => ({ metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from(JSON.stringify(text)) });
const body = (...payloads: Payload[]) => JSON.stringify({ payloads: payloads.map((p) => payloadToJSON(p)) });

interface Answer {
  status: number;
  headers: Headers;
  text: string;
}

async function call(
  base: string,
  opts: {
    path?: string;
    method?: string;
    token?: string | null;
    ns?: string | null;
    origin?: string;
    body?: string;
    headers?: Record<string, string>;
  },
): Promise<Answer> {
  const headers: Record<string, string> = { 'content-type': 'application/json', ...opts.headers };
  if (opts.token !== null) headers.authorization = `Bearer ${opts.token ?? TOKEN}`;
  if (opts.ns !== null) headers['x-namespace'] = opts.ns ?? NS;
  if (opts.origin) headers.origin = opts.origin;
  const method = opts.method ?? 'POST';
  const res = await fetch(`${base}${opts.path ?? '/decode'}`, {
    method,
    headers,
    body: method === 'POST' ? (opts.body ?? body(plain('hi'))) : undefined,
  });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

const payloadsOf = (a: Answer) => (JSON.parse(a.text) as { payloads: { metadata: Record<string, string>; data: string }[] }).payloads;
const errorOf = (a: Answer) => (JSON.parse(a.text) as { error: string }).error;
const corsHeadersOf = (a: Answer) => [...a.headers.keys()].filter((k) => k.startsWith('access-control-'));

describe('codec server', function () {
  this.timeout(30_000);
  const servers: CodecServer[] = [];
  const logs: string[] = [];
  /** Every answer of every test, checked for the token at the end. */
  const seen: string[] = [];

  async function start(over: Partial<CodecServerOptions> = {}): Promise<string> {
    const server = await startCodecServer({
      codecFor,
      listen: '127.0.0.1:0',
      auth: { token: TOKEN },
      origins: [UI],
      includeCredentials: false,
      log: (line) => logs.push(line),
      ...over,
    });
    servers.push(server);
    return server.url;
  }
  const record = (a: Answer) => {
    seen.push(`${a.status} ${JSON.stringify([...a.headers.entries()])} ${a.text}`);
    return a;
  };
  const go = async (base: string, opts: Parameters<typeof call>[1]) => record(await call(base, opts));

  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  describe('protocol', () => {
    it('round-trips payloads through /encode and /decode, per namespace', async () => {
      const base = await start();
      const original = [plain('unit tenant/acme'), { metadata: { encoding: Buffer.from('binary/null') }, data: Buffer.alloc(0) }];
      const enc = await go(base, { path: '/encode', body: body(...original) });
      assert.equal(enc.status, 200);
      assert.match(enc.headers.get('content-type') ?? '', /^application\/json/);
      assert.equal(enc.headers.get('cache-control'), 'no-store');
      const encoded = payloadsOf(enc);
      assert.equal(encoded.length, 2);
      assert.equal(Buffer.from(encoded[0]!.metadata[MARK]!, 'base64').toString(), `reversed:${NS}`);
      assert.notEqual(encoded[0]!.data, payloadToJSON(original[0]!).data);

      const dec = await go(base, { path: '/decode', body: JSON.stringify({ payloads: encoded }) });
      assert.equal(dec.status, 200);
      assert.deepEqual(
        payloadsOf(dec),
        original.map((p) => payloadToJSON(p)),
      );
    });

    it('looks only at the last path segment, so it can be mounted under a prefix', async () => {
      const base = await start();
      const enc = await go(base, { path: `/${NS}/encode`, body: body(plain('x')) });
      assert.equal(enc.status, 200);
      const dec = await go(base, { path: `/codec/${NS}/decode?ignored=1`, body: JSON.stringify({ payloads: payloadsOf(enc) }) });
      assert.equal(dec.status, 200);
      assert.deepEqual(payloadsOf(dec), [payloadToJSON(plain('x'))]);
    });

    it('answers an empty payload list with an empty list', async () => {
      const base = await start();
      const a = await go(base, { body: '{"payloads":[]}' });
      assert.equal(a.status, 200);
      assert.deepEqual(payloadsOf(a), []);
    });

    it('answers 400 naming X-Namespace when it is missing', async () => {
      const base = await start();
      const a = await go(base, { ns: null });
      assert.equal(a.status, 400);
      assert.match(errorOf(a), /X-Namespace/);
    });

    it('answers 400 on bad JSON and on a body of the wrong shape', async () => {
      const base = await start();
      for (const bad of ['{"payloads": [', '[]', '{"payload": []}', '{"payloads": [1]}', '{"payloads": [{"data": "not base64!"}]}']) {
        const a = await go(base, { body: bad });
        assert.equal(a.status, 400, bad);
        assert.ok(errorOf(a).length > 0);
      }
    });

    it('answers 400 on a codec error or an unknown namespace, without quoting the payload', async () => {
      const base = await start();
      const secret = 'card 4111-1111-1111-1111';
      const broken: Payload = { metadata: { [MARK]: Buffer.from('broken') }, data: Buffer.from(secret) };
      const a = await go(base, { body: body(broken) });
      assert.equal(a.status, 400);
      assert.match(errorOf(a), /decode failed/);
      assert.ok(!a.text.includes(secret) && !a.text.includes(Buffer.from(secret).toString('base64')));
      assert.ok(!logs.some((l) => l.includes(secret)));

      const b = await go(base, { ns: 'no-such-ns' });
      assert.equal(b.status, 400);
      assert.match(errorOf(b), /no codec for namespace no-such-ns/);
    });

    it('answers 404 to an unknown path and 405 to another method', async () => {
      const base = await start();
      assert.equal((await go(base, { path: '/download' })).status, 404);
      assert.equal((await go(base, { path: '/decode/' })).status, 404);
      const get = await go(base, { method: 'GET' });
      assert.equal(get.status, 405);
      assert.equal(get.headers.get('allow'), 'POST, OPTIONS');
    });
  });

  describe('bearer token', () => {
    it('answers 401 with WWW-Authenticate to a missing, wrong or non-Bearer credential', async () => {
      const base = await start();
      const cases: [string, Parameters<typeof call>[1]][] = [
        ['missing', { token: null }],
        ['wrong', { token: `${TOKEN.slice(0, -1)}x` }],
        ['prefix of the token', { token: TOKEN.slice(0, 8) }],
        ['Basic scheme', { token: null, headers: { authorization: `Basic ${Buffer.from(`u:${TOKEN}`).toString('base64')}` } }],
      ];
      for (const [name, opts] of cases) {
        const a = await go(base, opts);
        assert.equal(a.status, 401, name);
        assert.match(a.headers.get('www-authenticate') ?? '', /^Bearer /, name);
      }
      // The scheme is case-insensitive, as HTTP says.
      assert.equal((await go(base, { token: null, headers: { authorization: `bearer ${TOKEN}` } })).status, 200);
    });

    it('refuses to start without authentication, with a short token, a wildcard or inexact origin, or a bad listen address', async () => {
      const refused: [string, Partial<CodecServerOptions>][] = [
        ['no auth', { auth: undefined as unknown as CodecServerOptions['auth'] }],
        ['empty token', { auth: { token: '' } }],
        ['short token', { auth: { token: 'short' } }],
        ['wildcard origin', { origins: ['*'] }],
        ['trailing slash', { origins: ['http://localhost:8233/'] }],
        ['path', { origins: ['http://localhost:8233/ui'] }],
        ['listen without port', { listen: '127.0.0.1' }],
        ['bad jwks url', { auth: { jwksUrl: 'not a url' } }],
      ];
      for (const [name, over] of refused) {
        await assert.rejects(start(over), CodecServerInputError, name);
      }
    });

    it('reads the token from the env var the plan names, and refuses an unset one or no auth', () => {
      const settings: CodecServerSettings = {
        listen: '127.0.0.1:0',
        tokenEnv: 'CODEC_TOKEN_FOR_TEST',
        origins: [UI],
        includeCredentials: false,
        maxBodyBytes: 1024,
      };
      assert.deepEqual(codecServerAuthFrom(settings, { CODEC_TOKEN_FOR_TEST: TOKEN }), { token: TOKEN });
      assert.throws(
        () => codecServerAuthFrom(settings, {}),
        (err: Error) => err instanceof CodecServerInputError && /CODEC_TOKEN_FOR_TEST/.test(err.message),
      );
      assert.throws(() => codecServerAuthFrom({ ...settings, tokenEnv: undefined }, {}), CodecServerInputError);
      assert.throws(() => codecServerAuthFrom({ ...settings, jwksUrl: 'http://127.0.0.1:1/jwks.json' }, {}), CodecServerInputError);
      // The plan's section and the server's options line up: a spread of the settings type-checks.
      const opts: CodecServerOptions = { ...settings, codecFor, auth: codecServerAuthFrom(settings, { CODEC_TOKEN_FOR_TEST: TOKEN }) };
      assert.equal(opts.maxBodyBytes, 1024);
    });
  });

  describe('CORS', () => {
    it('answers a preflight from a configured origin with its exact origin, no credentials unless configured', async () => {
      const base = await start();
      const a = await go(base, {
        method: 'OPTIONS',
        origin: UI,
        token: null,
        ns: null,
        headers: { 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,x-namespace,authorization' },
      });
      assert.equal(a.status, 204);
      assert.equal(a.headers.get('access-control-allow-origin'), UI);
      assert.equal(a.headers.get('vary'), 'Origin');
      assert.equal(a.headers.get('access-control-allow-methods'), 'POST, OPTIONS');
      assert.equal(a.headers.get('access-control-allow-headers'), 'Content-Type, X-Namespace, Authorization');
      assert.equal(a.headers.get('access-control-allow-credentials'), null);

      const post = await go(base, { origin: UI });
      assert.equal(post.status, 200);
      assert.equal(post.headers.get('access-control-allow-origin'), UI);
      assert.equal(post.headers.get('access-control-allow-credentials'), null);
    });

    it('adds Allow-Credentials when includeCredentials is on, to preflights and to answers', async () => {
      const other = 'https://temporal.example.test';
      const base = await start({ includeCredentials: true, origins: [UI, other] });
      for (const origin of [UI, other]) {
        const pre = await go(base, {
          method: 'OPTIONS',
          origin,
          token: null,
          ns: null,
          headers: { 'access-control-request-method': 'POST' },
        });
        assert.equal(pre.status, 204);
        assert.equal(pre.headers.get('access-control-allow-origin'), origin);
        assert.equal(pre.headers.get('access-control-allow-credentials'), 'true');
      }
      const denied = await go(base, { origin: UI, token: 'wrong-token-of-some-length' });
      assert.equal(denied.status, 401);
      // The browser may read the 401 (and show why) only with these.
      assert.equal(denied.headers.get('access-control-allow-origin'), UI);
      assert.equal(denied.headers.get('access-control-allow-credentials'), 'true');
    });

    it('answers 403 without CORS headers to any other origin, even with a valid token', async () => {
      const base = await start({ includeCredentials: true });
      for (const origin of ['http://localhost:8234', 'https://localhost:8233', 'http://evil.test', 'null']) {
        const pre = await go(base, {
          method: 'OPTIONS',
          origin,
          token: null,
          ns: null,
          headers: { 'access-control-request-method': 'POST' },
        });
        assert.equal(pre.status, 403, origin);
        assert.deepEqual(corsHeadersOf(pre), [], origin);
        const post = await go(base, { origin });
        assert.equal(post.status, 403, origin);
        assert.deepEqual(corsHeadersOf(post), [], origin);
        assert.ok(!post.text.includes('payloads'), 'no codec answer');
      }
    });

    it('lets a request without Origin (CLI, curl) through when it is authenticated', async () => {
      const base = await start();
      const a = await go(base, {});
      assert.equal(a.status, 200);
      assert.deepEqual(corsHeadersOf(a), []);
    });
  });

  describe('body limit', () => {
    const max = 4096;

    it('accepts a body of exactly maxBodyBytes and answers 413 to one byte more', async () => {
      const base = await start({ maxBodyBytes: max });
      const json = body(plain('x'));
      assert.equal((await go(base, { body: json.padEnd(max, ' ') })).status, 200);
      const over = await go(base, { body: json.padEnd(max + 1, ' ') });
      assert.equal(over.status, 413);
    });

    it('answers 413 on a declared Content-Length over the limit before any of the body is sent', async () => {
      const base = await start({ maxBodyBytes: max });
      const { status, bodyText } = await rawPost(base, { contentLength: 10 * 1024 * 1024, chunks: [], end: false });
      assert.equal(status, 413);
      assert.match(bodyText, /4096 bytes/);
    });

    it('stops reading a chunked body once it passes the limit, and answers 413 before the client finishes', async () => {
      const base = await start({ maxBodyBytes: max });
      // Never ended: the answer can only come from a server that stopped reading early.
      const { status } = await rawPost(base, { chunks: [Buffer.alloc(max / 2, 0x20), Buffer.alloc(max, 0x20)], end: false });
      assert.equal(status, 413);
    });

    it('asks for credentials before it reads a body', async () => {
      const base = await start({ maxBodyBytes: max });
      const { status } = await rawPost(base, { contentLength: 10 * 1024 * 1024, chunks: [], end: false, token: null });
      assert.equal(status, 401);
    });
  });

  describe('JWT against a JWKS', () => {
    let dir: string;
    let ring: KeyRing;
    let jwks: http.Server;
    let jwksUrl: string;
    let jwksHits = 0;

    beforeEach(async () => {
      dir = mkdtempSync(path.join(tmpdir(), 'cutover-codec-jwks-'));
      ring = new KeyRing(path.join(dir, 'keys.json'));
      jwksHits = 0;
      jwks = http.createServer((req, res) => {
        jwksHits++;
        readJwks(ring.file).then(
          (doc) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(doc)),
          () => res.writeHead(500).end(),
        );
      });
      await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
      jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks.json`;
    });
    afterEach(async () => {
      jwks.closeAllConnections();
      await new Promise<void>((resolve) => jwks.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    });

    /** Signs arbitrary header and claims with the private key of `kid` in the ring (for claims KeyRing does not mint). */
    const signWith = (kid: string, claims: Record<string, unknown>, header: Record<string, unknown> = {}) => {
      const stored = (JSON.parse(readFileSync(ring.file, 'utf8')) as { keys: { kid: string; privateKeyPem: string }[] }).keys.find(
        (k) => k.kid === kid,
      )!;
      const enc = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
      const input = `${enc({ alg: 'RS256', typ: 'JWT', kid, ...header })}.${enc(claims)}`;
      return `${input}.${sign('RSA-SHA256', Buffer.from(input), createPrivateKey(stored.privateKeyPem)).toString('base64url')}`;
    };
    const inAMinute = () => Math.floor(Date.now() / 1000) + 60;

    it('decodes with a token that has a role on the namespace, and refuses (403) one without', async () => {
      // Keys minted before the first request: the server fetches the JWKS once and keeps it.
      const reader = await ring.mint({ subject: 'ui-user', permissions: [`${NS}:read`, 'other:write'], expiresInMs: 60_000 });
      const none = await ring.mint({ subject: 'nobody', permissions: [], expiresInMs: 60_000 });
      const system = await ring.mint({ subject: 'ops', permissions: ['temporal-system:admin'], expiresInMs: 60_000 });
      const base = await start({ auth: { jwksUrl } });
      const encoded = await go(base, { path: '/encode', token: reader.token, ns: 'other' });
      assert.equal(encoded.status, 200);
      const dec = await go(base, { path: '/decode', token: reader.token, body: encoded.text, ns: NS });
      assert.equal(dec.status, 200);

      const elsewhere = await go(base, { path: '/decode', token: reader.token, ns: 'third' });
      assert.equal(elsewhere.status, 403);
      assert.match(errorOf(elsewhere), /third/);
      // read lets a user see payloads, not encode new ones (that is for starting and signalling).
      assert.equal((await go(base, { path: '/encode', token: reader.token, ns: NS })).status, 403);
      assert.equal((await go(base, { token: none.token })).status, 403);
      assert.equal((await go(base, { path: '/encode', token: system.token, ns: 'any' })).status, 200);
    });

    it('accepts a token without a permissions claim for any namespace, and refuses a malformed claim', async () => {
      const base = await start({ auth: { jwksUrl } });
      const { kid } = await ring.mint({ subject: 'x', permissions: [], expiresInMs: 60_000 });
      assert.equal((await go(base, { token: signWith(kid, { sub: 'sso-user', exp: inAMinute() }), ns: 'anything' })).status, 200);
      assert.equal((await go(base, { token: signWith(kid, { sub: 'x', exp: inAMinute(), permissions: `${NS}:read` }) })).status, 401);
    });

    it('answers 401 to an expired token, a token without exp, one not valid yet, and a tampered one', async () => {
      const expired = await ring.mint({ subject: 'old', permissions: [`${NS}:read`], expiresInMs: -10 * 60_000 });
      const never = await ring.mint({ subject: 'forever', permissions: [`${NS}:read`] });
      const good = await ring.mint({ subject: 'me', permissions: [`${NS}:read`], expiresInMs: 60_000 });
      const base = await start({ auth: { jwksUrl } });
      const a = await go(base, { token: expired.token });
      assert.equal(a.status, 401);
      assert.match(errorOf(a), /expired/);
      assert.match(a.headers.get('www-authenticate') ?? '', /^Bearer .*invalid_token/);

      assert.equal((await go(base, { token: never.token })).status, 401, 'no exp');
      const early = signWith(never.kid, { sub: 'x', exp: inAMinute() + 3600, nbf: inAMinute() + 600 });
      assert.equal((await go(base, { token: early })).status, 401, 'nbf in the future');

      assert.equal((await go(base, { token: good.token })).status, 200);
      const [h, , s] = good.token.split('.');
      const forged = Buffer.from(JSON.stringify({ sub: 'me', permissions: ['temporal-system:admin'], exp: inAMinute() })).toString(
        'base64url',
      );
      assert.equal((await go(base, { token: `${h}.${forged}.${s}` })).status, 401, 'tampered claims');
    });

    it("refuses alg none, HS256 signed with the key's public modulus, an unknown kid, and a token without kid", async () => {
      const base = await start({ auth: { jwksUrl } });
      const { kid } = await ring.mint({ subject: 'x', permissions: [], expiresInMs: 60_000 });
      const enc = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
      const claims = enc({ sub: 'x', exp: inAMinute() });
      const none = `${enc({ alg: 'none', kid })}.${claims}.`;
      const n = (await readJwks(ring.file)).keys[0]!.n!;
      const hsInput = `${enc({ alg: 'HS256', kid })}.${claims}`;
      const hs = `${hsInput}.${createHmac('sha256', n).update(hsInput).digest('base64url')}`;
      const noKid = signWith(kid, { sub: 'x', exp: inAMinute() }, { kid: undefined });
      const otherKid = signWith(kid, { sub: 'x', exp: inAMinute() }, { kid: 'not-in-the-jwks' });
      for (const [name, token] of Object.entries({ none, hs, noKid, otherKid, garbage: 'a.b' })) {
        assert.equal((await go(base, { token })).status, 401, name);
      }
    });

    it('checks aud and iss when configured', async () => {
      const base = await start({ auth: { jwksUrl, audience: 'codec', issuer: 'https://idp.example.test' } });
      const { kid } = await ring.mint({ subject: 'x', permissions: [], expiresInMs: 60_000 });
      const exp = inAMinute();
      const ok = signWith(kid, { exp, aud: ['ui', 'codec'], iss: 'https://idp.example.test' });
      assert.equal((await go(base, { token: ok })).status, 200);
      assert.equal((await go(base, { token: signWith(kid, { exp, aud: 'ui', iss: 'https://idp.example.test' }) })).status, 401);
      assert.equal((await go(base, { token: signWith(kid, { exp, aud: 'codec', iss: 'https://other.test' }) })).status, 401);
      assert.equal((await go(base, { token: signWith(kid, { exp, iss: 'https://idp.example.test' }) })).status, 401, 'no aud');
    });

    it('caches the JWKS and refetches it for an unknown kid at most once per interval', async () => {
      const base = await start({ auth: { jwksUrl } }); // default interval: 10 s
      const first = await ring.mint({ subject: 'a', permissions: [`${NS}:read`], expiresInMs: 60_000 });
      for (let i = 0; i < 3; i++) assert.equal((await go(base, { token: first.token })).status, 200);
      assert.equal(jwksHits, 1, 'one fetch for three requests');
      for (let i = 0; i < 5; i++) {
        const forged = signWith(first.kid, { exp: inAMinute() }, { kid: `random-${i}` });
        assert.equal((await go(base, { token: forged })).status, 401);
      }
      assert.equal(jwksHits, 1, 'unknown kids inside the interval do not refetch');
    });

    it('picks up a new key on an unknown kid, and drops a revoked one once the cached keys expire', async () => {
      const base = await start({ auth: { jwksUrl, jwksMinRefreshMs: 0, jwksMaxAgeMs: 200 } });
      const a = await ring.mint({ subject: 'a', permissions: [`${NS}:read`], expiresInMs: 60_000 });
      assert.equal((await go(base, { token: a.token })).status, 200);
      const b = await ring.mint({ subject: 'b', permissions: [`${NS}:read`], expiresInMs: 60_000 });
      assert.equal((await go(base, { token: b.token })).status, 200, 'new kid fetched');
      await ring.revoke(a.kid);
      const deadline = Date.now() + 10_000;
      let status = 200;
      while (status === 200 && Date.now() < deadline) status = (await go(base, { token: a.token })).status;
      assert.equal(status, 401, 'revoked key refused after the cache expired');
      assert.equal((await go(base, { token: b.token })).status, 200);
    });

    it('answers 503 when the JWKS cannot be fetched', async () => {
      const closed = http.createServer();
      await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
      const port = (closed.address() as AddressInfo).port;
      await new Promise<void>((resolve) => closed.close(() => resolve()));
      const base = await start({ auth: { jwksUrl: `http://127.0.0.1:${port}/jwks.json`, jwksTimeoutMs: 2000 } });
      const { token } = await ring.mint({ subject: 'a', permissions: [], expiresInMs: 60_000 });
      const a = await go(base, { token });
      assert.equal(a.status, 503);
      assert.match(errorOf(a), /JWKS/);
    });

    it('never echoes the JWT in an answer or a log line', async () => {
      const base = await start({ auth: { jwksUrl } });
      const t = await ring.mint({ subject: 'a', permissions: [`${NS}:read`], expiresInMs: 60_000 });
      const expired = await ring.mint({ subject: 'b', permissions: [`${NS}:read`], expiresInMs: -600_000 });
      await go(base, { token: t.token });
      await go(base, { token: t.token, ns: 'other' });
      await go(base, { token: expired.token });
      for (const text of [...seen, ...logs]) {
        for (const jwt of [t.token, expired.token]) {
          assert.ok(!text.includes(jwt) && !text.includes(jwt.split('.')[2]!), 'token leaked');
        }
      }
    });
  });

  describe('browser sessions', () => {
    /** Signs in through the page's form as a browser would (Origin is the server's own); the answer and the cookie. */
    async function signIn(base: string, token: string, origin: string | null = base) {
      const res = await fetch(`${base}/session`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...(origin ? { origin } : {}) },
        body: new URLSearchParams({ token }).toString(),
      });
      const answer = record({ status: res.status, headers: res.headers, text: await res.text() });
      const setCookie = res.headers.get('set-cookie');
      return { answer, setCookie, cookie: setCookie?.split(';')[0] };
    }

    it('serves the sign-in page only with a bearer token and includeCredentials, locked against framing and scripts', async () => {
      const base = await start({ includeCredentials: true });
      const page = await go(base, { path: '/session', method: 'GET', token: null, ns: null });
      assert.equal(page.status, 200);
      assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
      assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'none'.*frame-ancestors 'none'/);
      assert.equal(page.headers.get('x-frame-options'), 'DENY');
      assert.equal(page.headers.get('cache-control'), 'no-store');
      assert.match(page.text, /<form method="post" action="session">/);

      const without = await start({ includeCredentials: false });
      assert.equal((await go(without, { path: '/session', method: 'GET', token: null, ns: null })).status, 404);
      assert.equal((await signIn(without, TOKEN)).answer.status, 404);
    });

    it('signs in with the token only: a session cookie (HttpOnly, SameSite=Strict, named by port) that is not the token', async () => {
      const base = await start({ includeCredentials: true });
      const wrong = await signIn(base, `${TOKEN}-wrong`);
      assert.equal(wrong.answer.status, 401);
      assert.equal(wrong.setCookie, null);
      const ok = await signIn(base, TOKEN);
      assert.equal(ok.answer.status, 200);
      const port = new URL(base).port;
      assert.match(
        ok.setCookie ?? '',
        new RegExp(`^cutover-codec-session-${port}=[A-Za-z0-9_-]{43}; Path=/; HttpOnly; SameSite=Strict; Max-Age=43200$`),
      );
      assert.ok(!ok.setCookie!.includes(TOKEN));
      // A page elsewhere cannot sign anyone in, and only the form's encoding is read.
      assert.equal((await signIn(base, TOKEN, 'http://evil.test')).answer.status, 403);
      const json = await fetch(`${base}/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      assert.equal(json.status, 415);
    });

    it('decodes for a UI origin with the session cookie alone; refuses it without Origin, from elsewhere, or made up', async () => {
      const base = await start({ includeCredentials: true });
      const { cookie } = await signIn(base, TOKEN);
      const withCookie = (c: string, origin?: string) => go(base, { token: null, origin, headers: { cookie: `_csrf=ui-cookie; ${c}` } });
      const ok = await withCookie(cookie!, UI);
      assert.equal(ok.status, 200);
      assert.equal(ok.headers.get('access-control-allow-credentials'), 'true');
      assert.deepEqual(
        payloadsOf(ok).map((p) => Buffer.from(p.data, 'base64').toString()),
        [JSON.stringify('hi')],
      );
      assert.equal((await withCookie(cookie!)).status, 401);
      assert.equal((await withCookie(cookie!, 'http://evil.test')).status, 403);
      const name = cookie!.split('=')[0]!;
      assert.equal((await withCookie(`${name}=${'A'.repeat(43)}`, UI)).status, 401);
      // Another codec server's session (another port's cookie) is not this one's.
      assert.equal((await withCookie(`cutover-codec-session-1=${cookie!.split('=')[1]}`, UI)).status, 401);
      // The bearer token still works beside sessions.
      assert.equal((await go(base, { origin: UI })).status, 200);
    });

    it('never logs the session ID, and logs a refused sign-in', async () => {
      const from = logs.length;
      const base = await start({ includeCredentials: true });
      await signIn(base, 'not-the-token-at-all');
      const { cookie } = await signIn(base, TOKEN);
      await go(base, { token: null, origin: UI, headers: { cookie: cookie! } });
      const lines = logs.slice(from);
      assert.match(lines[0]!, /^codec-server POST "\/session" namespace=- 401 \d+ms \(sign-in refused: invalid token\)$/);
      assert.match(lines[1]!, /^codec-server POST "\/session" namespace=- 200 \d+ms \(signed in: session started\)$/);
      assert.match(lines[2]!, /^codec-server POST "\/decode" namespace="payments" 200 /);
      const id = cookie!.split('=')[1]!;
      for (const line of lines) assert.ok(!line.includes(id) && !line.includes(TOKEN), line);
    });

    it('expires a session after its lifetime, and keeps at most MAX_SESSIONS', () => {
      let now = 1_000_000;
      const store = new SessionStore(() => now);
      const first = store.create();
      assert.equal(store.check(first.id), 'valid');
      now += SESSION_TTL_MS;
      assert.equal(store.check(first.id), 'expired');
      assert.equal(store.check(first.id), 'unknown');
      now = 0;
      const oldest = store.create();
      for (let i = 1; i < MAX_SESSIONS; i++) store.create();
      assert.equal(store.check(oldest.id), 'valid');
      store.create();
      assert.equal(store.check(oldest.id), 'unknown');
      assert.equal(cookieValue('a=1; cutover-codec-session-8888=xyz; b=2', 'cutover-codec-session-8888'), 'xyz');
      assert.equal(cookieValue('cutover-codec-session-88880=xyz', 'cutover-codec-session-8888'), undefined);
    });
  });

  describe('logging', () => {
    it('logs one line per request with method, path, namespace, status and time, and never the token or payload data', async () => {
      const before = logs.length;
      const base = await start();
      const data = 'tenant acme-secret-unit';
      await go(base, { path: '/p/encode', body: body(plain(data)) });
      await go(base, { token: `${TOKEN}-wrong` });
      await go(base, { ns: null });
      await go(base, { method: 'OPTIONS', origin: UI, token: null, ns: null });
      const lines = logs.slice(before);
      assert.equal(lines.length, 4, lines.join('\n'));
      assert.match(lines[0]!, /^codec-server POST "\/p\/encode" namespace="payments" 200 \d+ms$/);
      assert.match(lines[1]!, /^codec-server POST "\/decode" namespace=- 401 \d+ms/);
      assert.match(lines[2]!, / 400 /);
      assert.match(lines[3]!, /^codec-server OPTIONS "\/decode" namespace=- 204 /);
      for (const line of lines) {
        assert.ok(!line.includes(data) && !line.includes(Buffer.from(JSON.stringify(data)).toString('base64')), line);
      }
    });

    it('never puts the bearer token in an answer or a log line, whatever the outcome', async () => {
      const from = { seen: seen.length, logs: logs.length };
      const base = await start({ maxBodyBytes: 512, includeCredentials: true });
      const broken: Payload = { metadata: { [MARK]: Buffer.from('broken') }, data: Buffer.from('x') };
      const statuses = [
        (await go(base, { path: '/encode', origin: UI })).status,
        (await go(base, { token: `${TOKEN}x`, origin: UI })).status,
        (await go(base, { token: TOKEN.toUpperCase() })).status,
        (await go(base, { origin: 'http://evil.test' })).status,
        (await go(base, { ns: null })).status,
        (await go(base, { body: 'not json' })).status,
        (await go(base, { body: body(broken) })).status,
        (await go(base, { body: ' '.repeat(513) })).status,
        (await go(base, { method: 'OPTIONS', origin: UI })).status,
      ];
      assert.deepEqual(statuses, [200, 401, 401, 403, 400, 400, 400, 413, 204]);
      const texts = [...seen.slice(from.seen), ...logs.slice(from.logs)];
      assert.ok(texts.length >= 18);
      for (const text of texts) assert.ok(!text.includes(TOKEN) && !text.includes(TOKEN.slice(4)), `token leaked: ${text}`);
    });
  });

  after(() => {
    // And across every answer and log line of the tests above.
    for (const text of [...seen, ...logs]) assert.ok(!text.includes(TOKEN) && !text.includes(TOKEN.slice(4)), 'token leaked');
  });
});

/**
 * A POST with node:http, to send headers before (or without) a whole body: resolves on the answer even
 * though the body is never finished.
 */
function rawPost(
  base: string,
  opts: { contentLength?: number; chunks: Buffer[]; end: boolean; token?: string | null },
): Promise<{ status: number; bodyText: string }> {
  return new Promise((resolve, reject) => {
    const headers: http.OutgoingHttpHeaders = { 'content-type': 'application/json', 'x-namespace': NS };
    if (opts.token !== null) headers.authorization = `Bearer ${opts.token ?? TOKEN}`;
    if (opts.contentLength !== undefined) headers['content-length'] = opts.contentLength;
    const req = http.request(`${base}/decode`, { method: 'POST', headers }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, bodyText: Buffer.concat(parts).toString() });
        req.destroy();
      });
      res.on('error', reject);
    });
    // The server may close while we still write: that is the point, not a failure.
    req.on('error', (err) => reject(err));
    req.flushHeaders();
    for (const chunk of opts.chunks) req.write(chunk);
    if (opts.end) req.end();
  });
}
