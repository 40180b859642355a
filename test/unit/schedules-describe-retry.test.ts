/** describeRaw tries a read the server timed out or refused once more, and nothing else. */
import * as assert from 'node:assert/strict';
import { describeRaw } from '../../src/schedules/raw';
import type { ScheduleEndpoint } from '../../src/schedules/types';

/** An error shaped as the SDK's gRPC service errors (code, details, metadata). */
function grpcError(code: number, details: string): Error {
  return Object.assign(new Error(`${code} ${details}`), { code, details, metadata: {} });
}

/** An endpoint whose describeSchedule answers from `answers` in turn (an Error is thrown), counting calls. */
function endpoint(answers: unknown[]): { ep: ScheduleEndpoint; calls: () => number } {
  let n = 0;
  const describeSchedule = async () => {
    const a = answers[Math.min(n++, answers.length - 1)];
    if (a instanceof Error) throw a;
    return a;
  };
  return { ep: { namespace: 'ns', client: { workflowService: { describeSchedule } } } as unknown as ScheduleEndpoint, calls: () => n };
}

describe('schedules: a describe the server timed out', () => {
  it('is tried once more after DEADLINE_EXCEEDED or UNAVAILABLE', async () => {
    for (const code of [4, 14]) {
      const { ep, calls } = endpoint([grpcError(code, 'context deadline exceeded'), { conflictToken: new Uint8Array([1]) }]);
      assert.deepEqual(await describeRaw(ep, 's1'), { conflictToken: new Uint8Array([1]) });
      assert.equal(calls(), 2);
    }
  });

  it('fails on the second transient failure, and at once on any other error', async () => {
    const twice = endpoint([grpcError(4, 'context deadline exceeded')]);
    await assert.rejects(describeRaw(twice.ep, 's1'), /context deadline exceeded/);
    assert.equal(twice.calls(), 2);
    const denied = endpoint([grpcError(7, 'permission denied')]);
    await assert.rejects(describeRaw(denied.ep, 's1'), /permission denied/);
    assert.equal(denied.calls(), 1);
  });

  it('reads a missing schedule as undefined, without a retry', async () => {
    const missing = endpoint([grpcError(5, 'schedule not found')]);
    assert.equal(await describeRaw(missing.ep, 's1'), undefined);
    assert.equal(missing.calls(), 1);
  });
});
