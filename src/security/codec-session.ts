/**
 * Browser sessions of the codec server: a page where a person signs in once with the bearer token, and
 * the cookie that the Temporal UI then sends with its "include cross-origin credentials" setting on.
 *
 * Why a cookie: the UI sends an `Authorization` header only with "pass the user access token", only to
 * an https endpoint, and only the access token of a user signed in to the UI. A local UI has no sign-in
 * and the codec server speaks plain HTTP on loopback, so a cookie is the one credential the UI can carry.
 * The cookie holds a random session ID, never the token: the browser also sends it to every other port
 * of the same host, and a session expires and dies with the server.
 */
import { createHash, randomBytes } from 'node:crypto';

/** How long a browser session lasts: a working day. */
export const SESSION_TTL_MS = 12 * 60 * 60 * 1000;
/** Sessions kept at once; past it the oldest is dropped, so sign-ins cannot grow the server's memory. */
export const MAX_SESSIONS = 1000;
/** Largest sign-in form accepted (a token and a little more). */
export const MAX_SIGN_IN_BYTES = 4096;

/**
 * The session cookie's name. Browsers send a host's cookies to every port of it, so the port is in the
 * name: two codec servers on one host do not overwrite each other's session.
 */
export function sessionCookieName(port: number): string {
  return `cutover-codec-session-${port}`;
}

/** Session IDs handed out and when each expires; only their SHA-256 is kept. */
export class SessionStore {
  private readonly expiries = new Map<string, number>();

  constructor(private readonly now: () => number = Date.now) {}

  /** A new session: its ID (for the cookie) and how long it lasts. */
  create(): { id: string; maxAgeSeconds: number } {
    const id = randomBytes(32).toString('base64url');
    while (this.expiries.size >= MAX_SESSIONS) this.expiries.delete(this.expiries.keys().next().value!);
    this.expiries.set(digest(id), this.now() + SESSION_TTL_MS);
    return { id, maxAgeSeconds: SESSION_TTL_MS / 1000 };
  }

  check(id: string): 'valid' | 'expired' | 'unknown' {
    const key = digest(id);
    const expires = this.expiries.get(key);
    if (expires === undefined) return 'unknown';
    if (expires <= this.now()) {
      this.expiries.delete(key);
      return 'expired';
    }
    return 'valid';
  }
}

/** The value of one cookie in a `Cookie` header, or undefined. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** `Set-Cookie` of a new session: HttpOnly (no script reads it) and SameSite=Strict (no other site sends it). */
export function sessionCookie(name: string, session: { id: string; maxAgeSeconds: number }): string {
  return `${name}=${session.id}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${session.maxAgeSeconds}`;
}

/** Headers of every page: nothing runs, nothing loads, nothing frames it, no referrer leaves for another origin. */
export const PAGE_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy': "default-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-frame-options': 'DENY',
  // Not no-referrer: with it, Chrome sends `Origin: null` on the form's POST, and the sign-in refuses that.
  'referrer-policy': 'same-origin',
};

/** The sign-in page; `notice` is one of the fixed texts below, never request data. */
export function signInPage(notice?: string): string {
  return page(
    'Sign in to the codec server',
    `${notice ? `<p role="alert">${notice}</p>` : ''}
<p>The Temporal UI decodes payloads through this server. Sign in once with the codec server's token
(the value of the variable the plan's <code>codec.server.tokenEnv</code> names); the browser then holds a
session for ${SESSION_TTL_MS / 3_600_000} hours.</p>
<form method="post" action="session">
  <label>Token <input type="password" name="token" autocomplete="off" required autofocus></label>
  <button type="submit">Sign in</button>
</form>`,
  );
}

export const WRONG_TOKEN = 'That is not the token: nothing was signed in.';

/** The page after a successful sign-in. */
export function signedInPage(): string {
  return page(
    'Signed in',
    `<p id="signed-in">Signed in for ${SESSION_TTL_MS / 3_600_000} hours.</p>
<p>In the Temporal UI, open the Data Encoder settings, choose the browser's own setting, give this server's
address as the codec endpoint, and turn on "include cross-origin credentials": the UI then sends this
session with each decode.</p>`,
  );
}

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${title}</title></head>
<body><h1>${title}</h1>
${body}
</body></html>
`;
}

function digest(id: string): string {
  return createHash('sha256').update(id, 'utf8').digest('hex');
}
