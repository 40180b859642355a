/**
 * Mocha root hooks: start the shared test stack once per run, stop it after the last test.
 * Unit tests run in the same process and simply do not use it.
 */
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { startTestStack, stopTestStack } from '../harness';

// Before anything touches the SDK's runtime singleton: workers' INFO lines would drown the report, and
// so would the warning every activity-less worker (probe and application workers) prints at start.
const QUIET = ['No activities registered'];
Runtime.install({
  logger: new DefaultLogger('WARN', (entry) => {
    if (QUIET.some((q) => entry.message.startsWith(q))) return;
    const at = new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString();
    let meta = '';
    try {
      meta =
        entry.meta && Object.keys(entry.meta).length
          ? ` ${JSON.stringify(entry.meta, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))}`
          : '';
    } catch {
      meta = ' (meta not printable)';
    }
    process.stderr.write(`${at} [${entry.level}] ${entry.message}${meta}\n`);
  }),
});

export const mochaHooks = {
  async beforeAll(this: Mocha.Context) {
    // The first run on a fresh machine may build the temporal CLI and Prometheus (minutes each on a busy
    // machine, with progress on stderr); the bound only catches a hung build.
    this.timeout(45 * 60_000);
    await startTestStack();
  },
  async afterAll(this: Mocha.Context) {
    this.timeout(60_000);
    await stopTestStack();
  },
};
