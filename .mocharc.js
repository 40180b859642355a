// One mocha run for every layer: unit tests need no server, integration tests share the stack that the
// root hooks start once (test/setup/hooks.ts). --exit because native Temporal handles keep node alive.
module.exports = {
  require: ['tsx/cjs', 'test/setup/hooks.ts'],
  spec: ['test/unit/**/*.test.ts', 'test/integration/**/*.test.ts'],
  timeout: 60000,
  slow: 5000,
  exit: true,
  reporter: './test/reporter.js',
};
