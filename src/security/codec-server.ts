/**
 * The codec server: the Temporal UI's and CLI's remote codec protocol over node:http, locked down.
 *
 * `POST <anything>/encode` and `POST <anything>/decode` take and return `{ payloads: [...] }` in proto3
 * JSON, for the namespace in the `X-Namespace` header. Every POST is authenticated (a bearer token
 * compared in constant time, or an RS256 JWT checked against a JWKS), browsers are answered only for the
 * configured UI origins, and bodies are capped. Decoded payloads are plaintext, so nothing here logs or
 * returns payload bytes or credentials except the codec's answer to an authorized request.
 *
 * node:http rather than a web framework: two routes and a preflight, where each header matters and a
 * framework's defaults (permissive CORS, body parsers that read everything first) would have to be undone.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { JSONToPayload, payloadToJSON } from '@temporalio/common/lib/proto-utils';
import { DEFAULT_CODEC_SERVER_LISTEN, DEFAULT_CODEC_SERVER_MAX_BODY_BYTES } from '../config/defaults';
import type { CodecServerConfig } from '../config/types';
import {
  cookieValue,
  MAX_SIGN_IN_BYTES,
  PAGE_HEADERS,
  sessionCookie,
  sessionCookieName,
  SessionStore,
  signedInPage,
  signInPage,
  WRONG_TOKEN,
} from './codec-session';
import { JwtVerifier, namespaceAccess, type JwtVerifierOptions } from './jwt';

/** Shortest bearer token accepted: shorter ones can be guessed. */
export const MIN_CODEC_TOKEN_LENGTH = 16;

/** How requests authenticate: a shared bearer token, or JWTs checked against a JWKS. */
export type CodecServerAuth =
  | { token: string }
  | ({ jwksUrl: string; audience?: string; issuer?: string } & Pick<
      JwtVerifierOptions,
      'clockSkewSeconds' | 'jwksMinRefreshMs' | 'jwksMaxAgeMs' | 'jwksTimeoutMs'
    >);

/** Options of `startCodecServer`. */
export interface CodecServerOptions {
  /** The codec for a namespace; it may throw for a namespace it does not serve (answered 400). */
  codecFor: (namespace: string) => PayloadCodec;
  /** `host:port` (`[::1]:port` for IPv6); port 0 picks a free one. Default `127.0.0.1:8888`. */
  listen?: string;
  auth: CodecServerAuth;
  /** UI origins (`scheme://host[:port]`) answered with CORS; a request from any other origin gets 403. */
  origins: string[];
  /**
   * Answer `Access-Control-Allow-Credentials: true`, as the UI's "include credentials" setting needs. With
   * a bearer token it also opens the sign-in page (`<base>/session`): a browser signs in once with the
   * token and then authenticates with a session cookie (codec-session.ts).
   */
  includeCredentials: boolean;
  /** Default 4 MiB. */
  maxBodyBytes?: number;
  /** How messages name the listen address (default `codec.server.listen`; the CLI's `--listen`). */
  listenField?: string;
  /** One line per request, and start-up warnings. Never given tokens or payload data. */
  log?: (line: string) => void;
}

/** The plan's `codec.server` section. */
export type CodecServerSettings = CodecServerConfig;

/** A running codec server. */
export interface CodecServer {
  /** `http://host:port` it listens on (the codec endpoint to give the UI or the CLI). */
  url: string;
  close(): Promise<void>;
}

/** Options that cannot start a safe server: the message names the field and the fix. */
export class CodecServerInputError extends Error {
  override readonly name = 'CodecServerInputError';
}

/**
 * The `auth` of `startCodecServer` from the plan's settings: the token is read from `tokenEnv` here, so
 * it never sits in the plan. Exactly one of `tokenEnv` and `jwksUrl` must be set.
 */
