/**
 * Bounds on what signals put into the workflows' state (src/domain/bounds.ts): text clipped with a marker,
 * lists kept within a count and a byte budget with a count of what they dropped, command IDs remembered
 * with their command's digest. Then a flood of commands through the pure state functions of both workflows.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { emptyAuditLog } from '../../src/audit/chain';
import { checkCampaignCommand } from '../../src/campaign/commands';
import { buildCampaignInput } from '../../src/campaign/input';
import { campaignPayloadSizes, campaignSizeProblem, CAMPAIGN_PAYLOAD_MAX_BYTES } from '../../src/campaign/input-size';
import { campaignContext } from '../../src/campaign/planner';
import { initialCampaignState, recordCommand, recordUnknownSignal } from '../../src/campaign/state';
import { unitViewOf } from '../../src/campaign/driver';
import { campaignStatus } from '../../src/campaign/view';
import { loadPlan } from '../../src/config';
import {
  clipPayload,
  clipText,
  HISTORY_BOUND,
  jsonBytes,
  pushBounded,
  REJECTED_BOUND,
  REMEMBERED_COMMAND_IDS,
  SIGNAL_NAME_MAX_BYTES,
  SIGNAL_STATE_MAX_BYTES,
  SIGNAL_TEXT_MAX_BYTES,
  utf8Length,
} from '../../src/domain/bounds';
import { initialState, type MigrationState } from '../../src/domain/migration';
import { commandDigest, commandKey, priorUse, rememberCommand } from '../../src/operators/command-ids';
import { applyCommand, enterPhase, refuseUnknownSignal } from '../../src/workflows/unit-state';
import { unitStatus } from '../../src/workflows/unit-view';
import { unitInput } from './fixtures/unit-input';

const T = Date.parse('2026-12-01T10:00:00.000Z');
const at = (i: number) => new Date(T + i).toISOString();
/** 10 KB of text, as the flood's reasons. */
const LONG = 'why '.repeat(2560);

describe('bounds: clipping', () => {
  it('keeps text that fits, and clips the rest within the bound with a marker naming the size', () => {
    assert.equal(clipText('short', 16), 'short');
    const c = clipText(LONG, SIGNAL_TEXT_MAX_BYTES);
    assert.ok(utf8Length(c) <= SIGNAL_TEXT_MAX_BYTES, `${utf8Length(c)} bytes`);
    assert.ok(c.startsWith('why why'));
    assert.match(c, / …\[clipped: 10240 bytes\]$/);
  });

  it('never splits a character, counting UTF-8 bytes', () => {
    for (const ch of ['é', '€', '😀']) {
      const c = clipText(ch.repeat(1000), 100);
      assert.ok(utf8Length(c) <= 100, `${ch}: ${utf8Length(c)}`);
      const kept = c.slice(0, c.indexOf(' …[clipped'));
      assert.equal(kept, ch.repeat([...kept].length), `${ch} kept whole`);
    }
  });

  it("clips a payload's actor, command ID and reason; the fields a command is checked against stay exact", () => {
    let n = 0;
    const long = 'r'.repeat(300);
    const p = clipPayload({ actor: long, commandId: long, reason: LONG, ring: long, step: 3 }, () => n++) as Record<string, unknown>;
    assert.equal(n, 3);
    assert.ok(utf8Length(p.actor as string) <= SIGNAL_NAME_MAX_BYTES);
    assert.ok(utf8Length(p.commandId as string) <= SIGNAL_NAME_MAX_BYTES);
    assert.ok(utf8Length(p.reason as string) <= SIGNAL_TEXT_MAX_BYTES);
    assert.equal(p.ring, long);
    assert.equal(p.step, 3);
    assert.equal(clipPayload('please'), 'please');
  });
});

