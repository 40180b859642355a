/**
 * Bearer JWTs for the codec server: RS256 only, checked against the public keys of a JWKS URL.
 *
 * Hand-written over node:crypto rather than a JOSE library: the server accepts exactly one algorithm and
 * one key type, so the whole job is parsing three base64url parts, picking the key by `kid` and calling
 * `crypto.verify`. Everything cryptographic is node:crypto's; nothing here is negotiable by the token
 * (no `none`, no HMAC, no embedded keys, no `crit` extensions).
 */
import { createPublicKey, verify, type JsonWebKey, type KeyObject } from 'node:crypto';

/** Where the keys come from and what the claims must say. */
export interface JwtVerifierOptions {
  jwksUrl: string;
  /** When set, `aud` (a string or an array) must contain it. */
  audience?: string;
  /** When set, `iss` must equal it. */
  issuer?: string;
  /** Clock difference tolerated on `exp`, `nbf` and `iat`. Default 30 s. */
  clockSkewSeconds?: number;
  /** An unknown `kid` refetches the JWKS at most this often, so random kids cannot hammer it. Default 10 s. */
  jwksMinRefreshMs?: number;
  /** Keys are trusted this long after the fetch that delivered them, so a key removed upstream stops working. Default 5 min. */
  jwksMaxAgeMs?: number;
  /** Per fetch of the JWKS. Default 5 s. */
  jwksTimeoutMs?: number;
  /** Milliseconds since the epoch; injectable for tests of the time rules. */
  now?: () => number;
}

/** The verified claims (only a JSON object is accepted). */
export type JwtClaims = Record<string, unknown>;

/**
 * The outcome of one check. `invalid`: the token is refused (401). `unavailable`: the keys could not be
 * fetched, so nothing can be verified (503). `reason` is safe to log and to return: it never quotes the
 * token or its claims.
 */
export type JwtCheck = { ok: true; claims: JwtClaims } | { ok: false; kind: 'invalid' | 'unavailable'; reason: string };

const DEFAULT_SKEW_SECONDS = 30;
const DEFAULT_MIN_REFRESH_MS = 10_000;
const DEFAULT_MAX_AGE_MS = 5 * 60_000;
const DEFAULT_TIMEOUT_MS = 5_000;
/** A JWKS larger than this is refused: real ones hold a handful of keys. */
const MAX_JWKS_BYTES = 256 * 1024;
/** Keys kept from one JWKS; the rest are ignored. */
const MAX_KEYS = 50;
/** Weaker RSA keys are ignored. */
const MIN_MODULUS_BITS = 2048;
const B64URL = /^[A-Za-z0-9_-]+$/;

/** Verifies RS256 JWTs against a JWKS URL, caching its keys. */
export class JwtVerifier {
  private readonly skew: number;
  private readonly minRefreshMs: number;
  private readonly maxAgeMs: number;
  private readonly timeoutMs: number;
  private readonly now: () => number;
  private keys = new Map<string, KeyObject>();
  /** When the keys in `keys` were fetched; -Infinity before the first success. */
  private fetchedAt = Number.NEGATIVE_INFINITY;
  /** When the last fetch started, successful or not: the bound on refetches. */
  private attemptedAt = Number.NEGATIVE_INFINITY;
  private lastFailure: string | undefined;
  private inflight: Promise<void> | undefined;

  constructor(private readonly opts: JwtVerifierOptions) {
    const url = new URL(opts.jwksUrl); // throws on a malformed URL; callers check it first for a better message
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error(`jwksUrl must be http(s), not ${url.protocol}`);
    this.skew = opts.clockSkewSeconds ?? DEFAULT_SKEW_SECONDS;
    this.minRefreshMs = opts.jwksMinRefreshMs ?? DEFAULT_MIN_REFRESH_MS;
    this.maxAgeMs = opts.jwksMaxAgeMs ?? DEFAULT_MAX_AGE_MS;
    this.timeoutMs = opts.jwksTimeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.now = opts.now ?? Date.now;
  }