export function codecServerAuthFrom(settings: CodecServerSettings, env: NodeJS.ProcessEnv = process.env): CodecServerAuth {
  const { tokenEnv, jwksUrl } = settings;
  if (tokenEnv && jwksUrl) {
    throw new CodecServerInputError('codec.server: tokenEnv and jwksUrl are both set; choose one way to authenticate requests');
  }
  if (jwksUrl) return { jwksUrl, audience: settings.jwtAudience || undefined, issuer: settings.jwtIssuer || undefined };
  if (tokenEnv) {
    const token = env[tokenEnv];
    if (!token) {
      throw new CodecServerInputError(
        `codec.server.tokenEnv: environment variable ${tokenEnv} is unset or empty; export a random token of at least ` +
          `${MIN_CODEC_TOKEN_LENGTH} characters in it (for example: export ${tokenEnv}=$(openssl rand -hex 32))`,
      );
    }
    if (token.length < MIN_CODEC_TOKEN_LENGTH) {
      throw new CodecServerInputError(
        `codec.server.tokenEnv: the token in ${tokenEnv} is shorter than ${MIN_CODEC_TOKEN_LENGTH} characters; ` +
          `put a random one there (for example: export ${tokenEnv}=$(openssl rand -hex 32))`,
      );
    }
    return { token };
  }
  throw new CodecServerInputError(
    'codec.server: set tokenEnv (a bearer token read from that environment variable) or jwksUrl (JWTs checked against ' +
      'that JWKS); the codec server never runs without authentication',
  );
}

type Reply = { status: number; body?: unknown; html?: string; headers?: http.OutgoingHttpHeaders; reason?: string };
type Authenticator = (
  headers: http.IncomingHttpHeaders,
) => Promise<
  { ok: true; allows: (namespace: string, op: Operation) => boolean | 'malformed' } | { ok: false; status: 401 | 503; reason: string }
>;
type Operation = 'encode' | 'decode';

const ALLOW_METHODS = 'POST, OPTIONS';
const ALLOW_HEADERS = 'Content-Type, X-Namespace, Authorization';
/** Browsers cache a preflight this long (seconds). */
const PREFLIGHT_MAX_AGE = '600';
/** Temporal namespace names are printable ASCII without spaces. */
const NAMESPACE = /^[\x21-\x7e]{1,255}$/;

/**
 * Starts the codec server and resolves once it listens. Refuses (CodecServerInputError) to start without
 * authentication, with a short token, or with an origin that is not exact (`*`, a path, a trailing slash).
 */