describe('bounds: lists', () => {
  it('keeps the newest entries within the count, counting what it dropped', () => {
    const list: number[] = [];
    let dropped = 0;
    for (let i = 0; i < 50; i++) dropped += pushBounded(list, i, { items: 10, bytes: 1 << 20 });
    assert.deepEqual(list, [40, 41, 42, 43, 44, 45, 46, 47, 48, 49]);
    assert.equal(dropped, 40);
  });

  it('keeps the entries within the byte budget, and always the newest one', () => {
    const list: string[] = [];
    for (let i = 0; i < 20; i++) pushBounded(list, 'x'.repeat(100), { items: 100, bytes: 1000 });
    assert.ok(jsonBytes(list) <= 1000 + list.length + 1, `${jsonBytes(list)} bytes`);
    assert.equal(list.length, 9);
    pushBounded(list, 'y'.repeat(5000), { items: 100, bytes: 1000 });
    assert.deepEqual(list, ['y'.repeat(5000)], 'a single entry over the budget stays (the newest)');
  });

  it('drops the entry `pick` chooses', () => {
    const list = ['first', 'a', 'b'];
    pushBounded(list, 'c', { items: 3, bytes: 1 << 20 }, () => 1);
    assert.deepEqual(list, ['first', 'b', 'c']);
  });
});

describe('bounds: remembered command IDs', () => {
  it('tells a retry from another command with the same ID', () => {
    const s = { seenCommandIds: [] as string[] };
    const d = commandDigest('pause', { actor: 'a', commandId: 'c1', reason: 'r' });
    rememberCommand(s, 'c1', d);
    assert.equal(priorUse(s, 'c1', d), 'retry');
    assert.equal(priorUse(s, 'c1', commandDigest('pause', { actor: 'a', commandId: 'c1', reason: 'other' })), 'other');
    assert.equal(priorUse(s, 'c1', commandDigest('resume', { actor: 'a', commandId: 'c1', reason: 'r' })), 'other');
    assert.equal(priorUse(s, 'c2', d), 'unseen');
    // The signature envelope is not the command: a re-signed retry has the first one's digest.
    assert.equal(commandDigest('pause', { actor: 'a', signature: { body: 'x', sig: 'y' } }), commandDigest('pause', { actor: 'a' }));
  });

  it('remembers a long ID by its digest, and forgets the oldest beyond the bound', () => {
    const long = 'i'.repeat(10_000);
    assert.match(commandKey(long), /^sha256:[0-9a-f]{64}$/);
    assert.equal(commandKey('short'), 'short');
    const s = { seenCommandIds: [] as string[] };
    let forgotten = 0;
    for (let i = 0; i < REMEMBERED_COMMAND_IDS + 20; i++) forgotten += rememberCommand(s, `${long}-${i}`, 'd');
    assert.equal(forgotten, 20);
    assert.equal(s.seenCommandIds.length, REMEMBERED_COMMAND_IDS);
    assert.equal(priorUse(s, `${long}-0`, 'd'), 'unseen', 'the oldest is forgotten');
    assert.equal(priorUse(s, `${long}-${REMEMBERED_COMMAND_IDS + 19}`, 'd'), 'retry');
  });

  it('lines digests up with IDs remembered before digests were kept (their reuse counts as a retry)', () => {
    const s: { seenCommandIds: string[]; seenCommandDigests?: string[] } = { seenCommandIds: ['old-1', 'old-2'] };
    rememberCommand(s, 'new', 'dn');
    assert.deepEqual(s.seenCommandDigests, ['', '', 'dn']);
    assert.equal(priorUse(s, 'old-1', 'anything'), 'retry');
    assert.equal(priorUse(s, 'new', 'other'), 'other');
  });
});

/** A unit in manual mode, waiting in `pending`, with an audit log (as units start today). */
function unitState(): MigrationState {
  const s = initialState();
  s.audit = emptyAuditLog('cutover/tenant/detections/acme');
  s.history.push({ phase: 'pending', at: at(0), actor: 'cutover', reason: 'migration started' });
  return s;
}

