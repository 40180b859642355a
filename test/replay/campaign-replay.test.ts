import assert from 'node:assert/strict';
import * as path from 'node:path';
import { assertReplays, historyFiles, loadHistory } from './replay-kit';

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
  const files = historyFiles(DIR);
  const load = (f: string) => loadHistory<History>(DIR, f);

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
    await assertReplays(DIR, files);
  });
});