export async function startCodecServer(opts: CodecServerOptions): Promise<CodecServer> {
  const log = opts.log ?? (() => undefined);
  const listenField = opts.listenField ?? 'codec.server.listen';
  const { host, port } = checkListen(opts.listen ?? DEFAULT_CODEC_SERVER_LISTEN, listenField);
  const origins = checkOrigins(opts.origins);
  const maxBodyBytes = opts.maxBodyBytes ?? DEFAULT_CODEC_SERVER_MAX_BODY_BYTES;
  if (!Number.isInteger(maxBodyBytes) || maxBodyBytes <= 0) {
    throw new CodecServerInputError(`codec.server.maxBodyBytes: ${maxBodyBytes} is not a positive whole number of bytes`);
  }
  // Browser sessions: only for a bearer token (a JWT is the UI user's own), and only when the UI may send cookies.
  const sessions = opts.auth && 'token' in opts.auth && opts.includeCredentials ? new SessionStore() : undefined;
  let cookieName = '';
  const authenticate = authenticator(opts.auth, sessions && { store: sessions, cookieName: () => cookieName });
  if (!isLoopback(host)) log(`codec-server: listening on ${host}, not loopback: anyone who can reach it and holds a credential can decode`);

  const server = http.createServer((req, res) => {
    const started = process.hrtime.bigint();
    let namespace: string | undefined;
    let reason: string | undefined;
    const path = (req.url ?? '/').split('?')[0]!;
    const origin = req.headers.origin;
    // Vary on every answer: a cache must not hand one origin's answer to another.
    const corsHeaders: http.OutgoingHttpHeaders = { vary: 'Origin' };
    // Logged when the response is done (or the client went away): never headers, query or body.
    res.once('close', () => {
      const ms = Number((process.hrtime.bigint() - started) / 1_000_000n);
      const status = res.writableFinished ? res.statusCode : 'aborted';
      const ns = namespace === undefined ? '-' : JSON.stringify(namespace);
      log(`codec-server ${req.method ?? '?'} ${JSON.stringify(path)} namespace=${ns} ${status} ${ms}ms${reason ? ` (${reason})` : ''}`);
    });
    const send = (reply: Reply) => {
      reason = reply.reason;
      if (res.headersSent) return;
      const body = reply.html ?? (reply.body === undefined ? '' : JSON.stringify(reply.body));
      res.writeHead(reply.status, {
        ...(reply.html !== undefined ? PAGE_HEADERS : body ? { 'content-type': 'application/json; charset=utf-8' } : {}),
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
        ...corsHeaders,
        ...reply.headers,
      });
      res.end(body);
    };

    const op = path.slice(path.lastIndexOf('/') + 1);
    // The sign-in page is the server's own page: a browser comes to it, not a UI origin.
    if (op === 'session') {
      void handleSignIn(req, sessions, opts.auth, cookieName).then(send, (err: unknown) => {
        send({ status: 500, body: { error: 'internal error' }, reason: `internal error (${errorName(err)})` });
      });
      return;
    }

    // Never answer a browser on a page we do not serve: no CORS headers, and the request goes no further.
    if (origin !== undefined && !origins.has(origin)) {
      // The body is not read: close the connection rather than drain it.
      send({ status: 403, body: { error: 'origin not allowed' }, headers: { connection: 'close' }, reason: 'origin not allowed' });
      return;
    }
    if (origin !== undefined) {
      corsHeaders['access-control-allow-origin'] = origin;
      if (opts.includeCredentials) corsHeaders['access-control-allow-credentials'] = 'true';
    }

    if (op !== 'encode' && op !== 'decode') {
      send({ status: 404, body: { error: 'not found: POST .../encode or .../decode' }, headers: { connection: 'close' } });
      return;
    }
    if (req.method === 'OPTIONS') {
      const preflight: http.OutgoingHttpHeaders = { allow: ALLOW_METHODS };
      if (origin !== undefined) {
        preflight['access-control-allow-methods'] = ALLOW_METHODS;
        preflight['access-control-allow-headers'] = ALLOW_HEADERS;
        preflight['access-control-max-age'] = PREFLIGHT_MAX_AGE;
        // A page on a public origin calling a loopback server: Chrome asks for this before sending.
        if (req.headers['access-control-request-private-network'] === 'true') preflight['access-control-allow-private-network'] = 'true';
      }
      send({ status: 204, headers: preflight });
      return;
    }
    if (req.method !== 'POST') {
      send({ status: 405, body: { error: 'method not allowed: use POST' }, headers: { allow: ALLOW_METHODS, connection: 'close' } });
      return;
    }

    void handlePost(req, op, maxBodyBytes, authenticate, opts.codecFor, (ns) => (namespace = ns)).then(send, (err: unknown) => {
      // Only a bug lands here: the handler answers every expected failure itself. The message may quote data.
      send({ status: 500, body: { error: 'internal error' }, reason: `internal error (${errorName(err)})` });
    });
  });
  // A client that trickles headers or body must not hold a connection for ever.
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;

  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      reject(
        err.code === 'EADDRINUSE'
          ? new CodecServerInputError(`${listenField}: ${host}:${port} is already in use; choose another port (--listen host:port)`)
          : err,
      );
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  cookieName = sessionCookieName(address.port);
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${shownHost}:${address.port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Authenticate, find the namespace, check permission, read the body, run the codec. */
async function handlePost(
  req: http.IncomingMessage,
  op: Operation,
  maxBodyBytes: number,
  authenticate: Authenticator,
  codecFor: (namespace: string) => PayloadCodec,
  noteNamespace: (ns: string) => void,
): Promise<Reply> {
  const early = closingReply;

  const auth = await authenticate(req.headers);
  if (!auth.ok) {
    return auth.status === 401
      ? early(401, auth.reason, {
          'www-authenticate': `Bearer realm="codec-server"${auth.reason === 'no credentials' ? '' : ', error="invalid_token"'}`,
        })
      : early(503, auth.reason);
  }

  const header = req.headers['x-namespace'];
  const namespace = Array.isArray(header) ? header[0] : header;
  if (namespace === undefined || namespace === '')
    return early(400, 'missing X-Namespace header: name the namespace whose payloads these are');
  if (!NAMESPACE.test(namespace)) return early(400, 'X-Namespace is not a namespace name (printable ASCII, no spaces, at most 255)');
  noteNamespace(namespace);

  const allowed = auth.allows(namespace, op);
  if (allowed === 'malformed') {
    return early(401, 'invalid token: permissions claim is not a list of strings', {
      'www-authenticate': 'Bearer realm="codec-server", error="invalid_token"',
    });
  }
  if (!allowed) return early(403, `token has no permission to ${op} for namespace ${namespace}`);

  const declared = Number(req.headers['content-length'] ?? NaN);
  if (declared > maxBodyBytes) return early(413, `request body over ${maxBodyBytes} bytes`);
  const body = await readBody(req, maxBodyBytes);
  if (body === 'too large') return early(413, `request body over ${maxBodyBytes} bytes`);
  if (body === 'aborted') return { status: 400, reason: 'client aborted the body' };

  const parsed = parsePayloads(body);
  if (typeof parsed === 'string') return { status: 400, body: { error: parsed }, reason: parsed };

  let codec: PayloadCodec;
  try {
    codec = codecFor(namespace);
  } catch (err) {
    return { status: 400, body: { error: `no codec for namespace ${namespace}` }, reason: `no codec (${errorName(err)})` };
  }
  let out: Payload[];
  try {
    out = op === 'encode' ? await codec.encode(parsed) : await codec.decode(parsed);
  } catch (err) {
    // The codec's own message is not passed on: it could quote the bytes it failed on.
    const error = `${op} failed: the codec refused the payloads (${errorName(err)})`;
    return { status: 400, body: { error }, reason: error };
  }
  return { status: 200, body: { payloads: out.map((p) => payloadToJSON(p)) } };
}

/** Reads at most `max` bytes; stops reading (and leaves the rest unread) as soon as the body is larger. */
function readBody(req: http.IncomingMessage, max: number): Promise<string | 'too large' | 'aborted'> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const finish = (result: string | 'too large' | 'aborted') => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onAbort);
      req.off('close', onAbort);
      resolve(result);
    };
    const onData = (chunk: Buffer) => {
      total += chunk.length;
      if (total > max) {
        req.pause();
        finish('too large');
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => finish(Buffer.concat(chunks).toString('utf8'));
    const onAbort = () => finish('aborted');
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('error', onAbort);
    // Closed before 'end': the client went away mid-body.
    req.once('close', onAbort);
  });
}