describe('bounds: a flood of commands on an entity', () => {
  it('5,000 commands with 10 KB reasons keep the state and the status within their bounds, counting what was dropped', () => {
    const s = unitState();
    const opts = { idOptional: true, bounded: true };
    const outcomes: Record<string, number> = {};
    enterPhase(s, 'preflight', 'advance', at(1)); // a phase change early on: kept while notes are dropped
    for (let i = 0; i < 5000; i++) {
      const kind = i % 5;
      const [name, payload] =
        kind === 0
          ? (['pause', { actor: `op-${i}`, commandId: `p-${i}`, reason: LONG }] as const)
          : kind === 1
            ? (['resume', { actor: `op-${i}`, commandId: `r-${i}`, reason: LONG }] as const)
            : kind === 2
              ? (['approve', { actor: `op-${i}`, commandId: `a-${i}`, reason: LONG }] as const) // nothing awaits approval: refused
              : kind === 3
                ? (['pause', { actor: `op-${i - 3}`, commandId: `p-${i - 3}`, reason: LONG }] as const) // a retry: silent
                : (['rollback', { actor: `op-${i}`, commandId: `r-${i - 3}`, reason: LONG }] as const); // a reused ID
      const out = applyCommand(s, name, payload, at(10 + i), opts);
      outcomes[out.outcome] = (outcomes[out.outcome] ?? 0) + 1;
    }
    refuseUnknownSignal(s, 'advnce', { actor: 'typo', commandId: 'x-1', reason: LONG }, at(6000));
    assert.deepEqual(outcomes, { applied: 2000, rejected: 2000, repeat: 1000 });

    const stateBytes = jsonBytes(s);
    assert.ok(stateBytes <= SIGNAL_STATE_MAX_BYTES + 16 * 1024, `state ${stateBytes} bytes`);
    assert.ok(s.history.length <= HISTORY_BOUND.items && jsonBytes(s.history) <= HISTORY_BOUND.bytes + s.history.length);
    assert.ok(s.rejected.length <= REJECTED_BOUND.items && jsonBytes(s.rejected) <= REJECTED_BOUND.bytes + s.rejected.length);
    // Every line and refusal written is counted: kept plus dropped.
    const t = s.truncated!;
    assert.equal(s.history.length + t.history!, 2 + 2000);
    assert.equal(s.rejected.length + t.rejected!, 2001);
    assert.equal(t.commandIds, 3000 - REMEMBERED_COMMAND_IDS);
    assert.ok(t.clipped! >= 4000, `clipped ${t.clipped}`);
    // The first line and the phase change stay; the newest lines are there.
    assert.equal(s.history[0]!.reason, 'migration started');
    assert.equal(s.history[1]!.phase, 'preflight');
    assert.match(s.history.at(-1)!.reason ?? '', /^resume by op-4996: why why .* …\[clipped: 10240 bytes\]$/);
    assert.ok(s.history.every((h) => utf8Length(h.reason ?? '') <= SIGNAL_TEXT_MAX_BYTES + 64));

    const refusals = (code: string) => s.rejected.filter((r) => r.code === code);
    assert.ok(refusals('reused-command-id').length > 0);
    assert.match(refusals('reused-command-id').at(-1)!.reason, /^commandId: r-4996 was already used for another command/);
    assert.equal(refusals('unknown-signal').length, 1);
    assert.equal(refusals('unknown-signal')[0]!.command, 'advnce');
    assert.match(refusals('unknown-signal')[0]!.reason, /advance, pause, resume, rollback, approve/);

    const status = unitStatus({ kind: 'tenant', input: unitInput(), state: s, unit: 'tenant/detections/acme', workflowId: 'w' });
    const statusBytes = jsonBytes(status);
    assert.ok(statusBytes <= SIGNAL_STATE_MAX_BYTES, `status ${statusBytes} bytes`);
    assert.equal(status.truncated?.history, t.history);
    assert.equal(status.truncated?.auditRecords, s.audit!.seq - s.audit!.records.length);
    // A campaign derives command IDs from the lines written in all, so they never repeat once lines are dropped.
    assert.equal(unitViewOf('u', 'w', status).historyLength, 2 + 2000);
  });

  it('before the bounds (a replayed run): a reused ID is a silent repeat and an oversized reason is still clipped', () => {
    const s = unitState();
    applyCommand(s, 'pause', { actor: 'a', commandId: 'c1' }, at(1), { idOptional: true });
    const again = applyCommand(s, 'resume', { actor: 'a', commandId: 'c1', reason: LONG }, at(2), { idOptional: true });
    assert.equal(again.outcome, 'repeat');
    assert.equal(s.rejected.length, 0);
    applyCommand(s, 'resume', { actor: 'a', commandId: 'c2', reason: LONG }, at(3), { idOptional: true });
    assert.ok(utf8Length(s.history.at(-1)!.reason!) <= SIGNAL_TEXT_MAX_BYTES + 64);
  });
});

