/**
 * The workflow bundle cache (src/workflow-bundle-cache.ts) with the SDK's real bundler: a bundle is made
 * once per set of inputs and read back after; a change to a source or an option makes a new one; a cache
 * that cannot be written still yields the bundle; old bundles are pruned.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { BundleOptions } from '@temporalio/worker';
import { bundleKey, cachedWorkflowBundle } from '../../src/workflow-bundle-cache';

const quiet = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };

describe('workflow bundle cache', function () {
  this.timeout(120_000);
  let dir: string;
  let cache: string;
  let workflows: string;
  const options = (): BundleOptions => ({ workflowsPath: workflows, logger: quiet });
  const write = (word: string) => fs.writeFileSync(workflows, `export async function tiny(): Promise<string> { return '${word}'; }\n`);

  beforeEach(() => {
    // Inside the project (a gitignored folder): the bundler resolves @temporalio/workflow from the workflow's folder.
    dir = fs.mkdtempSync(path.join(__dirname, '..', '..', '.scratch-bundle-cache-'));
    cache = path.join(dir, 'cache');
    fs.mkdirSync(path.join(dir, 'wf'));
    workflows = path.join(dir, 'wf', 'tiny.ts');
    write('first');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('bundles once, then reads the same bundle back from its file', async () => {
    const a = await cachedWorkflowBundle(options(), cache);
    assert.equal(a.hit, false);
    assert.ok(a.file && fs.existsSync(a.file), 'the bundle is kept as a file');
    assert.match(a.bundle.code, /first/);
    const b = await cachedWorkflowBundle(options(), cache);
    assert.equal(b.hit, true);
    assert.equal(b.file, a.file);
    assert.equal(b.bundle.code, a.bundle.code);
  });

  it('a changed source or option names another bundle, which holds the change', async () => {
    const a = await cachedWorkflowBundle(options(), cache);
    // A file the workflow does not import yet, beside it, counts too: the key reads the whole folder.
    fs.writeFileSync(path.join(dir, 'wf', 'helper.ts'), 'export const x = 1;\n');
    assert.notEqual(bundleKey(options()), path.basename(a.file!, '.js'));
    write('second');
    const b = await cachedWorkflowBundle(options(), cache);
    assert.equal(b.hit, false);
    assert.notEqual(b.file, a.file);
    assert.match(b.bundle.code, /second/);
    assert.doesNotMatch(b.bundle.code, /'first'/);
    assert.notEqual(bundleKey({ ...options(), ignoreModules: ['fs'] }), bundleKey(options()));
    // The logger is not an input of the bundle.
    assert.equal(bundleKey({ ...options(), logger: undefined }), bundleKey(options()));
  });

  it('a source listed but gone when read (a temporary file another process removed) is not a source', () => {
    const before = bundleKey(options());
    // A link to nothing is listed like a source and cannot be read: as a file removed right after the listing.
    fs.symlinkSync(path.join(dir, 'wf', 'removed.ts'), path.join(dir, 'wf', 'probe.ts'));
    assert.equal(bundleKey(options()), before);
  });

  it('still bundles where the cache cannot be written', async () => {
    const blocked = path.join(dir, 'not-a-folder');
    fs.writeFileSync(blocked, '');
    const r = await cachedWorkflowBundle(options(), path.join(blocked, 'cache'));
    assert.equal(r.hit, false);
    assert.equal(r.file, undefined);
    assert.match(r.bundle.code, /first/);
  });

  it('keeps the 12 most recently used bundles', async () => {
    fs.mkdirSync(cache, { recursive: true });
    const old = new Date(Date.now() - 3600_000);
    for (let i = 0; i < 14; i++) {
      const f = path.join(cache, `old-${String(i).padStart(2, '0')}.js`);
      fs.writeFileSync(f, '');
      fs.utimesSync(f, old, new Date(old.getTime() + i * 1000));
    }
    const r = await cachedWorkflowBundle(options(), cache);
    const left = fs.readdirSync(cache).filter((f) => f.endsWith('.js'));
    assert.equal(left.length, 12);
    assert.ok(left.includes(path.basename(r.file!)), 'the new bundle is kept');
    assert.ok(!left.includes('old-00.js') && !left.includes('old-02.js'), 'the oldest went');
    assert.ok(left.includes('old-13.js'));
  });
});
