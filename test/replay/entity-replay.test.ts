import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from '@temporalio/worker';
import { CONTROL_BUNDLE_OPTIONS } from '../../src/worker-options';

// Stored histories of both entity workflows (recorded by record-histories.ts from real runs) must
// replay on the current workflow code: a change that breaks determinism fails here, not in production.
const DIR = path.join(__dirname, 'histories');

describe('entity workflows: replay of stored histories', function () {
  this.timeout(120_000);
  const files = fs
    .readdirSync(DIR)
    .filter((f) => f.endsWith('.json'))
    .sort();

  it('has stored histories of both workflow types', () => {
    const types = new Set(
      files.map((f) => {
        const h = JSON.parse(fs.readFileSync(path.join(DIR, f), 'utf8')) as {
          events: { workflowExecutionStartedEventAttributes?: { workflowType?: { name?: string } } }[];
        };
        return h.events[0]?.workflowExecutionStartedEventAttributes?.workflowType?.name;
      }),
    );
    assert.deepEqual([...types].sort(), ['namespaceMigration', 'tenantMigration']);
  });

  it('replays every stored history without a nondeterminism error', async () => {
    const histories = files.map((f) => ({
      workflowId: f.replace(/\.json$/, ''),
      history: JSON.parse(fs.readFileSync(path.join(DIR, f), 'utf8')) as unknown,
    }));
    const results: { id: string; error?: unknown }[] = [];
    for await (const r of Worker.runReplayHistories(
      {
        workflowsPath: CONTROL_BUNDLE_OPTIONS.workflowsPath,
        interceptors: { workflowModules: CONTROL_BUNDLE_OPTIONS.workflowInterceptorModules },
      },
      histories,
    )) {
      results.push({ id: r.workflowId, error: r.error });
    }
    assert.equal(results.length, files.length);
    for (const r of results) assert.equal(r.error, undefined, `${r.id}: ${String(r.error)}`);
  });
});