function campaignCtx() {
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
  return campaignContext(buildCampaignInput(plan, { actor: 'alice', pollMs: 500, approvalTtlMs: 60_000 }), 'cutover/campaign/p');
}

describe('bounds: a flood of commands on a campaign', () => {
  it('5,000 commands with 10 KB reasons keep the state and the status within their bounds, counting what was dropped', () => {
    const c = campaignCtx();
    const s = initialCampaignState();
    s.audit = emptyAuditLog(c.workflowId);
    const auth = { workflowId: c.workflowId, runIds: ['r1'], now: T };
    const kinds: Record<string, number> = {};
    for (let i = 0; i < 5000; i++) {
      const kind = i % 4;
      const [name, payload] =
        kind === 0
          ? (['pause', { actor: `op-${i}`, commandId: `p-${i}`, reason: LONG }] as const)
          : kind === 1
            ? (['resume', { actor: `op-${i}`, commandId: `r-${i}`, reason: LONG }] as const)
            : kind === 2
              ? (['pause', { actor: `op-${i - 2}`, commandId: `p-${i - 2}`, reason: LONG }] as const) // a retry: silent
              : (['advance', { actor: `op-${i}`, commandId: `p-${i - 3}`, reason: LONG }] as const); // a reused ID
      const v = checkCampaignCommand(name, s, payload, { now: T + i, idOptional: true, auth, step: 1, bounded: true });
      kinds[v.kind === 'refuse' ? v.code : v.kind] = (kinds[v.kind === 'refuse' ? v.code : v.kind] ?? 0) + 1;
      if (v.kind !== 'repeat') recordCommand(c, s, v, T + i);
    }
    recordUnknownSignal(s, 'advnce', { actor: 'typo', reason: LONG }, T + 6000);
    assert.deepEqual(kinds, { accept: 2500, repeat: 1250, 'reused-command-id': 1250 });

    const stateBytes = jsonBytes(s);
    assert.ok(stateBytes <= SIGNAL_STATE_MAX_BYTES + 16 * 1024, `state ${stateBytes} bytes`);
    const t = s.truncated!;
    assert.equal(s.rejected.length + t.rejected!, 1251);
    assert.equal(s.history.length + t.history!, 2500);
    assert.equal(s.rejected.at(-1)!.code, 'unknown-signal');
    assert.equal(s.rejected.at(-1)!.command, 'advnce');
    const status = campaignStatus(c, s, 100);
    assert.ok(jsonBytes(status) <= SIGNAL_STATE_MAX_BYTES, `status ${jsonBytes(status)} bytes`);
    assert.equal(status.truncated?.rejected, t.rejected);
  });

  it('refuses a command ID reused for another command only on code with the bounds; a retry stays silent', () => {
    const s = initialCampaignState();
    const auth = { workflowId: 'w', runIds: ['r1'], now: T };
    const o = { now: T, idOptional: true, auth, step: 1 };
    const first = checkCampaignCommand('pause', s, { actor: 'a', commandId: 'c1' }, { ...o, bounded: true });
    assert.equal(first.kind, 'accept');
    recordCommand(campaignCtx(), s, first as Exclude<typeof first, { kind: 'repeat' }>, T);
    assert.equal(checkCampaignCommand('pause', s, { actor: 'a', commandId: 'c1' }, { ...o, bounded: true }).kind, 'repeat');
    const reused = checkCampaignCommand('resume', s, { actor: 'a', commandId: 'c1' }, { ...o, bounded: true });
    assert.equal(reused.kind === 'refuse' ? reused.code : reused.kind, 'reused-command-id');
    assert.equal(checkCampaignCommand('resume', s, { actor: 'a', commandId: 'c1' }, o).kind, 'repeat', 'a replayed run keeps its repeat');
  });
});

