/**
 * The pure parts of the Cloud-shaped local cluster: its plan fields, the API keys (JWTs verifiable with
 * the JWKS, revocable one by one), and the namespaces `dev up` creates for it. No server.
 */
import assert from 'node:assert/strict';
import { createPublicKey, verify } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { loadPlan, validatePlan } from '../../src/config';
import { KeyRing, namespacePermissions, readJwks } from '../../src/stack/api-keys';
import { controlNamespaceOn, planClusterSpecs } from '../../src/stack/dev';
import { JwksServer } from '../../src/stack/jwks-server';

const ROOT = path.resolve(__dirname, '../..');
const CLOUD_PLAN = path.join(ROOT, 'examples/cloud-plan.yaml');

type Raw = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const example = (): Raw => parseYaml(readFileSync(CLOUD_PLAN, 'utf8')) as Raw;

const decode = (part: string) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>;

describe('Cloud-shaped local cluster: plan fields', () => {
  it('examples/cloud-plan.yaml is valid: cloud runs Cloud-shaped with API keys, 1 shard, suffix .acct1', () => {
    const plan = loadPlan(CLOUD_PLAN);
    assert.deepEqual(plan.clusters.cloud?.local, { server: 'cloud', shards: 1, auth: 'api-key' });
    assert.equal(plan.clusters.cloud?.namespaceSuffix, '.acct1');
    assert.equal(plan.clusters.cloud?.apiKeyEnv, 'CUTOVER_CLOUD_API_KEY');
  });

  it('defaults auth to api-key, and keeps it off other servers', () => {
    const raw = example();
    raw.clusters.cloud.local = { server: 'cloud' };
    const r = validatePlan(raw);
    assert.ok(r.ok);
    assert.equal(r.plan.clusters.cloud?.local?.auth, 'api-key');
    assert.equal(r.plan.clusters.legacy?.local?.auth, undefined);
  });

  it('refuses auth without server: cloud, an unknown auth, and shards other than 1, naming each field', () => {
    const raw = example();
    raw.clusters.legacy.local = { server: 'postgres', auth: 'mtls' };
    raw.clusters.cloud.local = { server: 'cloud', auth: 'api-keys', shards: 2 };
    const r = validatePlan(raw);
    assert.equal(r.ok, false);
    const paths = r.ok ? [] : r.issues.map((i) => i.path).sort();
    assert.deepEqual(paths, ['clusters.cloud.local.auth', 'clusters.cloud.local.shards', 'clusters.legacy.local.auth']);
  });

  it('dev up creates suffixed namespaces on the Cloud-shaped cluster, the control namespace too, and no default there', () => {
    const plan = loadPlan(CLOUD_PLAN);
    const specs = Object.fromEntries(planClusterSpecs(plan).map((s) => [s.name, s.namespaces.sort()]));
    assert.deepEqual(specs.cloud, ['cutover.acct1', 'detections.acct1', 'payments.acct1']);
    assert.deepEqual(specs.legacy, ['default', 'detections', 'payments']);
    assert.equal(controlNamespaceOn(plan), 'cutover.acct1');
  });
});

describe('Cloud-shaped local cluster: API keys', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'cutover-keys-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('mints RS256 JWTs that the JWKS verifies, with sub, permissions and exp; the ring file is private', async () => {
    const ring = new KeyRing(path.join(dir, 'keys.json'));
    const { token, kid } = await ring.mint({ subject: 'svc', permissions: namespacePermissions(['payments.acct1']), expiresInMs: 60_000 });
    const [h, p, sig] = token.split('.') as [string, string, string];
    assert.deepEqual(decode(h), { alg: 'RS256', typ: 'JWT', kid });
    const claims = decode(p);
    assert.equal(claims.sub, 'svc');
    assert.deepEqual(claims.permissions, ['payments.acct1:write']);
    assert.ok(typeof claims.exp === 'number' && claims.exp > Date.now() / 1000);
    const jwk = (await readJwks(ring.file)).keys.find((k) => k.kid === kid);
    assert.ok(jwk && jwk.alg === 'RS256' && jwk.kty === 'RSA' && jwk.d === undefined, 'the JWKS holds only public keys');
    const key = createPublicKey({ key: jwk, format: 'jwk' });
    assert.ok(verify('RSA-SHA256', Buffer.from(`${h}.${p}`), key, Buffer.from(sig, 'base64url')));
    assert.equal(statSync(ring.file).mode & 0o777, 0o600);
  });

  it('revokes one key and keeps the others; the JWKS server answers the file as it is now', async () => {
    const ring = new KeyRing(path.join(dir, 'keys.json'));
    const a = await ring.mint({ subject: 'a', permissions: ['x:read'] });
    const b = await ring.mint({ subject: 'b', permissions: ['y:read'] });
    const server = new JwksServer(ring.file);
    await server.start();
    try {
      const kids = async () => ((await (await fetch(server.url)).json()) as { keys: { kid: string }[] }).keys.map((k) => k.kid).sort();
      assert.deepEqual(await kids(), [a.kid, b.kid].sort());
      assert.equal(await ring.revoke(a.kid), true);
      assert.equal(await ring.revoke(a.kid), false);
      assert.deepEqual(await kids(), [b.kid]);
      assert.equal(await ring.reissue(a.kid), undefined);
      assert.equal((await ring.reissue(b.kid))?.kid, b.kid);
    } finally {
      await server.stop();
    }
  });
});
