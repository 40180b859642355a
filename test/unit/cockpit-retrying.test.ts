/**
 * The cockpit's "retrying" line: a unit whose step keeps failing (a cluster it needs unreachable) says so,
 * from the server's pending activity, since the status query only sees the step once it ends.
 */
import { strict as assert } from 'node:assert';
import { msNumberToTs } from '@temporalio/common/lib/time';
import { detailLines, retryingStep, type UnitRow } from '../../src/cockpit';

describe('cockpit: a step being retried', () => {
  it('is none while the first attempt runs', () => {
    assert.equal(retryingStep([{ activityType: { name: 'reconcile' }, attempt: 1 }]), undefined);
    assert.equal(retryingStep(undefined), undefined);
  });

  it('names the activity, the attempt, the last failure with its causes, and the next attempt', () => {
    const step = retryingStep([
      {
        activityType: { name: 'reconcile' },
        attempt: 3,
        lastFailure: { message: 'Failed to list workflows', cause: { message: '14 UNAVAILABLE: connect ECONNREFUSED 127.0.0.1:4242' } },
        nextAttemptScheduleTime: msNumberToTs(Date.parse('2026-11-25T09:00:02Z')),
      },
    ]);
    assert.deepEqual(step, {
      activity: 'reconcile',
      attempt: 3,
      lastFailure: 'Failed to list workflows ← 14 UNAVAILABLE: connect ECONNREFUSED 127.0.0.1:4242',
      nextAttemptAt: '2026-11-25T09:00:02.000Z',
    });
    const row = { unit: 'tenant/d/t1', retrying: step, workflow: 'unreachable', error: 'status query failed' } as UnitRow;
    assert.deepEqual(detailLines(row), [
      'status unavailable: status query failed',
      'retrying reconcile (attempt 3): Failed to list workflows ← 14 UNAVAILABLE: connect ECONNREFUSED 127.0.0.1:4242',
    ]);
  });

  it('takes a timed-out attempt as a failure too', () => {
    const step = retryingStep([
      { activityType: { name: 'countOpen' }, attempt: 2, lastFailure: { message: 'activity StartToClose timeout' } },
    ]);
    assert.equal(step?.lastFailure, 'activity StartToClose timeout');
  });
});
