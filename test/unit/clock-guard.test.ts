/**
 * The clock guard's rule on activations as the SDK hands them to it: a new task processed live must
 * carry a later time than the task before; replayed history and queries pass untouched.
 */
import assert from 'node:assert/strict';
import { msNumberToTs } from '@temporalio/common/lib/time';
import type { ActivateInput, WorkflowInternalsInterceptor } from '@temporalio/workflow';
import { interceptors, STALE_CLOCK_MESSAGE } from '../../src/workflows/clock-guard';

type Activation = { historyLength?: number; ms?: number; replaying?: boolean; query?: boolean };

/** A fresh guard (one per run) and a function that feeds it one activation; true when it passed it on. */
function guard(): (a: Activation) => boolean {
  const g = interceptors().internals![0] as Required<WorkflowInternalsInterceptor>;
  return (a) => {
    let passed = false;
    const activation = {
      historyLength: a.historyLength,
      isReplaying: a.replaying ?? false,
      ...(a.ms !== undefined ? { timestamp: msNumberToTs(a.ms) } : {}), // a Long-seconds timestamp, as core sends it
      jobs: a.query ? [{ queryWorkflow: {} }] : [{ fireTimer: {} }],
    };
    g.activate({ activation, batchIndex: 0 } as unknown as ActivateInput, () => {
      passed = true;
    });
    return passed;
  };
}

describe('clock guard', () => {
  const T = Date.UTC(2026, 10, 28, 10, 0, 0);

  it('passes tasks whose time moves on, and several activations of one task at its time', () => {
    const feed = guard();
    assert.ok(feed({ historyLength: 3, ms: T }));
    assert.ok(feed({ historyLength: 3, ms: T }));
    assert.ok(feed({ historyLength: 8, ms: T + 40 }));
    assert.ok(feed({ historyLength: 14, ms: T + 2_000 }));
  });

  it('fails a live task that carries the time of the task before (a run loaded by a query)', () => {
    const feed = guard();
    // The query's replay of the history up to the task before.
    assert.ok(feed({ historyLength: 3, ms: T, replaying: true }));
    assert.ok(feed({ historyLength: 9, ms: T + 2_900, replaying: true }));
    assert.ok(feed({ query: true, historyLength: 9 }));
    // The next task, live, with the clock that did not move.
    assert.throws(
      () => feed({ historyLength: 15, ms: T + 2_900 }),
      (e: Error) => e.message.startsWith(STALE_CLOCK_MESSAGE) && e.message.includes('length 15'),
    );
    assert.throws(() => feed({ historyLength: 15, ms: T + 1_000 }), /stale workflow clock/);
  });

  it("leaves replayed history alone (its times are the history's) and ignores queries", () => {
    const feed = guard();
    assert.ok(feed({ historyLength: 9, ms: T + 1_000, replaying: true }));
    assert.ok(feed({ historyLength: 15, ms: T + 1_000, replaying: true }));
    assert.ok(feed({ query: true }));
    assert.ok(feed({ historyLength: 21, ms: T + 5_000 }));
  });
});
