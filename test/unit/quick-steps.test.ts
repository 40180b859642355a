/** The entity input's quick-step timing (`quickSteps`): optional, and refused below the retry policy's 1 s, naming the field. */
import { strict as assert } from 'node:assert';
import { validateUnitInput } from '../../src/domain/unit-input';

const base = {
  unit: { kind: 'namespace', namespace: 'payments' },
  sourceNamespace: 'payments',
  targetNamespace: 'payments',
  strategy: 'dual-workers',
  taskQueues: ['q'],
  percentSteps: [10],
  bakeMs: 0,
  drainDeadlineMs: 0,
  holdTimeoutMs: 0,
  drainPollMs: 1,
  stragglers: 'report',
  onGateFailure: 'rollback',
  advanceMode: 'auto',
  probe: { workflows: 0, minSuccess: 1 },
};
const fields = (quickSteps: unknown) => validateUnitInput({ ...base, quickSteps }, 'namespace').map((p) => p.field);

describe('entity input: quick-step timing', () => {
  it('is optional, and takes each bound alone', () => {
    assert.deepEqual(validateUnitInput(base, 'namespace'), []);
    assert.deepEqual(fields({ startToCloseMs: 3_000 }), []);
    assert.deepEqual(fields({ maxRetryIntervalMs: 1_000 }), []);
    assert.deepEqual(fields({ startToCloseMs: 60_000, maxRetryIntervalMs: 5_000 }), []);
  });

  it('refuses a bound under 1 s, a non-number and a non-object, naming the field', () => {
    assert.deepEqual(fields({ startToCloseMs: 500 }), ['quickSteps.startToCloseMs']);
    assert.deepEqual(fields({ maxRetryIntervalMs: '2s' }), ['quickSteps.maxRetryIntervalMs']);
    assert.deepEqual(fields('fast'), ['quickSteps']);
  });
});
