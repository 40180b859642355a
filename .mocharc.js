// One mocha run for every layer: unit tests need no server, integration tests share the stack that the
// root hooks start once (test/setup/hooks.ts). --exit because native Temporal handles keep node alive.
// The spec list lives in scripts/test.js (npm test), which runs it as shards side by side: a spec here would
// be merged with the files given on the command line, so `npx mocha <one file>` would run everything.
module.exports = {
  require: ['tsx/cjs', 'test/setup/hooks.ts'],
  timeout: 60000,
  slow: 5000,
  exit: true,
  reporter: './test/reporter.js',
};
