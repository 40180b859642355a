import assert from 'node:assert/strict';
import { customAttributes, handoffRequestId } from '../../src/activities/handoff';
import { parseHandoff, type HandoffRecord } from '../../src/routing/store';

const done: HandoffRecord = { from: 'source', to: 'target', fromRunId: 'a', toRunId: 'b', state: 'done', at: 1 };
const payload = { data: new Uint8Array([1]) };

describe('handoff records and starts', () => {
  it('reads a valid record, moving or done', () => {
    assert.deepEqual(parseHandoff(JSON.stringify(done)), done);
    const moving = { from: 'target', to: 'source', fromRunId: 'b', state: 'moving', at: 2 };
    assert.deepEqual(parseHandoff(JSON.stringify(moving)), moving);
  });

  it('never follows an invalid one: not JSON, same sides, done without the new run, unknown state', () => {
    for (const bad of [
      'not json',
      JSON.stringify({ ...done, to: 'source' }),
      JSON.stringify({ ...done, toRunId: undefined }),
      JSON.stringify({ ...done, state: 'maybe' }),
      JSON.stringify({ ...done, from: 'elsewhere' }),
      JSON.stringify({ ...done, at: 0 }),
    ])
      assert.equal(parseHandoff(bad), undefined, bad);
    assert.equal(parseHandoff(null), undefined);
  });

  it('copies only the run’s own search attributes: those the server reserves would refuse the start', () => {
    const got = customAttributes({ Tenant: payload, TemporalChangeVersion: payload, BuildIds: payload, TemporalScheduledById: payload });
    assert.deepEqual(Object.keys(got), ['Tenant']);
    assert.deepEqual(customAttributes(undefined), {});
  });

  it('derives one start request ID per old run, so the server answers a repeated start with the same run', () => {
    assert.equal(handoffRequestId('r1'), handoffRequestId('r1'));
    assert.notEqual(handoffRequestId('r1'), handoffRequestId('r2'));
  });
});
