/**
 * The campaign's pause and rollback without a command ID (an operator in the Temporal UI, in an emergency):
 * accepted where the workflow allows it, deduplicated by what they are; forward commands still need an ID.
 */
import assert from 'node:assert/strict';
import { checkCommand } from '../../src/campaign/commands';
import { initialCampaignState, recordCommand } from '../../src/campaign/state';
import type { CampaignState } from '../../src/campaign/types';
import { campaignContext } from '../../src/campaign/planner';
import { buildCampaignInput } from '../../src/campaign/input';
import { loadPlan } from '../../src/config';

const T = Date.parse('2026-12-01T10:00:00.000Z');

function ctx() {
  const plan = loadPlan({
    name: 'p',
    clusters: { legacy: { address: '127.0.0.1:7233' }, cloud: { address: '127.0.0.1:7234' } },
    source: 'legacy',
    target: 'cloud',
    control: { cluster: 'cloud', namespace: 'cutover', taskQueue: 'cutover' },
    redis: { url: 'redis://127.0.0.1:6379' },
    namespaces: { det: { strategy: 'dual-workers', taskQueues: ['q'] } },
    rings: [{ name: 'r0', units: ['namespace/det'] }],
  });
  return campaignContext(
    buildCampaignInput(plan, { actor: 'alice', drill: false, pollMs: 500, approvalTtlMs: 60_000 }),
    'cutover/campaign/p',
  );
}

function state(over: Partial<CampaignState> = {}): CampaignState {
  return { ...initialCampaignState(), startedAt: '2026-12-01T09:00:00.000Z', ...over };
}

describe('campaign: pause and rollback without a command ID', () => {
  it('are refused where the workflow does not allow it (a run that refused them before keeps refusing)', () => {
    const v = checkCommand('rollback', state(), { actor: 'oncall', reason: 'emergency' }, false);
    assert.equal(v.kind, 'refuse');
    assert.match(v.kind === 'refuse' ? v.reason : '', /^commandId:/);
  });

  it('a rollback with actor and reason is accepted, then a second one is a recorded no-op', () => {
    const c = ctx();
    const s = state();
    const first = checkCommand('rollback', s, { actor: 'oncall', reason: 'emergency' }, true);
    assert.equal(first.kind, 'accept');
    assert.equal(first.kind === 'accept' ? first.command.commandId : 'x', undefined);
    recordCommand(c, s, first as Exclude<typeof first, { kind: 'repeat' }>, T);
    assert.ok(s.rollback, 'the rollback is pending');
    const second = checkCommand('rollback', s, { actor: 'oncall2', reason: 'again' }, true);
    assert.equal(second.kind, 'no-op');
    recordCommand(c, s, second as Exclude<typeof second, { kind: 'repeat' }>, T + 1);
    assert.equal(s.rejected.length, 0, 'a no-op is not a refusal');
    assert.match(s.history.at(-1)!.event, /^no-op: rollback by oncall2: again \(already rolling back/);
  });

  it('a pause is accepted, a second one is a no-op naming who paused', () => {
    const s = state();
    const first = checkCommand('pause', s, { actor: 'oncall' }, true);
    assert.equal(first.kind, 'accept');
    recordCommand(ctx(), s, first as Exclude<typeof first, { kind: 'repeat' }>, T);
    const second = checkCommand('pause', s, { actor: 'bob' }, true);
    assert.equal(second.kind, 'no-op');
    assert.match(second.kind === 'no-op' ? second.line : '', /already paused by oncall/);
  });

  it('still needs an actor, and a rollback still needs a reason', () => {
    const noActor = checkCommand('pause', state(), { reason: 'x' }, true);
    assert.match(noActor.kind === 'refuse' ? noActor.reason : '', /^actor:/);
    const noReason = checkCommand('rollback', state(), { actor: 'oncall' }, true);
    assert.match(noReason.kind === 'refuse' ? noReason.reason : '', /^reason:/);
  });

  it('a pause with a command ID keeps its ID-based behaviour: refused while already paused', () => {
    const s = state({ paused: { actor: 'oncall', at: '2026-12-01T09:30:00.000Z' } });
    const v = checkCommand('pause', s, { actor: 'bob', commandId: 'c-1' }, true);
    assert.equal(v.kind, 'refuse');
  });
});
