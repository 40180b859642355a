/**
 * The README's first command in its short form: `npm run demo -- --quick` as a child process, on a
 * stack of its own (a dev server as the self-hosted source, a Cloud-shaped target with TLS and API keys,
 * Redis, Prometheus), the cutover worker, the sample application
 * under load and the example campaign. It must exit 0 — campaign completed, nothing lost, duplicated
 * or stranded — print that summary, tell its story without SDK log lines, doubled step prefixes or
 * links to a UI that is off, and leave no process and no run directory behind. The example plan encrypts:
 * the demo runs its codec server, shows that histories read raw hold no plaintext of an input, and never
 * prints the codec server's token or a key.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.join(__dirname, '..', '..');
const BIN = path.join(ROOT, 'bin', 'cutover.js');

/** PIDs of processes whose command line mentions `dir` (the demo's run directory). */
function processesUnder(dir: string): number[] {
  const out: number[] = [];
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      if (fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dir)) out.push(Number(pid));
    } catch {
      /* gone */
    }
  }
  return out;
}

describe('demo: npm run demo -- --quick', function () {
  this.timeout(15 * 60_000);
  this.slow(180_000);

  it('completes the example campaign under load with nothing lost, duplicated or stranded, and cleans up', async () => {
    const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'cutover-demo-'));
    const startedAt = Date.now();
    let passed = false;
    try {
      const child = spawn(process.execPath, [BIN, 'demo', '--quick'], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
      // The token and key files are read as soon as the demo names them, while they exist (the run directory
      // goes at the end), so the output can be searched for them.
      const seen = new Set<string>();
      child.stderr.on('data', (b: Buffer) => {
        stderr += b.toString();
        const m = /codec server .*\(file (\S+)\); keys k1 \(current\) from file (\S+);/.exec(stderr);
        if (m && seen.size === 0) for (const f of [m[1]!, m[2]!]) seen.add(fs.readFileSync(f, 'utf8').trim());
      });
      const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
      const tail = `\n--- stdout\n${stdout}\n--- stderr (last 4000)\n${stderr.slice(-4000)}`;
      assert.equal(code, 0, tail);
      assert.match(stdout, /^campaign completed in \d+ s$/m, tail);
      assert.match(stdout, /^lost 0 · duplicated 0 · stranded 0/m, tail);
      const acknowledged = /^starts acknowledged (\d+): (\d+) ran on the source, (\d+) on the target$/m.exec(stdout);
      assert.ok(acknowledged, tail);
      // The load really ran on both sides of the move.
      assert.ok(Number(acknowledged[2]) > 0 && Number(acknowledged[3]) > 0, tail);
      for (const unit of ['namespace/payments', 'tenant/detections/internal-e2e', 'tenant/detections/acme', 'tenant/detections/globex']) {
        assert.match(stdout, new RegExp(`reconcile ${unit.replace(/\//g, '\\/')}\\s+clean`), tail);
      }
      // The target was Cloud-shaped (TLS, API key, suffixed namespaces), and no key was ever printed (a JWT starts `eyJ`).
      assert.match(
        stderr,
        /cluster cloud +127\.0\.0\.1:\d+ +Cloud-shaped: TLS, API key in \$CUTOVER_CLOUD_API_KEY, namespaces \*\.acct1/,
        tail,
      );
      assert.match(stderr, /polling cloud\/cutover\.acct1 task queue cutover/, tail);
      assert.doesNotMatch(`${stdout}\n${stderr}`, /eyJ[\w-]{8,}\.[\w-]{8,}/, 'an API key (JWT) in the output');
      // Payloads are encrypted: the codec server ran (its token in a variable, never shown), and histories read
      // raw hold no plaintext of the campaign's input nor of an application run's, which the codec opens.
      const codecLine = new RegExp(
        String.raw`codec server +http://127\.0\.0\.1:\d+ +started: bearer token in \$CUTOVER_CODEC_TOKEN \(file (\S+)\); ` +
          String.raw`keys k1 \(current\) from file (\S+);`,
      ).exec(stderr);
      assert.ok(codecLine, tail);
      const sealed = String.raw`; [1-9]\d* payloads sealed with key k1; the codec opens them`;
      const rawCheck = (id: string, input: string) =>
        new RegExp(String.raw`\[check\] raw history of ${id} without the codec: no plaintext of ${input}${sealed}`);
      assert.match(
        stderr,
        rawCheck(String.raw`cutover/campaign/legacy-to-cloud`, String.raw`the campaign's input \(actor "demo-operator"\)`),
        tail,
      );
      assert.match(stderr, rawCheck(String.raw`\S+-scan-\d+`, String.raw`scanAccount's input \("\S+/account-\d+"\)`), tail);
      assert.match(
        stdout,
        /^encrypted: raw histories read without the codec hold no plaintext of the campaign's input .*; sealed with key k1$/m,
        tail,
      );
      assert.match(stderr, /\[codec\] codec server stopped/, tail);
      // The demo's token and key files live in its run directory while it runs; their contents never reach the output.
      for (const file of [codecLine[1]!, codecLine[2]!]) assert.ok(file.startsWith(path.join(cwd, '.cutover')), tail);
      for (const secret of [...seen.values()]) assert.ok(!`${stdout}\n${stderr}`.includes(secret), 'a codec secret in the output');
      assert.ok(seen.size >= 2, `read the token and the key while the demo ran (${seen.size})`);
      // The story was told: the two-person approvals of ring2 and the campaign's end.
      assert.match(stderr, /approved by alice \(1 of 2\)/);
      assert.match(stderr, /approved by bob \(2 of 2\)/);
      assert.match(stderr, /campaign completed/);
      // The story reads cleanly. The SDK's own log (e.g. a worker without activities) goes to a file, not here.
      const output = `${stderr}\n${stdout}`;
      assert.doesNotMatch(output, /No activities registered|^\S+ \[(TRACE|DEBUG|INFO|WARN|ERROR)\] /m, tail);
      // Each story line names its step once (no `step 2: step 2: canary 50% reached`).
      assert.doesNotMatch(output, /^.*\bstep (\d+)\b.*\bstep \1\b.*$/m, tail);
      assert.match(stderr, /step \d+\/\d+, ring0-synthetic \(namespace\/payments\): canary 50% reached/, tail);
      // --quick runs no UI, and stops everything at the end: no link to a UI page, nor to anything stopped.
      assert.doesNotMatch(output, /\/namespaces\/|\bUI\b/, tail);
      assert.doesNotMatch(stdout, /https?:\/\//, tail);
      // Everything it started is gone, and so is its run directory.
      const runDir = path.join(cwd, '.cutover');
      assert.deepEqual(processesUnder(runDir), []);
      assert.deepEqual(fs.existsSync(runDir) ? fs.readdirSync(runDir) : [], []);
      passed = true;
      // A demo that took far longer than it does alone (~2 min) shows where, from its own time-stamped story.
      const tookS = Math.round((Date.now() - startedAt) / 1000);
      if (tookS > 240) process.stderr.write(`demo test: the demo took ${tookS} s; its story:\n${stderr.slice(-12_000)}\n`);
    } finally {
      // A failed demo keeps its run directory (logs, plan, credentials): kept here too, so it can be read.
      if (passed) fs.rmSync(cwd, { recursive: true, force: true });
      else process.stderr.write(`demo test: kept ${cwd} (the demo's run directory and logs)\n`);
    }
  });
});
