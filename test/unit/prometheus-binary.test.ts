/**
 * The order in which prometheus and promtool are found: environment path → PATH → project cache →
 * `go install` into the cache → an error naming every way. Fake binaries are shell scripts that print a
 * version; a fake `go` on PATH records its arguments and "builds" such a script, so no real build runs.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  findPrometheusTool,
  PROMETHEUS_VERSION,
  prometheusVersion,
  PrometheusUnavailableError,
  resolvePrometheusTool,
} from '../../src/stack/prometheus-binary';

function script(file: string, body: string): string {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return file;
}

/** A fake tool printing `<name>, version <v> (...)` like the real ones. */
function fakeTool(file: string, version: string): string {
  return script(file, `echo "${path.basename(file)}, version ${version} (branch: fake)"`);
}

/**
 * A fake `go` on PATH: `go env GOVERSION` prints `goVersion`; `go install` appends its arguments to
 * calls.log and writes a tool printing the version given by the -X ldflag into $GOBIN (or exits 1).
 */
function fakeGo(dir: string, opts: { goVersion?: string; fail?: boolean } = {}): { calls: () => string[] } {
  const log = path.join(dir, 'calls.log');
  script(
    path.join(dir, 'go'),
    [
      `if [ "$1" = env ]; then echo go${opts.goVersion ?? '1.26.8'}; exit 0; fi`,
      `echo "$@ GOBIN=$GOBIN CGO_ENABLED=$CGO_ENABLED" >> ${log}`,
      opts.fail ? 'echo "compile error" >&2; exit 1' : '',
      'for a in "$@"; do pkg="$a"; done',
      'name="${pkg##*/}"; name="${name%@*}"',
      `v=$(echo "$@" | /bin/sed -n 's/.*version.Version=\\([0-9.]*\\).*/\\1/p')`,
      `printf '#!/bin/sh\\necho "%s, version %s (branch: built)"\\n' "$name" "$v" > "$GOBIN/$name"`,
      '/bin/chmod +x "$GOBIN/$name"',
    ].join('\n'),
  );
  return { calls: () => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8').trim().split('\n') : []) };
}

describe('prometheus and promtool: where they come from', () => {
  let root: string;
  let pathDir: string;
  let cacheDir: string;
  let lines: string[];
  const opts = (env: NodeJS.ProcessEnv = {}) => ({ env: { PATH: pathDir, ...env }, cacheDir, onProgress: (l: string) => lines.push(l) });

  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'prom-bin-'));
    pathDir = path.join(root, 'path');
    cacheDir = path.join(root, 'cache');
    fs.mkdirSync(pathDir);
    lines = [];
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it('PROMETHEUS_BIN wins over PATH and the cache', async () => {
    const own = fakeTool(path.join(root, 'own', 'prometheus'), '3.1.0');
    fakeTool(path.join(pathDir, 'prometheus'), '3.2.0');
    fakeTool(path.join(cacheDir, 'bin', 'prometheus'), PROMETHEUS_VERSION);
    assert.equal(await resolvePrometheusTool('prometheus', opts({ PROMETHEUS_BIN: own })), own);
  });

  it('an environment path that does not run is an error naming the variable, never a fallback', async () => {
    fakeTool(path.join(pathDir, 'promtool'), '3.2.0');
    await assert.rejects(
      resolvePrometheusTool('promtool', opts({ PROMTOOL_BIN: path.join(root, 'missing', 'promtool') })),
      (err: unknown) => err instanceof PrometheusUnavailableError && /PROMTOOL_BIN=.*does not run/.test(err.message),
    );
  });

  it('each tool reads its own variable: PROMETHEUS_BIN does not name promtool', async () => {
    const own = fakeTool(path.join(root, 'own', 'prometheus'), '3.1.0');
    const onPath = fakeTool(path.join(pathDir, 'promtool'), '2.42.0');
    assert.equal(await resolvePrometheusTool('promtool', opts({ PROMETHEUS_BIN: own })), onPath);
  });

  it('a recent enough binary on PATH comes before the cache', async () => {
    const onPath = fakeTool(path.join(pathDir, 'prometheus'), '2.42.0');
    fakeTool(path.join(cacheDir, 'bin', 'prometheus'), PROMETHEUS_VERSION);
    assert.equal(await resolvePrometheusTool('prometheus', opts()), onPath);
  });

  it('a too old binary on PATH is passed over, saying so, for the cached one', async () => {
    fakeTool(path.join(pathDir, 'prometheus'), '2.31.2');
    const cached = fakeTool(path.join(cacheDir, 'bin', 'prometheus'), PROMETHEUS_VERSION);
    assert.equal(await resolvePrometheusTool('prometheus', opts()), cached);
    assert.ok(
      lines.some((l) => /ignoring .*prometheus \(version 2\.31\.2, need ≥ 2\.42\.0\)/.test(l)),
      lines.join('\n'),
    );
  });

  it('with nothing at hand, go install builds the pinned release into the cache, once', async () => {
    const go = fakeGo(pathDir);
    assert.equal(findPrometheusTool('promtool', opts()), undefined);
    const built = await resolvePrometheusTool('promtool', opts());
    assert.equal(built, path.join(cacheDir, 'bin', 'promtool'));
    assert.equal(prometheusVersion(built), PROMETHEUS_VERSION);
    const calls = go.calls();
    assert.equal(calls.length, 1);
    assert.match(
      calls[0]!,
      /^install -v -ldflags .*version\.Version=3\.16\.0 github\.com\/prometheus\/prometheus\/cmd\/promtool@v0\.316\.0 /,
    );
    assert.match(calls[0]!, /CGO_ENABLED=0/);
    assert.ok(
      lines.some((l) => l.startsWith('building github.com/prometheus/prometheus/cmd/promtool@v0.316.0')),
      lines.join('\n'),
    );
    // No temporary GOBIN is left beside the binary.
    assert.deepEqual(fs.readdirSync(path.join(cacheDir, 'bin')), ['promtool']);
    assert.equal(await resolvePrometheusTool('promtool', opts()), built);
    assert.equal(go.calls().length, 1);
  });

  it('a failed build leaves nothing in the cache and names every way to provide the tool', async () => {
    fakeGo(pathDir, { fail: true });
    await assert.rejects(resolvePrometheusTool('prometheus', opts()), (err: unknown) => {
      assert.ok(err instanceof PrometheusUnavailableError);
      assert.match(err.message, /go install github\.com\/prometheus\/prometheus\/cmd\/prometheus@v0\.316\.0 failed/);
      assert.match(err.message, /PROMETHEUS_BIN=/);
      return true;
    });
    assert.deepEqual(fs.readdirSync(path.join(cacheDir, 'bin')), []);
  });

  it('without Go (or with one too old to build it) the error names the variable, PATH and Go', async () => {
    for (const setup of [() => undefined, () => fakeGo(pathDir, { goVersion: '1.22.3' })]) {
      setup();
      await assert.rejects(resolvePrometheusTool('promtool', opts()), (err: unknown) => {
        assert.ok(err instanceof PrometheusUnavailableError);
        assert.match(err.message, /^no promtool found/);
        assert.match(err.message, /PROMTOOL_BIN=\/path\/to\/promtool/);
        assert.match(err.message, /a promtool ≥ 2\.42\.0 on PATH/);
        assert.match(err.message, /Go ≥ 1\.26\.7 on PATH \(found: (none|1\.22\.3)\)/);
        return true;
      });
    }
    assert.equal(fs.existsSync(path.join(cacheDir, 'bin', 'promtool')), false);
  });
});
