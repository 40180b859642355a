'use strict';
// Mocha's spec reporter plus the plain closing line CI reads: "N passed, N failed".
// Before it, the slowest spec files with their wall time: CI has a 30-minute budget on two cores, and the
// file that eats it should be visible in every run's log, not found by bisecting.
const fs = require('fs');
const path = require('path');
const Mocha = require('mocha');
const { EVENT_RUN_END, EVENT_SUITE_BEGIN, EVENT_SUITE_END } = Mocha.Runner.constants;

const SLOWEST = 8;

class SpecWithSummary extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    const started = new Map(); // file -> ms at its first top-level suite
    const spent = new Map(); // file -> ms summed over its top-level suites
    runner.on(EVENT_SUITE_BEGIN, (suite) => {
      if (suite.file && suite.parent && suite.parent.root) started.set(suite, Date.now());
    });
    runner.on(EVENT_SUITE_END, (suite) => {
      const t0 = started.get(suite);
      if (t0 === undefined) return;
      const file = path.relative(process.cwd(), suite.file);
      spent.set(file, (spent.get(file) || 0) + Date.now() - t0);
    });
    runner.once(EVENT_RUN_END, () => {
      const { passes = 0, failures = 0, pending = 0 } = runner.stats || {};
      // Printed after the spec epilogue; pending (skipped) tests are listed so none hide.
      process.nextTick(() => {
        // Every file's wall time, for scripts/test.js (its summary over all shards, and test/timings.json).
        if (process.env.CUTOVER_TEST_TIMINGS) {
          fs.writeFileSync(process.env.CUTOVER_TEST_TIMINGS, `${JSON.stringify(Object.fromEntries(spent), null, 1)}\n`);
        }
        const slow = [...spent].sort((a, b) => b[1] - a[1]).slice(0, SLOWEST);
        if (slow.length > 1) {
          process.stdout.write(`\nslowest spec files:\n`);
          for (const [file, ms] of slow) process.stdout.write(`  ${(ms / 1000).toFixed(1).padStart(7)} s  ${file}\n`);
        }
        process.stdout.write(`\n${passes} passed, ${failures} failed${pending ? `, ${pending} skipped` : ''}\n`);
      });
    });
  }
}
module.exports = SpecWithSummary;