  /** Checks signature, algorithm, key, time and (when configured) audience and issuer. */
  async check(token: string): Promise<JwtCheck> {
    const invalid = (reason: string): JwtCheck => ({ ok: false, kind: 'invalid', reason });
    const parts = token.split('.');
    if (parts.length !== 3 || !parts.every((p) => B64URL.test(p))) return invalid('not a signed JWT');
    const [headerPart, claimsPart, signaturePart] = parts as [string, string, string];
    const header = parseJsonObject(headerPart);
    if (!header) return invalid('malformed header');
    // The algorithm is fixed here, never taken from the token: `none` and HMAC-with-the-public-key tricks fail.
    if (header.alg !== 'RS256') return invalid('algorithm must be RS256');
    if (header.crit !== undefined) return invalid('critical header extensions are not supported');
    if (typeof header.kid !== 'string' || header.kid === '') return invalid('no key id (kid)');

    const key = await this.keyFor(header.kid);
    if (key === 'unavailable')
      return { ok: false, kind: 'unavailable', reason: `cannot fetch the JWKS: ${this.lastFailure ?? 'unknown error'}` };
    if (!key) return invalid('unknown key id');
    let signed = false;
    try {
      signed = verify('RSA-SHA256', Buffer.from(`${headerPart}.${claimsPart}`), key, Buffer.from(signaturePart, 'base64url'));
    } catch {
      signed = false;
    }
    if (!signed) return invalid('bad signature');

    // Claims are read only once the signature holds.
    const claims = parseJsonObject(claimsPart);
    if (!claims) return invalid('malformed claims');
    const now = this.now() / 1000;
    // A token without an expiry would be a password that never changes.
    if (typeof claims.exp !== 'number') return invalid('no expiry (exp)');
    if (now - this.skew >= claims.exp) return invalid('expired');
    if (claims.nbf !== undefined && (typeof claims.nbf !== 'number' || claims.nbf > now + this.skew)) return invalid('not yet valid (nbf)');
    if (claims.iat !== undefined && (typeof claims.iat !== 'number' || claims.iat > now + this.skew))
      return invalid('issued in the future (iat)');
    if (this.opts.issuer !== undefined && claims.iss !== this.opts.issuer) return invalid('wrong issuer');
    if (this.opts.audience !== undefined) {
      const aud = claims.aud;
      const audiences = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud : [];
      if (!audiences.includes(this.opts.audience)) return invalid('wrong audience');
    }
    return { ok: true, claims };
  }

  /** The key for `kid`: refreshed when stale, refetched (at most once per `jwksMinRefreshMs`) when unknown. */
  private async keyFor(kid: string): Promise<KeyObject | undefined | 'unavailable'> {
    if (this.now() - this.fetchedAt >= this.maxAgeMs) {
      await this.refresh(true);
      if (this.now() - this.fetchedAt >= this.maxAgeMs) return 'unavailable';
    }
    const known = this.keys.get(kid);
    if (known) return known;
    await this.refresh(false);
    return this.keys.get(kid);
  }

  /**
   * One fetch at a time (concurrent callers share it), and none sooner than `jwksMinRefreshMs` after the
   * last attempt, unless `stale` (the keys have expired and nothing could be verified without a fetch; a
   * failed fetch still waits the interval out).
   */
  private async refresh(stale: boolean): Promise<void> {
    if (this.inflight) return this.inflight;
    const sinceAttempt = this.now() - this.attemptedAt;
    if (sinceAttempt < this.minRefreshMs && !(stale && this.lastFailure === undefined)) return;
    this.attemptedAt = this.now();
    this.inflight = this.fetchKeys()
      .then(
        (keys) => {
          this.keys = keys;
          this.fetchedAt = this.now();
          this.lastFailure = undefined;
        },
        (err: unknown) => {
          this.lastFailure = err instanceof Error ? err.message : String(err);
        },
      )
      .finally(() => {
        this.inflight = undefined;
      });
    return this.inflight;
  }