/** A plan of `tenants` tenant units in one namespace, each tenant ID `idBytes` long, batches of 100. */
function bigPlan(tenants: number, idBytes: number) {
  const ids = Array.from({ length: tenants }, (_, i) => `t${String(i).padStart(6, '0')}-${'x'.repeat(idBytes)}`);
  return {
    name: 'big',
    clusters: { legacy: { address: '127.0.0.1:7233' }, cloud: { address: '127.0.0.1:7234' } },
    source: 'legacy',
    target: 'cloud',
    control: { cluster: 'cloud' },
    namespaces: { det: { strategy: 'dual-workers', taskQueues: ['q'], tenants: { selector: { workflowIdPrefix: '{tenant}-' }, ids } } },
    rings: [{ name: 'r0', units: ids.map((t) => `tenant/det/${t}`), batchSize: 100 }],
  };
}

describe('bounds: the campaign input a plan needs', () => {
  it('fits for a plan of 1,000 tenants; not for one whose input and state outgrow the payload limit', () => {
    const small = loadPlan(bigPlan(1000, 8));
    assert.equal(campaignSizeProblem(small), undefined);
    const sizes = campaignPayloadSizes(buildCampaignInput(small, { actor: 'a' }));
    assert.ok(sizes.input + sizes.state < CAMPAIGN_PAYLOAD_MAX_BYTES && sizes.status < CAMPAIGN_PAYLOAD_MAX_BYTES);
    // An input under 2 MiB that, carried with the state through continue-as-new, would not fit.
    const big = loadPlan(bigPlan(3000, 70));
    const s = campaignPayloadSizes(buildCampaignInput(big, { actor: 'a' }));
    assert.ok(s.input < 2 * 1024 * 1024 && s.input + s.state > CAMPAIGN_PAYLOAD_MAX_BYTES, JSON.stringify(s));
    const problem = campaignSizeProblem(big);
    assert.equal(problem?.path, 'rings');
    assert.match(problem?.message ?? '', /limit\.blobSize\.error.*the input may be at most 1\.\d\d MiB/);
    assert.match(problem?.hint ?? '', /split the units into several plans/);
  });

  it('`cutover validate` refuses a plan larger than its campaign can carry: exit 2, naming the field, the limit and the fix', function () {
    this.timeout(60_000);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cutover-bounds-'));
    try {
      const file = path.join(dir, 'big.json');
      fs.writeFileSync(file, JSON.stringify(bigPlan(3000, 70)));
      const bin = path.join(__dirname, '..', '..', 'bin', 'cutover.js');
      const r = spawnSync(process.execPath, [bin, 'validate', file], { encoding: 'utf8', timeout: 60_000 });
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, /rings: the campaign of this plan \(3000 units\) does not fit Temporal's 2\.00 MiB payload limit/);
      assert.match(r.stderr, /fix: split the units into several plans/);
      assert.equal(r.stdout, '');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
