/**
 * Mocha root hooks: start the shared test stack once per run, stop it after the last test.
 * Unit tests run in the same process and simply do not use it.
 */
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { startTestStack, stopTestStack } from '../harness';

// Before anything touches the SDK's runtime singleton: workers' INFO lines would drown the report.
Runtime.install({ logger: new DefaultLogger('WARN') });

export const mochaHooks = {
  async beforeAll(this: Mocha.Context) {
    // The first run on a fresh machine may build the temporal CLI (minutes, with progress on stderr).
    this.timeout(15 * 60_000);
    await startTestStack();
  },
  async afterAll(this: Mocha.Context) {
    this.timeout(60_000);
    await stopTestStack();
  },
};
