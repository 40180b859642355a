import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from '@temporalio/worker';
import { CONTROL_BUNDLE_OPTIONS } from '../../src/worker-options';

// Stored histories of the campaign workflow (recorded by record-campaign-histories.ts from real runs)
// must replay on the current workflow code: a change that breaks determinism fails here, not in a
// campaign that is running when a new worker version is deployed.
const DIR = path.join(__dirname, 'histories', 'campaign');

type History = {
  events: {
    eventType?: string;
    workflowExecutionStartedEventAttributes?: { workflowType?: { name?: string } };
    workflowExecutionSignaledEventAttributes?: { signalName?: string };
  }[];
};

describe('campaign workflow: replay of stored histories', function () {
  this.timeout(180_000);
  const files = fs
    .readdirSync(DIR)
    .filter((f) => f.endsWith('.json'))
    .sort();
  const load = (f: string) => JSON.parse(fs.readFileSync(path.join(DIR, f), 'utf8')) as History;

  it('has stored campaign histories that cover approvals, rollbacks, pause and resume, a drill and continue-as-new', () => {
    const histories = files.map(load);
    for (const h of histories) assert.equal(h.events[0]?.workflowExecutionStartedEventAttributes?.workflowType?.name, 'campaign');
    const signals = new Set(histories.flatMap((h) => h.events.map((e) => e.workflowExecutionSignaledEventAttributes?.signalName)));
    for (const s of ['approve', 'pause', 'resume', 'rollback', 'advance']) assert.ok(signals.has(s), `no stored history has a ${s} signal`);
    const ends = new Set(histories.map((h) => h.events[h.events.length - 1]?.eventType));
    assert.ok(ends.has('EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED'));
    assert.ok(ends.has('EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW'));
  });

  it('replays every stored history without a nondeterminism error', async () => {
    const histories = files.map((f) => ({ workflowId: f.replace(/\.json$/, ''), history: load(f) as unknown }));
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
