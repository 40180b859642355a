import assert from 'node:assert/strict';
import {
  approve,
  ApprovalRefusedError,
  consume,
  isGranted,
  parseApprove,
  requestApproval,
  type ApprovalRequest,
  type ApproveCommand,
} from '../../src/approvals/two-person';

const T0 = 1_000_000;
const binding = { campaign: 'c1', ring: 'ring2', step: 7, epoch: 3 };
const open = (): ApprovalRequest =>
  requestApproval({ binding, requestedBy: 'alice', now: T0, ttlMs: 60_000, evidence: { gates: { errors: 0.1 } } });
const cmd = (over: Partial<ApproveCommand> = {}): ApproveCommand => ({
  actor: 'bob',
  commandId: 'c-1',
  ring: 'ring2',
  step: 7,
  epoch: 3,
  ...over,
});

function refusal(outcome: ReturnType<typeof approve>) {
  return outcome.ok ? 'ok' : outcome.refusal;
}

describe('two-person approval', () => {
  it('two distinct approvers other than the requester grant it, with the evidence recorded', () => {
    const first = approve(open(), cmd(), T0 + 1);
    assert.ok(first.ok);
    assert.equal(first.granted, false);
    const second = approve(first.request, cmd({ actor: 'carol', commandId: 'c-2' }), T0 + 2);
    assert.ok(second.ok);
    assert.equal(second.granted, true);
    assert.equal(isGranted(second.request), true);
    assert.deepEqual(
      second.request.approvals.map((a) => a.actor),
      ['bob', 'carol'],
    );
    assert.deepEqual(second.request.approvals[1]!.evidence, { gates: { errors: 0.1 } });
  });

  it('does not mutate the request it is given', () => {
    const r = open();
    approve(r, cmd(), T0 + 1);
    assert.equal(r.approvals.length, 0);
  });

  const refusals: { name: string; request?: () => ApprovalRequest | undefined; command: ApproveCommand; now?: number; want: string }[] = [
    { name: 'self-approval is refused', command: cmd({ actor: 'alice' }), want: 'self-approval' },
    { name: 'an expired request is refused', command: cmd(), now: T0 + 60_000, want: 'expired' },
    { name: 'another ring is refused', command: cmd({ ring: 'ring1' }), want: 'wrong-binding' },
    { name: 'another step is refused', command: cmd({ step: 8 }), want: 'wrong-binding' },
    { name: 'a stale epoch is refused', command: cmd({ epoch: 2 }), want: 'wrong-binding' },
    { name: 'another campaign is refused', command: cmd({ campaign: 'c2' }), want: 'wrong-binding' },
    { name: 'nothing pending is refused', request: () => undefined, command: cmd(), want: 'nothing-to-approve' },
  ];
  for (const c of refusals) {
    it(c.name, () => assert.equal(refusal(approve(c.request ? c.request() : open(), c.command, c.now ?? T0 + 1)), c.want));
  }

  it('the same approver twice is refused', () => {
    const first = approve(open(), cmd(), T0 + 1);
    assert.ok(first.ok);
    assert.equal(refusal(approve(first.request, cmd({ commandId: 'c-2' }), T0 + 2)), 'duplicate-approver');
  });

  it('is single-use: consumed once, then refused', () => {
    let r = open();
    for (const [actor, id] of [
      ['bob', 'a'],
      ['carol', 'b'],
    ] as const) {
      const o = approve(r, cmd({ actor, commandId: id }), T0 + 1);
      assert.ok(o.ok);
      r = o.request;
    }
    const used = consume(r, binding, T0 + 3);
    assert.equal(isGranted(used), false);
    assert.equal(refusal(approve(used, cmd({ actor: 'dave', commandId: 'c' }), T0 + 4)), 'already-used');
    assert.throws(
      () => consume(used, binding, T0 + 5),
      (e: unknown) => e instanceof ApprovalRefusedError && e.refusal === 'already-used',
    );
  });

  it('cannot be consumed before it is granted or for another step', () => {
    assert.throws(
      () => consume(open(), binding, T0),
      (e: unknown) => e instanceof ApprovalRefusedError && e.refusal === 'nothing-to-approve',
    );
    assert.throws(
      () => consume(open(), { ...binding, step: 8 }, T0),
      (e: unknown) => e instanceof ApprovalRefusedError && e.refusal === 'wrong-binding',
    );
  });

  const inputs: { payload: unknown; field: string }[] = [
    { payload: null, field: 'payload' },
    { payload: { commandId: 'x', ring: 'r', step: 1, epoch: 0 }, field: 'actor' },
    { payload: { actor: ' ', commandId: 'x', ring: 'r', step: 1, epoch: 0 }, field: 'actor' },
    { payload: { actor: 'a', ring: 'r', step: 1, epoch: 0 }, field: 'commandId' },
    { payload: { actor: 'a', commandId: 'x', step: 1, epoch: 0 }, field: 'ring' },
    { payload: { actor: 'a', commandId: 'x', ring: 'r', step: '1', epoch: 0 }, field: 'step' },
    { payload: { actor: 'a', commandId: 'x', ring: 'r', step: 1 }, field: 'epoch' },
    { payload: { actor: 'a', commandId: 'x', ring: 'r', step: 1, epoch: 0, reason: 5 }, field: 'reason' },
  ];
  for (const c of inputs) {
    it(`bad input names ${c.field}: ${JSON.stringify(c.payload)}`, () => {
      const p = parseApprove(c.payload);
      assert.equal(p.ok, false);
      if (!p.ok) {
        assert.equal(p.refusal, 'invalid-input');
        assert.equal(p.field, c.field);
        assert.ok(p.hint.length > 0);
      }
    });
  }

  it('parses a good payload', () => {
    const p = parseApprove({ actor: ' bob ', commandId: 'x', ring: 'r', step: 1, epoch: 0, reason: 'looks good' });
    assert.ok(p.ok);
    if (p.ok) assert.deepEqual(p.command, { actor: 'bob', commandId: 'x', ring: 'r', step: 1, epoch: 0, reason: 'looks good' });
  });
});
