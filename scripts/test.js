#!/usr/bin/env node
'use strict';
// Runs the test suite as N mocha processes side by side, each with its own test stack (dev servers on
// free ports, its own Redis, Prometheus and run directory), then prints one summary: the slowest spec
// files of all shards and the plain closing line CI reads, "N passed, N failed".
//
// Why: one mocha process is one Node thread, and the integration tests spend much of their time waiting
// (for a server to apply a change, a timer, a drain), so a 2-core machine sits half idle under one. Two
// shards keep both cores busy. Files are dealt to the shards by their measured time (test/timings.json;
// longest first, each to the shard with the least so far), so the shards end close together.
//
//   node scripts/test.js                          every spec; CUTOVER_TEST_SHARDS shards (default 2 on ≥ 2 cores)
//   node scripts/test.js --shards 1               one mocha process, as `mocha <specs>` runs them
//   node scripts/test.js test/unit/x.test.ts …    only these files
//   node scripts/test.js --record-timings         also rewrites test/timings.json from this run
//   node scripts/test.js --dry-run                prints how the files would be dealt to the shards, runs none
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');
const LAYERS = ['test/unit', 'test/replay', 'test/integration'];
const TIMINGS = path.join(ROOT, 'test', 'timings.json');
const SLOWEST = 8;
const SUMMARY = /^(\d+) passed, (\d+) failed(?:, (\d+) skipped)?$/;

function usage(message) {
  process.stderr.write(
    `scripts/test.js: ${message}\nusage: node scripts/test.js [--shards N] [--record-timings] [--dry-run] [spec files…]\n`,
  );
  process.exit(2);
}

function parseArgs(argv) {
  let shards;
  let record = false;
  let dryRun = false;
  const files = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--shards') shards = argv[++i];
    else if (arg.startsWith('--shards=')) shards = arg.slice('--shards='.length);
    else if (arg === '--record-timings') record = true;
    else if (arg === '--dry-run') dryRun = true;
    else if (arg.startsWith('-')) usage(`unknown option ${arg}; mocha's options live in .mocharc.js (or run mocha directly on one file)`);
    else files.push(arg);
  }
  shards ??= process.env.CUTOVER_TEST_SHARDS ?? (os.availableParallelism() >= 2 ? '2' : '1');
  if (!/^[1-9]$/.test(String(shards))) usage(`--shards (or CUTOVER_TEST_SHARDS) must be a whole number from 1 to 9, got "${shards}"`);
  for (const f of files) if (!fs.existsSync(path.resolve(ROOT, f))) usage(`spec file ${f} does not exist`);
  return { shards: Number(shards), record, dryRun, files };
}

/** Every *.test.ts under the three layers, in mocha's order (layer, then path). */
function allSpecs() {
  const out = [];
  const walk = (dir) => {
    const entries = fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name));
    for (const entry of entries) {
      const rel = `${dir}/${entry.name}`;
      if (entry.isDirectory()) walk(rel);
      else if (entry.name.endsWith('.test.ts')) out.push(rel);
    }
  };
  for (const layer of LAYERS) walk(layer);
  return out;
}

function readTimings() {
  try {
    return JSON.parse(fs.readFileSync(TIMINGS, 'utf8'));
  } catch {
    return {};
  }
}

// Files that ask the harness for a self-hosted or Cloud-shaped cluster (a temporal-server each, started on
// first use in a shard and kept until its end): dealt to one shard together, so one shard pays for them.
const EXTRA_SERVERS = /\.(selfHosted|cloudShaped)\(/;

/**
 * Deals files to `n` shards, longest first, each to the shard with the least time so far. A file with no
 * recorded time counts as the median of the recorded ones (a new integration file is rarely instant).
 * The files that use the extra clusters go as one (see EXTRA_SERVERS).
 */
function deal(files, n, timings) {
  const known = files
    .map((f) => timings[f])
    .filter((t) => typeof t === 'number')
    .sort((a, b) => a - b);
  const fallback = known.length ? known[Math.floor(known.length / 2)] : 1;
  const weight = (f) => (typeof timings[f] === 'number' ? timings[f] : fallback);
  const extra = files.filter((f) => f.startsWith('test/integration/') && EXTRA_SERVERS.test(fs.readFileSync(path.join(ROOT, f), 'utf8')));
  const items = [...(extra.length ? [extra] : []), ...files.filter((f) => !extra.includes(f)).map((f) => [f])].map((group) => ({
    files: group,
    seconds: group.reduce((sum, f) => sum + weight(f), 0),
  }));
  const shards = Array.from({ length: n }, () => ({ files: [], seconds: 0 }));
  for (const item of items.sort((a, b) => b.seconds - a.seconds)) {
    const least = shards.reduce((a, b) => (b.seconds < a.seconds ? b : a));
    least.files.push(...item.files);
    least.seconds += item.seconds;
  }
  // Within a shard, mocha's usual order: unit, replay, integration (a broken unit fails fast).
  const order = new Map(files.map((f, i) => [f, i]));
  for (const s of shards) s.files.sort((a, b) => order.get(a) - order.get(b));
  return shards.filter((s) => s.files.length > 0);
}

const MOCHA = require.resolve('mocha/bin/mocha.js', { paths: [ROOT] });
const children = new Set();

/** Runs one shard; its lines go out as they come, whole, prefixed with `[k] ` when there are several. */
function runShard(index, shard, count, tmp) {
  const timingsFile = path.join(tmp, `timings-${index}.json`);
  const prefix = count > 1 ? `[${index}] ` : '';
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [MOCHA, ...shard.files], {
      cwd: ROOT,
      env: { ...process.env, CUTOVER_TEST_TIMINGS: timingsFile },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(child);
    let summary;
    const pipe = (stream, out, isStdout) => {
      let pending = '';
      stream.on('data', (chunk) => {
        pending += chunk;
        const lines = pending.split('\n');
        pending = lines.pop();
        for (const line of lines) {
          const m = isStdout ? SUMMARY.exec(line.trim()) : null;
          if (m) summary = m;
          out.write(`${prefix}${line}\n`);
        }
      });
      stream.on('end', () => pending && out.write(`${prefix}${pending}\n`));
    };
    pipe(child.stdout, process.stdout, true);
    pipe(child.stderr, process.stderr, false);
    child.on('close', (code, signal) => {
      children.delete(child);
      let timings = {};
      try {
        timings = JSON.parse(fs.readFileSync(timingsFile, 'utf8'));
      } catch {
        // a shard that died before its end wrote none
      }
      resolve({
        index,
        code,
        signal,
        seconds: (Date.now() - started) / 1000,
        passed: summary ? Number(summary[1]) : 0,
        failed: summary ? Number(summary[2]) : 0,
        skipped: summary && summary[3] ? Number(summary[3]) : 0,
        summarized: Boolean(summary),
        timings,
      });
    });
  });
}

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    // Each mocha stops its own stack on the way out (the root hooks' afterAll, then process exit).
    for (const child of children) child.kill(sig);
    process.exitCode = 130;
  });
}

