import assert from 'node:assert/strict';
import * as path from 'node:path';
import { assertReplays, historyFiles, loadHistory } from './replay-kit';

// Stored histories of both entity workflows (recorded by record-histories.ts from real runs) must
// replay on the current workflow code: a change that breaks determinism fails here, not in production.
const DIR = path.join(__dirname, 'histories');

describe('entity workflows: replay of stored histories', function () {
  this.timeout(120_000);
  const files = historyFiles(DIR);

  it('has stored histories of both workflow types', () => {
    const types = new Set(
      files.map((f) => {
        const h = loadHistory<{ events: { workflowExecutionStartedEventAttributes?: { workflowType?: { name?: string } } }[] }>(DIR, f);
        return h.events[0]?.workflowExecutionStartedEventAttributes?.workflowType?.name;
      }),
    );
    assert.deepEqual([...types].sort(), ['namespaceMigration', 'tenantMigration']);
  });

  it('replays every stored history without a nondeterminism error', async () => {
    await assertReplays(DIR, files);
  });
});
