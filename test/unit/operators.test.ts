import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { approve, requestApproval } from '../../src/approvals/two-person';
import { appendAudit, emptyAuditLog, mirrorGraceLeft, verifyChain, type AuditRecord } from '../../src/audit/chain';
import { checkCampaignCommand } from '../../src/campaign/commands';
import { initialCampaignState } from '../../src/campaign/state';
import { validatePlan } from '../../src/config';
import { initialState } from '../../src/domain/migration';
import { loadOperatorKey, newOperatorKey, OperatorKeyError, type OperatorSecret } from '../../src/operators/keys';
import { authorize } from '../../src/operators/policy';
import { canonicalJson, digestOf, verifySigned, type OperatorKey } from '../../src/operators/signing';
import { applyBookkeeping, applyCommand } from '../../src/workflows/unit-state';
import { unitInput } from './fixtures/unit-input';

const WF = 'cutover/tenant/detections/acme';
const RUN = 'run-1';
const NOW = Date.parse('2026-12-01T10:00:00Z');

function keys(names: string[]): Record<string, OperatorSecret> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cutover-unit-keys-'));
  return Object.fromEntries(names.map((n) => [n, loadOperatorKey(newOperatorKey({ name: n, dir }).keyFile)]));
}

const k = keys(['alice', 'bob', 'worker']);
const operators: OperatorKey[] = [
  { name: 'alice', publicKey: k.alice!.publicKey, roles: ['operator', 'approver'] },
  { name: 'bob', publicKey: k.bob!.publicKey, roles: ['approver'] },
  { name: 'worker', publicKey: k.worker!.publicKey, roles: ['controller'] },
];

function signed(
  signer: OperatorSecret,
  over: { command?: string; runId?: string; args?: Record<string, unknown>; expiresAt?: number } = {},
) {
  return {
    actor: signer.name,
    commandId: `c-${Math.random()}`,
    signature: signer.sign({
      command: over.command ?? 'advance',
      commandId: `c-${Math.random()}`,
      workflowId: WF,
      ...(over.runId !== null ? { runId: over.runId ?? RUN } : {}),
      args: over.args ?? {},
      issuedAt: NOW - 1000,
      expiresAt: over.expiresAt ?? NOW + 60_000,
    }),
  };
}

const expect = { command: 'advance', workflowId: WF, runIds: [RUN], now: NOW, roles: ['operator'] as const };

describe('operator keys and signatures', () => {
  it('writes the secret key with mode 0600, refuses to overwrite it, and refuses a key file others can read', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cutover-unit-keys-'));
    const made = newOperatorKey({ name: 'carol', dir });
    assert.equal(fs.statSync(made.keyFile).mode & 0o777, 0o600);
    assert.match(fs.readFileSync(made.pubFile, 'utf8'), /^ed25519:[0-9a-f]{64}\n$/);
    assert.throws(() => newOperatorKey({ name: 'carol', dir }), OperatorKeyError);
    fs.chmodSync(made.keyFile, 0o644);
    assert.throws(() => loadOperatorKey(made.keyFile), /chmod 600/);
    assert.throws(() => loadOperatorKey(made.pubFile), OperatorKeyError);
  });

  it('verifies a signature over the whole command, and names what is wrong otherwise', () => {
    assert.equal(verifySigned(signed(k.alice!), operators, { ...expect, roles: ['operator'] }).ok, true);
    const code = (p: unknown, e = expect) => {
      const v = verifySigned(p, operators, { ...e, roles: [...e.roles] });
      return v.ok ? 'ok' : v.code;
    };
    assert.equal(code({ actor: 'alice', commandId: 'x' }), 'unsigned');
    const t = signed(k.alice!);
    assert.equal(
      code({ ...t, signature: { ...t.signature, body: t.signature.body.replace('"args":{}', '"args":{"x":1}') } }),
      'bad-signature',
    );
    const forged = signed(k.bob!);
    assert.equal(
      code({ ...forged, signature: { ...forged.signature, body: forged.signature.body.replace('"by":"bob"', '"by":"alice"') } }),
      'bad-signature',
    );
    assert.equal(code(signed(k.alice!, { command: 'resume' })), 'wrong-command');
    assert.equal(code(signed(k.alice!, { runId: 'other' })), 'wrong-run');
    assert.equal(code(signed(k.alice!, { expiresAt: NOW })), 'expired');
    assert.equal(code(signed(k.alice!, { expiresAt: NOW + 48 * 3_600_000 })), 'too-long');
    assert.equal(code(signed(k.bob!)), 'role');
    assert.equal(code(signed(keys(['mallory']).mallory!)), 'unknown-key');
  });

  it('policy: safe commands need no signature; a campaign worker key signs only for its campaign', () => {
    const ctx = { operators, workflowId: WF, runIds: [RUN], now: NOW };
    assert.equal(authorize('rollback', { actor: 'oncall', reason: 'x' }, ctx).ok, true);
    assert.equal(authorize('advance', { actor: 'oncall', commandId: 'x' }, ctx).ok, false);
    assert.equal(authorize('advance', { actor: 'anyone', commandId: 'x' }, { ...ctx, operators: [] }).ok, true, 'no operators: open');
    const byWorker = (campaign: string) => signed(k.worker!, { runId: undefined, args: { campaign } });
    const noRun = (c: string) => {
      const p = byWorker(c);
      const body = JSON.parse(p.signature.body) as Record<string, unknown>;
      delete body.runId;
      return { ...p, signature: k.worker!.sign(body as never) };
    };
    assert.equal(authorize('advance', noRun('c1'), { ...ctx, campaign: 'c1' }).ok, true);
    const other = authorize('advance', noRun('c2'), { ...ctx, campaign: 'c1' });
    assert.equal(other.ok ? 'ok' : other.code, 'role');
    const loose = authorize('advance', noRun('c1'), ctx); // a unit no campaign drives
    assert.equal(loose.ok ? 'ok' : loose.code, 'role');
  });

  it('two approvals need two distinct keys; the requester key may not approve; an approval binds the units', () => {
    const binding = { campaign: 'c', ring: 'r', step: 2, epoch: 0, units: digestOf(['tenant/a']) };
    const req = requestApproval({ binding, requestedBy: 'alice', requestedByKey: 'K-alice', now: NOW, ttlMs: 60_000, evidence: {} });
    const cmd = { commandId: 'a', ring: 'r', step: 2, epoch: 0, units: binding.units };
    const self = approve(req, { ...cmd, actor: 'alias-of-alice', key: 'K-alice' }, NOW);
    assert.equal(self.ok ? 'ok' : self.refusal, 'self-approval');
    const one = approve(req, { ...cmd, actor: 'bob', key: 'K-bob' }, NOW);
    assert.ok(one.ok);
    const twice = approve(one.request, { ...cmd, commandId: 'b', actor: 'bobby', key: 'K-bob' }, NOW);
    assert.equal(twice.ok ? 'ok' : twice.refusal, 'duplicate-approver');
    const otherUnits = approve(req, { ...cmd, actor: 'carol', key: 'K-carol', units: digestOf(['tenant/b']) }, NOW);
    assert.equal(otherUnits.ok ? 'ok' : otherUnits.field, 'units');
  });
});