/** `{ payloads: [ { metadata: { k: base64 }, data: base64 } ] }` → payloads, or what is wrong with it. */
function parsePayloads(text: string): Payload[] | string {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return 'request body is not JSON: send {"payloads": [...]}';
  }
  const list = typeof doc === 'object' && doc !== null ? (doc as { payloads?: unknown }).payloads : undefined;
  if (!Array.isArray(list)) return 'request body has no "payloads" array: send {"payloads": [...]}';
  const payloads: Payload[] = [];
  for (const [i, item] of list.entries()) {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) return `payloads[${i}] is not an object`;
    try {
      payloads.push(JSONToPayload(item as Parameters<typeof JSONToPayload>[0]));
    } catch {
      return `payloads[${i}] is not a Payload: metadata values and data must be base64 strings`;
    }
  }
  return payloads;
}

/** The sign-in page (GET) and the sign-in itself (POST, a form with the token), when sessions are on. */
async function handleSignIn(
  req: http.IncomingMessage,
  sessions: SessionStore | undefined,
  auth: CodecServerAuth | undefined,
  cookieName: string,
): Promise<Reply> {
  const refuse = closingReply;
  if (!sessions || !auth || !('token' in auth)) {
    return refuse(404, 'no sign-in here: browser sessions need a bearer token (tokenEnv) and includeCredentials: true');
  }
  // A form posts with its page's origin, which is this server's own: a page elsewhere does not sign anyone in.
  const origin = req.headers.origin;
  if (origin !== undefined && origin !== `http://${req.headers.host ?? ''}`) return refuse(403, 'sign-in from another origin');
  if (req.method === 'GET' || req.method === 'HEAD') return { status: 200, html: signInPage() };
  if (req.method !== 'POST') return refuse(405, 'method not allowed: GET or POST', { allow: 'GET, HEAD, POST' });

  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') return refuse(415, 'send the sign-in form (application/x-www-form-urlencoded)');
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (declared > MAX_SIGN_IN_BYTES) return refuse(413, `sign-in form over ${MAX_SIGN_IN_BYTES} bytes`);
  const body = await readBody(req, MAX_SIGN_IN_BYTES);
  if (body === 'too large') return refuse(413, `sign-in form over ${MAX_SIGN_IN_BYTES} bytes`);
  if (body === 'aborted') return { status: 400, reason: 'client aborted the body' };
  const token = new URLSearchParams(body).get('token') ?? '';
  if (!timingSafeEqual(sha256(token), sha256(auth.token))) {
    return { status: 401, html: signInPage(WRONG_TOKEN), reason: 'sign-in refused: invalid token' };
  }
  return {
    status: 200,
    html: signedInPage(),
    headers: { 'set-cookie': sessionCookie(cookieName, sessions.create()) },
    reason: 'signed in: session started',
  };
}

/** With sessions: the store, and the cookie's name (known once the server listens). */
interface SessionAuth {
  store: SessionStore;
  cookieName: () => string;
}