async function main() {
  const { shards: wanted, record, dryRun, files: given } = parseArgs(process.argv.slice(2));
  const files = given.length ? given : allSpecs();
  const shards = deal(files, Math.min(wanted, files.length), readTimings());
  if (dryRun) {
    for (const [i, s] of shards.entries())
      process.stdout.write(
        `[${i + 1}] ${s.files.length} files, ~${Math.round(s.seconds)} s as last measured\n${s.files.map((f) => `  ${f}\n`).join('')}`,
      );
    return;
  }
  // Every shard's stack would resolve the binaries, and on a fresh machine build them, at the same moment: each
  // shard its own Go build of the same packages. One `dev build` first builds them once (under a second when done).
  if (shards.length > 1 && shards.some((s) => s.files.some((f) => f.startsWith('test/integration/')))) {
    const built = await new Promise((resolve) => {
      const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'cutover.js'), 'dev', 'build'], { cwd: ROOT, stdio: 'inherit' });
      children.add(child);
      child.on('error', () => resolve(false));
      child.on('close', (code) => {
        children.delete(child);
        resolve(code === 0);
      });
    });
    if (!built) {
      process.stdout.write('\n`cutover dev build` could not resolve or build the binaries the tests need (above)\n0 passed, 1 failed\n');
      process.exitCode = 1;
      return;
    }
  }
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cutover-shards-'));
  if (shards.length > 1) {
    process.stdout.write(
      `${shards.length} shards side by side, each with its own test stack (lines prefixed [shard]):\n` +
        shards.map((s, i) => `  [${i + 1}] ${s.files.length} files, ~${Math.round(s.seconds)} s as last measured\n`).join(''),
    );
  }
  const results = await Promise.all(shards.map((s, i) => runShard(i + 1, s, shards.length, tmp)));
  fs.rmSync(tmp, { recursive: true, force: true });

  const timings = Object.assign({}, ...results.map((r) => r.timings));
  if (record) {
    const seconds = Object.entries(timings)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([f, ms]) => [f, Math.round(ms / 100) / 10]);
    fs.writeFileSync(TIMINGS, `${JSON.stringify(Object.fromEntries(seconds), null, 1)}\n`);
  }
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  for (const r of results) {
    passed += r.passed;
    failed += r.failed;
    skipped += r.skipped;
    // A shard that ended without its summary (a crash, a hook that threw) is a failure its counts miss.
    if (!r.summarized || (r.code !== 0 && r.failed === 0)) {
      failed += 1;
      process.stdout.write(`\nshard ${r.index} ended without a clean summary (${r.signal ?? `exit ${r.code}`}): counted as a failure\n`);
    }
  }
  if (shards.length > 1) {
    const slow = Object.entries(timings)
      .sort((a, b) => b[1] - a[1])
      .slice(0, SLOWEST);
    process.stdout.write(`\nslowest spec files (all shards):\n`);
    for (const [file, ms] of slow) process.stdout.write(`  ${(ms / 1000).toFixed(1).padStart(7)} s  ${file}\n`);
    process.stdout.write(`shards took ${results.map((r) => `[${r.index}] ${r.seconds.toFixed(0)} s`).join(', ')}\n`);
  }
  if (shards.length > 1 || results.some((r) => !r.summarized)) {
    process.stdout.write(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
  }
  if (failed > 0 || results.some((r) => r.code !== 0)) process.exitCode = 1;
}

main().catch((err) => {
  process.stderr.write(`scripts/test.js: ${err.stack ?? err}\n`);
  process.exitCode = 1;
});