describe('straggler approvals bind runs and expire', () => {
  const input = unitInput({ percentSteps: [50], stragglers: 'terminate', probe: { workflows: 0, minSuccess: 1 } });

  it('requests an approval for the exact runs the last count saw, refuses another digest, and expires', () => {
    const state = initialState();
    state.phase = 'draining';
    state.stragglerRuns = [{ workflowId: 'acme-1', runId: 'r1' }];
    applyBookkeeping(state, input, { type: 'request-approval', count: 1 }, NOW, new Date(NOW).toISOString());
    const a = state.approval!;
    assert.deepEqual(a.runs, [{ workflowId: 'acme-1', runId: 'r1' }]);
    assert.equal(a.runsDigest, digestOf(a.runs));
    const at = (ms: number) => new Date(ms).toISOString();
    const wrong = applyCommand(state, 'approve', { actor: 'bob', commandId: 'a1', runsDigest: digestOf([]) }, at(NOW + 1), {
      idOptional: false,
    });
    assert.equal(wrong.outcome, 'rejected');
    const late = applyCommand(state, 'approve', { actor: 'bob', commandId: 'a2', runsDigest: a.runsDigest }, at(a.expiresAt!), {
      idOptional: false,
    });
    assert.equal(late.outcome, 'rejected');
    assert.match(state.rejected.at(-1)!.reason, /expired/);
    const ok = applyCommand(state, 'approve', { actor: 'bob', commandId: 'a3', runsDigest: a.runsDigest }, at(NOW + 2), {
      idOptional: false,
    });
    assert.equal(ok.outcome, 'applied');
    assert.equal(state.approval!.approvedBy, 'bob');
  });
});

