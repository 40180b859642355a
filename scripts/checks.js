#!/usr/bin/env node
'use strict';
// The static checks before the tests — lint, format and typecheck — side by side: each is one process
// mostly on one core, so on a 2-core CI machine together they take about half as long as in a row.
// Each one's output is printed whole once it ends (never interleaved); any failure fails the run.
const { spawn } = require('node:child_process');
const path = require('node:path');

const bin = (name) => path.join(__dirname, '..', 'node_modules', '.bin', name);
const checks = [
  ['lint', bin('eslint'), ['.']],
  ['format', bin('prettier'), ['--check', '.']],
  ['typecheck', bin('tsc'), ['--noEmit']],
];

function run([name, cmd, args]) {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: path.join(__dirname, '..'), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', (err) => resolve({ name, ok: false, out: `${out}${err.message}\n`, ms: Date.now() - started }));
    child.on('close', (code) => resolve({ name, ok: code === 0, out, ms: Date.now() - started }));
  });
}

Promise.all(checks.map(run)).then((results) => {
  for (const r of results) {
    process.stdout.write(`\n[${r.name}] ${r.ok ? 'ok' : 'FAILED'} in ${(r.ms / 1000).toFixed(1)} s\n${r.out}`);
  }
  process.exitCode = results.every((r) => r.ok) ? 0 : 1;
});