function authenticator(auth: CodecServerAuth | undefined, sessions?: SessionAuth): Authenticator {
  if (auth && 'token' in auth) {
    if (typeof auth.token !== 'string' || auth.token.length < MIN_CODEC_TOKEN_LENGTH) {
      throw new CodecServerInputError(
        `codec.server auth: the bearer token must be at least ${MIN_CODEC_TOKEN_LENGTH} characters; ` +
          'use a random one (openssl rand -hex 32)',
      );
    }
    // Compare digests: equal lengths for timingSafeEqual, and the time taken says nothing of the token.
    const expected = sha256(auth.token);
    return async (headers) => {
      const token = bearer(headers.authorization);
      if (token !== undefined) {
        if (!timingSafeEqual(sha256(token), expected)) return { ok: false, status: 401, reason: 'invalid token' };
        return { ok: true, allows: () => true };
      }
      const session = sessions && cookieValue(headers.cookie, sessions.cookieName());
      if (session === undefined) return { ok: false, status: 401, reason: 'no credentials' };
      // Browsers always send Origin with these requests, and it was checked against the UI origins already.
      if (headers.origin === undefined) return { ok: false, status: 401, reason: 'session cookie without Origin' };
      const state = sessions!.store.check(session);
      if (state !== 'valid') return { ok: false, status: 401, reason: state === 'expired' ? 'session expired' : 'unknown session' };
      return { ok: true, allows: () => true };
    };
  }
  if (auth && 'jwksUrl' in auth) {
    let url: URL;
    try {
      url = new URL(auth.jwksUrl);
    } catch {
      throw new CodecServerInputError(`codec.server.jwksUrl: ${JSON.stringify(auth.jwksUrl)} is not a URL; give the JWKS's http(s) URL`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new CodecServerInputError(`codec.server.jwksUrl: must be an http(s) URL, not ${url.protocol}`);
    }
    const verifier = new JwtVerifier(auth);
    return async (headers) => {
      const token = bearer(headers.authorization);
      if (token === undefined) return { ok: false, status: 401, reason: 'no credentials' };
      const checked = await verifier.check(token);
      if (!checked.ok) return { ok: false, status: checked.kind === 'invalid' ? 401 : 503, reason: `invalid token: ${checked.reason}` };
      return {
        ok: true,
        allows: (namespace, op) => {
          const access = namespaceAccess(checked.claims, namespace, op);
          return access === 'malformed' ? 'malformed' : access === 'allowed';
        },
      };
    };
  }
  throw new CodecServerInputError(
    'codec.server auth: give a bearer token ({ token }) or a JWKS URL ({ jwksUrl }); the codec server never runs without authentication',
  );
}

/** The credentials of `Authorization: Bearer <credentials>`; the scheme is case-insensitive. */
function bearer(header: string | undefined): string | undefined {
  const match = /^Bearer +(\S+) *$/i.exec(header ?? '');
  return match?.[1];
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** Each origin exactly as a browser sends it: `scheme://host[:port]`, nothing after. */
export function checkOrigins(origins: string[], field = 'codec.server.origins'): Set<string> {
  const bad: string[] = [];
  for (const origin of origins) {
    let exact: string | undefined;
    try {
      exact = new URL(origin).origin;
    } catch {
      exact = undefined;
    }
    if (exact !== origin || exact === 'null') bad.push(origin);
  }
  if (bad.length) {
    throw new CodecServerInputError(
      `${field}: ${bad.map((o) => JSON.stringify(o)).join(', ')} ` +
        `${bad.length === 1 ? 'is not an exact origin' : 'are not exact origins'}; ` +
        'list each UI origin as scheme://host[:port] with no path or trailing slash (no wildcard: "*" would let any page decode)',
    );
  }
  return new Set(origins);
}

/** `host:port` or `[v6]:port` (port 0: a free one); throws CodecServerInputError naming `field` otherwise. */
export function checkListen(listen: string, field = 'codec.server.listen'): { host: string; port: number } {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(listen);
  const port = match ? Number(match[3]) : NaN;
  if (!match || port > 65535) {
    throw new CodecServerInputError(`${field}: ${JSON.stringify(listen)} is not host:port; for example ${DEFAULT_CODEC_SERVER_LISTEN}`);
  }
  return { host: (match[1] ?? match[2])!, port };
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

function errorName(err: unknown): string {
  return err instanceof Error ? err.name : typeof err;
}

/** An early answer: it closes the connection, since the body it did not read is not drained. */
function closingReply(status: number, error: string, extra: http.OutgoingHttpHeaders = {}): Reply {
  return { status, body: { error }, headers: { connection: 'close', ...extra }, reason: error };
}