describe('audit chain', () => {
  function log(): AuditRecord[] {
    const l = emptyAuditLog(WF);
    for (let i = 0; i < 6; i++) appendAudit(l, { kind: 'gate', gate: `g${i}`, result: 'successful' }, new Date(NOW + i).toISOString());
    return l.records;
  }

  it('is intact as written and canonical JSON is one text per value', () => {
    assert.deepEqual(verifyChain(WF, log()), []);
    assert.equal(canonicalJson({ b: 1, a: [{ d: 2, c: undefined }] }), '{"a":[{"d":2}],"b":1}');
  });

  it('detects an edited, a deleted, a reordered record, a record from another unit, and a cut tail', () => {
    const problems = (records: AuditRecord[], head?: { seq: number; hash: string }, wf = WF) =>
      verifyChain(wf, records, head).map((b) => b.problem);
    const edited = log();
    (edited[2] as { result: string }).result = 'failed';
    assert.ok(problems(edited).includes('edited'));
    const deleted = log().filter((r) => r.seq !== 3);
    assert.ok(problems(deleted).includes('missing'));
    const reordered = log();
    [reordered[1], reordered[2]] = [reordered[2]!, reordered[1]!];
    assert.ok(problems(reordered).includes('reordered'));
    assert.ok(problems(log(), undefined, 'cutover/tenant/detections/other').includes('wrong-link'));
    const full = log();
    assert.ok(problems(full.slice(0, 4), { seq: 6, hash: full[5]!.hash }).length === 0, 'a lagging mirror is not a break');
    const forgedHead = { seq: 4, hash: 'f'.repeat(64) };
    assert.ok(problems(full, forgedHead).includes('head'));
  });

  it('the mirror grace counts from the oldest record not yet mirrored; none left to mirror is no grace at all', () => {
    const l = emptyAuditLog(WF, true);
    assert.equal(l.atWaits, true);
    assert.equal(mirrorGraceLeft(l, NOW, 5_000), undefined);
    appendAudit(l, { kind: 'gate', gate: 'a', result: 'successful' }, new Date(NOW).toISOString());
    appendAudit(l, { kind: 'gate', gate: 'b', result: 'successful' }, new Date(NOW + 3_000).toISOString());
    assert.equal(mirrorGraceLeft(l, NOW + 4_000, 5_000), 1_000);
    assert.equal(mirrorGraceLeft(l, NOW + 6_000, 5_000), -1_000);
    l.mirrored = 1;
    assert.equal(mirrorGraceLeft(l, NOW + 6_000, 5_000), 2_000, 'from the second record once the first is mirrored');
    l.mirrored = 2;
    assert.equal(mirrorGraceLeft(l, NOW + 6_000, 5_000), undefined);
    assert.equal(emptyAuditLog(WF).atWaits, undefined, 'a log made without the rule mirrors before every step');
  });
});

describe('plan operators', () => {
  const base = {
    name: 'p',
    clusters: { a: { address: '127.0.0.1:7233' }, b: { address: '127.0.0.1:7234' } },
    source: 'a',
    target: 'b',
    namespaces: { payments: { strategy: 'dual-workers', taskQueues: ['q'] } },
    rings: [{ name: 'r', units: ['namespace/payments'] }],
  };

  it('accepts operators with public keys and roles, refuses one key under two names and a secret key in the plan', () => {
    const ok = validatePlan({ ...base, operators: { alice: { publicKey: k.alice!.publicKey, roles: ['operator', 'approver'] } } });
    assert.ok(ok.ok);
    const dup = validatePlan({
      ...base,
      operators: { bob: { publicKey: k.bob!.publicKey, roles: ['approver'] }, bobby: { publicKey: k.bob!.publicKey, roles: ['approver'] } },
    });
    assert.ok(!dup.ok && dup.issues.some((i) => i.path === 'operators.bobby.publicKey' && /two names/.test(i.message)));
    const secret = validatePlan({ ...base, operators: { a: { publicKey: k.alice!.publicKey, roles: ['operator'], secretKey: 'x' } } });
    assert.ok(!secret.ok && secret.issues.some((i) => i.path === 'operators.a.secretKey'));
    const bad = validatePlan({ ...base, operators: { a: { publicKey: 'abc', roles: ['boss'] } } });
    assert.ok(!bad.ok && bad.issues.length >= 2);
  });
});

describe('campaign commands: signed advance binds to the step and epoch', () => {
  const CAMPAIGN_WF = 'cutover/campaign/c';
  const auth = { operators, workflowId: CAMPAIGN_WF, runIds: [RUN], now: NOW };
  const advance = (args: Record<string, unknown>, commandId: string) => ({
    actor: 'alice',
    commandId,
    signature: k.alice!.sign({
      command: 'advance',
      commandId,
      workflowId: CAMPAIGN_WF,
      runId: RUN,
      args,
      issuedAt: NOW,
      expiresAt: NOW + 60_000,
    }),
  });

  it('refuses an advance signed for another step or epoch, and a replay; takes the one for the current step', () => {
    const state = initialCampaignState();
    state.bake = { startedAt: NOW - 1000, until: NOW + 60_000, measurements: [], routeEpochs: {} };
    const check = (p: unknown) => checkCampaignCommand('advance', state, p, { now: NOW, idOptional: false, auth, step: 3 });
    const stale = check(advance({ step: 2, epoch: 0 }, 'x1'));
    assert.equal(stale.kind === 'refuse' ? stale.code : stale.kind, 'wrong-binding');
    const otherEpoch = check(advance({ step: 3, epoch: 1 }, 'x2'));
    assert.equal(otherEpoch.kind === 'refuse' ? otherEpoch.code : otherEpoch.kind, 'wrong-binding');
    const good = advance({ step: 3, epoch: 0 }, 'x3');
    assert.equal(check(good).kind, 'accept');
    state.seenCommandIds.push('x3');
    const replay = check(good);
    assert.equal(replay.kind === 'refuse' ? replay.code : replay.kind, 'replayed');
  });
});