  private async fetchKeys(): Promise<Map<string, KeyObject>> {
    const res = await fetch(this.opts.jwksUrl, {
      signal: AbortSignal.timeout(this.timeoutMs),
      redirect: 'error',
      headers: { accept: 'application/json' },
    });
    if (!res.ok) throw new Error(`HTTP ${res.status} from the JWKS URL`);
    const text = await readBounded(res, MAX_JWKS_BYTES);
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch {
      throw new Error('the JWKS is not JSON');
    }
    const list = (doc as { keys?: unknown } | null)?.keys;
    if (!Array.isArray(list)) throw new Error('the JWKS has no keys array');
    const keys = new Map<string, KeyObject>();
    for (const jwk of list as unknown[]) {
      if (keys.size >= MAX_KEYS) break;
      const usable = usableKey(jwk);
      if (usable) keys.set(usable.kid, usable.key);
    }
    return keys;
  }
}

/** An RSA signing key with a `kid`, of at least 2048 bits; anything else in the JWKS is skipped. */
function usableKey(jwk: unknown): { kid: string; key: KeyObject } | undefined {
  if (typeof jwk !== 'object' || jwk === null) return undefined;
  const k = jwk as Record<string, unknown>;
  if (k.kty !== 'RSA' || typeof k.kid !== 'string' || k.kid === '') return undefined;
  if (k.use !== undefined && k.use !== 'sig') return undefined;
  if (k.alg !== undefined && k.alg !== 'RS256') return undefined;
  try {
    const key = createPublicKey({ key: { kty: 'RSA', n: k.n, e: k.e } as JsonWebKey, format: 'jwk' });
    if ((key.asymmetricKeyDetails?.modulusLength ?? 0) < MIN_MODULUS_BITS) return undefined;
    return { kid: k.kid, key };
  } catch {
    return undefined;
  }
}

async function readBounded(res: Response, maxBytes: number): Promise<string> {
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (declared > maxBytes) throw new Error(`the JWKS is larger than ${maxBytes} bytes`);
  if (!res.body) return '';
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    total += chunk.byteLength;
    if (total > maxBytes) throw new Error(`the JWKS is larger than ${maxBytes} bytes`);
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parseJsonObject(part: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** The roles of Temporal's default authorizer, weakest first. */
const ROLES = ['read', 'write', 'worker', 'admin'] as const;
/** A permission on this namespace applies to every namespace, as in Temporal's default authorizer. */
const SYSTEM_NAMESPACE = 'temporal-system';

/**
 * Whether a token's Temporal-style `permissions` claim (`["<namespace>:<role>", ...]`) lets it use the
 * codec for `namespace`. No claim: the token is not namespace-scoped, so yes. Otherwise decode needs any
 * role on the namespace (`read` and up: it reveals payloads) and encode needs `write` and up (the UI
 * encodes only to start, signal or update, which a reader cannot do). `temporal-system:<role>` counts for
 * every namespace. A claim that is not an array of strings makes the token malformed.
 */
export function namespaceAccess(claims: JwtClaims, namespace: string, op: 'encode' | 'decode'): 'allowed' | 'denied' | 'malformed' {
  const permissions = claims.permissions;
  if (permissions === undefined) return 'allowed';
  if (!Array.isArray(permissions) || !permissions.every((p) => typeof p === 'string')) return 'malformed';
  const needed = op === 'decode' ? 'read' : 'write';
  for (const permission of permissions as string[]) {
    // Namespace names hold no colon, so the role is whatever follows the last one.
    const at = permission.lastIndexOf(':');
    if (at <= 0) continue;
    const ns = permission.slice(0, at);
    const role = permission.slice(at + 1).toLowerCase();
    if (ns !== namespace && ns !== SYSTEM_NAMESPACE) continue;
    const rank = ROLES.indexOf(role as (typeof ROLES)[number]);
    if (rank >= 0 && rank >= ROLES.indexOf(needed)) return 'allowed';
  }
  return 'denied';
}
