/**
 * API keys of the Cloud-shaped local cluster: RS256 JWTs that the stock temporal-server checks with its
 * default claim mapper and authorizer against a JWKS (src/stack/jwks-server.ts serves it). Each key has its
 * own RSA signing key and `kid`, so revoking one key removes its JWK and leaves every other key valid.
 * Signed with node:crypto: a JWT is a dot-joined pair of base64url JSON documents and a signature, too
 * small a format to take a dependency for.
 */
import { generateKeyPairSync, randomBytes, sign, createPrivateKey, createPublicKey, type JsonWebKey } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';

/** A role of the default authorizer, per namespace (`<namespace>:<role>`). */
export type ApiKeyRole = 'read' | 'write' | 'worker' | 'admin';

/** The admin permission of the stack's own key: namespace create and search attributes. Never given to cutover. */
export const SYSTEM_ADMIN_PERMISSION = 'temporal-system:admin';

/** One key of the ring: its signing key (PKCS#8 PEM) and what its tokens carry. */
export interface StoredApiKey {
  kid: string;
  subject: string;
  permissions: string[];
  createdAt: string;
  privateKeyPem: string;
}

/** The JWKS document the server fetches. */
export interface Jwks {
  keys: (JsonWebKey & { kid: string; alg: 'RS256'; use: 'sig' })[];
}

interface KeyRingFile {
  version: 1;
  keys: StoredApiKey[];
}

/** A minted API key: the bearer token and the `kid` that revokes it. */
export interface MintedApiKey {
  token: string;
  kid: string;
}

const b64url = (data: Buffer | string) => Buffer.from(data).toString('base64url');

/** The JWKS of a key-ring file as it is on disk now (an absent file: no keys). */
export async function readJwks(file: string): Promise<Jwks> {
  const ring = await readRing(file);
  return {
    keys: ring.keys.map((k) => ({
      ...(createPublicKey(createPrivateKey(k.privateKeyPem)).export({ format: 'jwk' }) as JsonWebKey),
      kid: k.kid,
      alg: 'RS256' as const,
      use: 'sig' as const,
    })),
  };
}

async function readRing(file: string): Promise<KeyRingFile> {
  try {
    return JSON.parse(await fs.readFile(file, 'utf8')) as KeyRingFile;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, keys: [] };
    throw err;
  }
}

/**
 * The signing keys of one cluster, persisted in a JSON file (mode 0600: it holds private keys) that the
 * JWKS server re-reads on every request, so a revoke takes effect at the server's next JWKS refresh.
 */
export class KeyRing {
  constructor(readonly file: string) {}

  /** Adds a signing key for `permissions` and returns a token signed by it. */
  async mint(opts: { subject: string; permissions: string[]; expiresInMs?: number }): Promise<MintedApiKey> {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const stored: StoredApiKey = {
      kid: randomBytes(12).toString('hex'),
      subject: opts.subject,
      permissions: [...opts.permissions],
      createdAt: new Date().toISOString(),
      privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    };
    await this.update((ring) => ring.keys.push(stored));
    return { kid: stored.kid, token: signToken(stored, opts.expiresInMs) };
  }

  /** A fresh token of an existing key (same `kid`, same permissions); undefined when the key is gone. */
  async reissue(kid: string, expiresInMs?: number): Promise<MintedApiKey | undefined> {
    const key = (await readRing(this.file)).keys.find((k) => k.kid === kid);
    return key ? { kid, token: signToken(key, expiresInMs) } : undefined;
  }

  /** Removes a key: its tokens are refused once the server refreshes the JWKS. True if it existed. */
  async revoke(kid: string): Promise<boolean> {
    let found = false;
    await this.update((ring) => {
      const before = ring.keys.length;
      ring.keys = ring.keys.filter((k) => k.kid !== kid);
      found = ring.keys.length !== before;
    });
    return found;
  }

  /** The keys (without their private parts). */
  async list(): Promise<Omit<StoredApiKey, 'privateKeyPem'>[]> {
    return (await readRing(this.file)).keys.map(({ privateKeyPem: _omit, ...rest }) => rest);
  }

  private async update(change: (ring: KeyRingFile) => void): Promise<void> {
    const ring = await readRing(this.file);
    change(ring);
    await fs.mkdir(path.dirname(this.file), { recursive: true, mode: 0o700 });
    // Write then rename: the JWKS server never reads a half-written file.
    const tmp = `${this.file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    await fs.writeFile(tmp, JSON.stringify(ring, null, 2), { mode: 0o600 });
    await fs.rename(tmp, this.file);
  }
}

/** An RS256 JWT with `sub`, `permissions`, `iat` and (when given) `exp`. */
function signToken(key: StoredApiKey, expiresInMs?: number): string {
  const now = Math.floor(Date.now() / 1000);
  const header = { alg: 'RS256', typ: 'JWT', kid: key.kid };
  const claims: Record<string, unknown> = { sub: key.subject, permissions: key.permissions, iat: now };
  if (expiresInMs !== undefined) claims.exp = Math.floor((Date.now() + expiresInMs) / 1000);
  const signingInput = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  const signature = sign('RSA-SHA256', Buffer.from(signingInput), createPrivateKey(key.privateKeyPem));
  return `${signingInput}.${b64url(signature)}`;
}

/** `<namespace>:<role>` for each namespace: the permissions claim of a namespace-scoped key. */
export function namespacePermissions(namespaces: string[], role: ApiKeyRole = 'write'): string[] {
  return namespaces.map((ns) => `${ns}:${role}`);
}
