import assert from 'node:assert/strict';
import { isIdlessSafeCommand, parseCommandPayload, safeCommandNoOp } from '../../src/domain/commands';

// The operator-command rules the entity and the campaign workflows share.
describe('operator commands: payload and safe commands', () => {
  it('only pause and rollback without a commandId are ID-less safe commands', () => {
    assert.equal(isIdlessSafeCommand('rollback', { actor: 'a', reason: 'r' }), true);
    assert.equal(isIdlessSafeCommand('pause', { actor: 'a', commandId: '' }), true);
    assert.equal(isIdlessSafeCommand('pause', { actor: 'a', commandId: 'c1' }), false);
    for (const name of ['advance', 'resume', 'approve']) assert.equal(isIdlessSafeCommand(name, { actor: 'a' }), false, name);
    assert.equal(isIdlessSafeCommand('pause', 'please'), false);
  });

  const table: { name: string; command: string; payload: unknown; idOptional: boolean; field?: string; commandId?: string }[] = [
    { name: 'not an object', command: 'pause', payload: 'please', idOptional: true, field: 'payload' },
    { name: 'no actor', command: 'rollback', payload: { reason: 'r' }, idOptional: true, field: 'actor' },
    { name: 'blank actor', command: 'pause', payload: { actor: '  ' }, idOptional: true, field: 'actor' },
    { name: 'forward command without an ID', command: 'advance', payload: { actor: 'a' }, idOptional: false, field: 'commandId' },
    { name: 'safe command without an ID where required', command: 'pause', payload: { actor: 'a' }, idOptional: false, field: 'commandId' },
    { name: 'safe command without an ID', command: 'pause', payload: { actor: 'a' }, idOptional: true },
    { name: 'safe command with an ID', command: 'rollback', payload: { actor: 'a', commandId: 'c1' }, idOptional: true, commandId: 'c1' },
    { name: 'an ID that is not a string', command: 'pause', payload: { actor: 'a', commandId: 3 }, idOptional: true, field: 'commandId' },
    { name: 'a reason that is not a string', command: 'pause', payload: { actor: 'a', reason: 3 }, idOptional: true, field: 'reason' },
  ];
  for (const c of table) {
    it(`parse: ${c.name}`, () => {
      const r = parseCommandPayload(c.command, c.payload, { idOptional: c.idOptional });
      if (c.field) {
        assert.equal(r.ok, false, JSON.stringify(r));
        if (!r.ok) {
          assert.equal(r.field, c.field);
          assert.ok(r.reason.startsWith(`${c.field}: `), r.reason);
        }
      } else {
        assert.equal(r.ok, true, JSON.stringify(r));
        if (r.ok) assert.equal(r.command.commandId, c.commandId);
      }
    });
  }

  it('a forward command without an ID is told which commands may leave it out', () => {
    const r = parseCommandPayload('advance', { actor: 'a' }, { idOptional: false });
    assert.ok(!r.ok && r.reason.includes('only pause and rollback may leave it out'), JSON.stringify(r));
  });

  it('dedupes a safe command by what it is', () => {
    assert.equal(safeCommandNoOp('pause', { pausedBy: 'alice', rollingBack: false }), 'already paused by alice');
    assert.equal(safeCommandNoOp('pause', { rollingBack: true }), undefined);
    assert.match(safeCommandNoOp('rollback', { rollingBack: true }) ?? '', /^already rolling back/);
    assert.equal(safeCommandNoOp('rollback', { pausedBy: 'alice', rollingBack: false }), undefined);
  });
});
