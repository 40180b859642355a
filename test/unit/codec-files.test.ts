/**
 * The codec secrets the local stack writes (src/stack/codec-files.ts): the key files a plan names and the
 * codec server's token. Real files in a temporary directory; the written key is read back by the codec's
 * own loader, so a key in the wrong shape fails here.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { loadPlan } from '../../src/config';
import { codecKeySources, KEY_BYTES, keyIdOf, loadCodec } from '../../src/security';
import { ensureCodecToken, writeMissingKeyFiles } from '../../src/stack/codec-files';

const ROOT = path.resolve(__dirname, '../..');
const CLOUD_PLAN = path.join(ROOT, 'examples/cloud-plan.yaml');
const mode = (file: string) => statSync(file).mode & 0o777;

describe('codec secrets of the local stack', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'cutover-codec-files-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('examples/cloud-plan.yaml encrypts with a key file beside it and a codec server behind a token that browsers sign in with', () => {
    const plan = loadPlan(CLOUD_PLAN);
    assert.deepEqual(plan.codec?.keys, [{ id: 'k1', file: path.join(ROOT, 'examples', '.cutover-keys', 'k1.key') }]);
    assert.equal(plan.codec?.current, 'k1');
    assert.equal(plan.codec?.server?.tokenEnv, 'CUTOVER_CODEC_TOKEN');
    assert.equal(plan.codec?.server?.includeCredentials, true);
    // The key file is generated, never committed.
    assert.match(readFileSync(path.join(ROOT, '.gitignore'), 'utf8'), /^\.cutover-keys\/$/m);
  });

  it('writes a missing key file (32 random bytes, base64; file 0600 in a new 0700 directory) that the codec loads', async () => {
    const file = path.join(dir, 'keys', 'k1.key');
    const config = { keys: [{ id: 'k1', file }], current: 'k1' };
    const written = writeMissingKeyFiles({ codec: config } as Parameters<typeof writeMissingKeyFiles>[0]);
    assert.deepEqual(written, [{ id: 'k1', file }]);
    assert.equal(mode(file), 0o600);
    assert.equal(mode(path.dirname(file)), 0o700);
    assert.equal(Buffer.from(readFileSync(file, 'utf8').trim(), 'base64').length, KEY_BYTES);
    const [sealed] = await loadCodec(config).encode([{ metadata: {}, data: Buffer.from('"acme"') }]);
    assert.equal(keyIdOf(sealed!), 'k1');
  });

  it('never overwrites an existing key file, resolves relative paths against the base directory, and skips env keys', () => {
    mkdirSync(path.join(dir, 'keys'));
    const existing = path.join(dir, 'keys', 'old.key');
    writeFileSync(existing, 'whatever the operator put here\n');
    const codec = {
      keys: [
        { id: 'old', file: 'keys/old.key' },
        { id: 'new', file: 'keys/new.key' },
        { id: 'env', env: 'SOME_CODEC_KEY' },
      ],
      current: 'new',
    };
    const written = writeMissingKeyFiles({ codec } as Parameters<typeof writeMissingKeyFiles>[0], dir);
    assert.deepEqual(written, [{ id: 'new', file: path.join(dir, 'keys', 'new.key') }]);
    assert.equal(readFileSync(existing, 'utf8'), 'whatever the operator put here\n');
    // A second run finds both and writes nothing.
    assert.deepEqual(writeMissingKeyFiles({ codec } as Parameters<typeof writeMissingKeyFiles>[0], dir), []);
  });

  it("keeps the codec server's token in a 0600 file and hands out the same one on the next run", () => {
    const file = path.join(dir, '.cutover', 'codec', 'token');
    const first = ensureCodecToken(file);
    assert.equal(first.created, true);
    assert.ok(first.token.length >= 32, 'long enough for the codec server (at least 16 characters)');
    assert.match(first.token, /^[A-Za-z0-9_-]+$/, 'nothing a shell or a form would alter');
    assert.equal(mode(file), 0o600);
    assert.equal(mode(path.dirname(file)), 0o700);
    assert.deepEqual(ensureCodecToken(file), { token: first.token, created: false });
  });

  it('names where each key comes from and which one is current, never the key', () => {
    const sources = codecKeySources(
      {
        keys: [
          { id: '2025-01', env: 'CUTOVER_CODEC_KEY_2025_01' },
          { id: '2025-07', file: 'secrets/codec.key' },
        ],
        current: '2025-07',
      },
      '/etc/cutover',
    );
    assert.deepEqual(sources, [
      { id: '2025-01', source: '$CUTOVER_CODEC_KEY_2025_01', current: false },
      { id: '2025-07', source: 'file /etc/cutover/secrets/codec.key', current: true },
    ]);
  });
});
