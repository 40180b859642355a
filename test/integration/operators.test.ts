import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import type { AuditRecord } from '../../src/audit/chain';
import { AuditStream } from '../../src/audit/stream';
import { RoutingStore } from '../../src/routing/store';
import { startDigest } from '../../src/campaign/commands';
import { auditReport } from '../../src/cockpit/audit';
import { refuseOwnedUnits } from '../../src/cockpit/campaign';
import { CockpitInputError } from '../../src/cockpit/errors';
import { commandPayload } from '../../src/cockpit/sign';
import type { UnitStatus } from '../../src/domain/migration';
import { loadOperatorKey, newOperatorKey, type OperatorSecret } from '../../src/operators/keys';
import { signBody, type Role, type SignedBody, type SignedEnvelope } from '../../src/operators/signing';
import { hexToBytes } from '@noble/hashes/utils';
import { resolveTemporalCli } from '../../src/stack/temporal-cli';
import * as cmsg from '../../src/workflows/campaign.messages';
import { testStack } from '../harness';
import { until } from '../harness/wait';
import { Rig as CampaignRig } from './campaign.fixture';
import { CONTROL_NAMESPACE, closeShared, Rig } from './entity.fixture';

const ROOT = path.join(__dirname, '..', '..');

/** Fresh operator keys, written and read back through the key files the CLI uses. */
function makeKeys(names: string[]): Record<string, OperatorSecret> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cutover-keys-'));
  return Object.fromEntries(names.map((n) => [n, loadOperatorKey(newOperatorKey({ name: n, dir }).keyFile)]));
}

const entry = (k: OperatorSecret, roles: Role[]) => ({ name: k.name, publicKey: k.publicKey, roles });

/** A stream rewritten as an attacker with Redis access would: the same entry IDs, other content or order. */
async function rewrite(redis: Redis, key: string, records: AuditRecord[]): Promise<void> {
  await redis.del(key);
  for (const [i, r] of records.entries()) await redis.xadd(key, `0-${i + 1}`, 'record', JSON.stringify(r));
}

describe('operators: signed commands, two distinct keys, a verifiable audit log', function () {
  this.timeout(150_000);
  let redis: Redis;
  before(() => {
    redis = new Redis(testStack().redisUrl);
  });
  after(async () => {
    redis.disconnect();
    await closeShared();
  });

  it('entity: forward commands need a valid signature; a temporal-CLI rollback needs none; all in the audit log', async () => {
    const k = makeKeys(['alice', 'bob', 'mallory']);
    const r = new Rig({
      kind: 'tenant',
      input: { advanceMode: 'manual', operators: [entry(k.alice!, ['operator', 'approver']), entry(k.bob!, ['approver'])] },
    });
    const rig = await r.setUp();
    try {
      const h = await rig.start();
      await rig.waitFor((s) => s.waitingOn === 'advance', 'the unit to wait for an advance');
      let n = 0;
      const signed = (signer: OperatorSecret, extra: { runId?: string; now?: number; expiresInMs?: number } = {}) =>
        commandPayload({
          signer,
          actor: signer.name,
          command: 'advance',
          commandId: `${rig.tag}-c${++n}`,
          workflowId: rig.workflowId,
          runId: extra.runId ?? h.firstExecutionRunId,
          args: {},
          ...(extra.now !== undefined ? { now: extra.now } : {}),
          ...(extra.expiresInMs !== undefined ? { expiresInMs: extra.expiresInMs } : {}),
        });

      await rig.rawSignal('advance', { actor: 'alice', commandId: `${rig.tag}-unsigned` });
      // Mallory signs a command that says it is Alice's: a forgery.
      const forged = signed(k.alice!);
      const forgedEnv = signAs(k.mallory!, 'alice', JSON.parse((forged.signature as { body: string }).body) as SignedBody);
      await rig.rawSignal('advance', { ...forged, signature: forgedEnv });
      const tampered = signed(k.alice!);
      const t = tampered.signature as { body: string; sig: string };
      await rig.rawSignal('advance', {
        ...tampered,
        signature: { ...t, body: t.body.replace('"args":{}', '"args":{"until":"completed"}') },
      });
      await rig.rawSignal('advance', signed(k.alice!, { now: Date.now() - 20 * 60_000, expiresInMs: 60_000 }));
      await rig.rawSignal('advance', signed(k.alice!, { runId: 'another-run' }));
      await rig.rawSignal('advance', signed(k.bob!)); // an approver, not an operator
      const codes = ['unsigned', 'bad-signature', 'bad-signature', 'expired', 'wrong-run', 'role'];
      const refused = await rig.waitFor((s) => s.rejected.length >= codes.length, 'six refusals');
      assert.deepEqual(
        refused.rejected.map((x) => x.code),
        codes,
      );
      assert.equal(refused.waitingOn, 'advance', 'nothing moved the unit');

      const good = signed(k.alice!);
      await rig.rawSignal('advance', good);
      const moved = await rig.waitFor(
        (s) => s.history.some((x) => (x.evidence as { signedBy?: string } | undefined)?.signedBy === 'alice'),
        'the signed advance',
      );
      assert.equal((moved.history.find((x) => x.evidence?.signedBy === 'alice')!.evidence as { key: string }).key, k.alice!.publicKey);
      await rig.rawSignal('advance', good); // the same signed command again: a replay
      await rig.waitFor((s) => s.rejected.some((x) => x.code === 'replayed'), 'the replay refused');

      // The safe direction needs no key: the plain temporal CLI, as in an emergency.
      const cli = await resolveTemporalCli();
      await promisify(execFile)(
        cli,
        [
          'workflow',
          'signal',
          '--address',
          testStack().target.address,
          '--namespace',
          CONTROL_NAMESPACE,
          '--workflow-id',
          rig.workflowId,
        ].concat(['--name', 'rollback', '--input', JSON.stringify({ actor: 'oncall', reason: 'drill from a shell' })]),
        { timeout: 30_000 },
      );
      const back = await rig.waitFor(isRolledBack, 'the rollback', 60_000);
      assert.ok(back.history.some((x) => x.actor === 'oncall' && x.reason?.startsWith('rollback')));

      // Every verdict is in the chained log, mirrored to Redis.
      const status = await rig.waitFor((s) => !!s.audit && s.audit.mirrored === s.audit.seq, 'the audit log mirrored');
      const stream = new AuditStream({ redis, keyPrefix: rig.keyPrefix });
      const report = await auditReport({ unit: rig.unit, workflowId: rig.workflowId, stream, workflow: status.audit });
      assert.deepEqual(report.breaks, []);
      assert.equal(report.ok, true);
      const cmds = report.records.filter((x) => x.kind === 'command');
      assert.deepEqual(
        cmds.map((x) => (x.kind === 'command' ? `${x.verdict}:${x.code ?? x.signer?.name ?? x.unsigned ?? ''}` : '')),
        [
          'refused:unsigned',
          'refused:bad-signature',
          'refused:bad-signature',
          'refused:expired',
          'refused:wrong-run',
          'refused:role',
          'accepted:alice',
          'refused:replayed',
          'accepted:unsigned (safe direction)',
        ],
      );
    } finally {
      await r.tearDown();
    }
  });

  it('campaign: two distinct keys, no self-approval, skip or replay; signed unit commands; audit --verify', async () => {
    const k = makeKeys(['alice', 'bob', 'carol', 'worker']);
    const rig = new CampaignRig({
      gates: () => ({}),
      rings: [
        { name: 'ring0', units: ['A'], gates: [], approval: 'two-person' },
        { name: 'ring1', units: ['B'], gates: [], approval: 'two-person' },
      ],
      defaults: { bake: '200ms' },
      operators: {
        alice: { publicKey: k.alice!.publicKey, roles: ['operator', 'approver'] },
        bob: { publicKey: k.bob!.publicKey, roles: ['approver'] },
        carol: { publicKey: k.carol!.publicKey, roles: ['approver'] },
        worker: { publicKey: k.worker!.publicKey, roles: ['controller'] },
      },
      signer: k.worker!,
    });
    await rig.setUp();
    try {
      // Bob's key listed a second time under another name: it still counts once.
      rig.input.operators!.push({ name: 'bobby', publicKey: k.bob!.publicKey, roles: ['approver'] });
      const issuedAt = Date.now();
      rig.input.start = k.alice!.sign({
        command: 'start',
        commandId: `${rig.tag}-start`,
        workflowId: rig.workflowId,
        args: { input: startDigest(rig.input) },
        issuedAt,
        expiresAt: issuedAt + 600_000,
      });
      const { runId } = await rig.start();
      const handle = rig.control.workflow.getHandle(rig.workflowId);
      const ask = await rig.waitFor((s) => s.phase === 'awaiting-approval' && s.approval?.binding.ring === 'ring0', 'ring0 approval');
      assert.equal(ask.signing?.requester, k.alice!.publicKey);
      let n = 0;
      const approval = (signer: OperatorSecret, binding: object) =>
        commandPayload({
          signer,
          actor: signer.name,
          command: 'approve',
          commandId: `${rig.tag}-a${++n}`,
          workflowId: rig.workflowId,
          runId,
          args: { ...binding },
        });
      const ring0 = ask.approval!.binding;
      const signal = (name: 'approve' | 'advance', p: Record<string, unknown>) =>
        handle.signal(cmsg[name] as typeof cmsg.approve, p as unknown as cmsg.CampaignApprovePayload);

      await signal('advance', { actor: 'alice', commandId: `${rig.tag}-unsigned` });
      await signal('approve', approval(k.alice!, ring0)); // the requester's key
      const bobsApproval = approval(k.bob!, ring0);
      await signal('approve', bobsApproval);
      // Bob signs again as "bobby", the second name his key is listed under: a valid signature, the same key.
      const asBobby = approval(k.bob!, ring0);
      const bobbyEnv = signAs(k.bob!, 'bobby', JSON.parse((asBobby.signature as { body: string }).body) as SignedBody);
      await signal('approve', { ...asBobby, actor: 'bobby', signature: bobbyEnv });
      const mid = await rig.waitFor(
        (s) => s.rejected.length >= 3 && (s.approval?.approvals.length ?? 0) === 1,
        'three refusals, one approval',
      );
      assert.deepEqual(
        mid.rejected.map((x) => x.code),
        ['unsigned', 'self-approval', 'duplicate-approver'],
      );
      const skip = commandPayload({
        signer: k.alice!,
        actor: 'alice',
        command: 'advance',
        commandId: `${rig.tag}-skip`,
        workflowId: rig.workflowId,
        runId,
        args: { step: ask.step?.n, epoch: ask.epoch },
      });
      await signal('advance', skip); // signed, but an advance cannot skip an approval
      await rig.waitFor((s) => s.rejected.some((x) => x.commandId === `${rig.tag}-skip` && x.code === 'not-allowed'), 'skip refused');
      await signal('approve', approval(k.carol!, ring0));

      // While ring 0's unit moves, a second campaign that names it is refused at start; this one is not.
      await until(
        'a second campaign naming a running unit to be refused',
        async () => {
          const err = await refuseOwnedUnits(rig.control, { ...rig.plan, name: `${rig.plan.name}-other` }).catch((e: unknown) => e);
          return err instanceof CockpitInputError && err.message.includes(rig.unitName('A'));
        },
        { timeoutMs: 15_000 },
      );
      await refuseOwnedUnits(rig.control, rig.plan);

      // Ring 0's unit moves on the worker's signed commands; then ring 1 asks.
      const ring1Ask = await rig.waitFor(
        (s) => s.phase === 'awaiting-approval' && s.approval?.binding.ring === 'ring1',
        'ring1 approval',
        120_000,
      );
      const unitA = await rig.unitStatus('A');
      assert.ok(
        unitA.history.some((x) => (x.evidence as { signedBy?: string } | undefined)?.signedBy === 'worker'),
        "ring 0's unit recorded the campaign's signed commands",
      );
      // The unit's own log: the campaign's commands, signed by the worker, and every route change with its epochs.
      const unitLog = unitA.audit!.records;
      assert.ok(unitLog.some((x) => x.kind === 'command' && x.verdict === 'accepted' && x.signer?.name === 'worker'));
      const routes = unitLog.filter((x) => x.kind === 'route');
      assert.ok(routes.length >= 2, 'route changes are in the log');
      for (const x of routes) if (x.kind === 'route') assert.ok(x.after.epoch > x.before.epoch);
      // The routing store logs every write of the record too: the workflow's are in its chain, a write by hand is not.
      const routing = new RoutingStore({ redis, keyPrefix: rig.keyPrefix });
      const nameA = rig.unitName('A');
      const unitStream = new AuditStream({ redis, keyPrefix: rig.keyPrefix });
      const checkA = async () =>
        auditReport({
          unit: nameA,
          workflowId: unitA.id,
          stream: unitStream,
          workflow: unitA.audit,
          routeLog: await routing.routeLog(nameA),
        });
      const before = await checkA();
      assert.deepEqual(before.breaks, []);
      assert.ok(before.routeWrites.length >= 2 && before.routeWrites.every((w) => w.inChain), JSON.stringify(before.routeWrites));
      const cur = (await routing.get(nameA))!;
      const byHand = { route: cur.route, sourceWorkersMayStop: cur.sourceWorkersMayStop, actor: 'someone', reason: 'by hand' };
      assert.ok((await routing.compareAndSet(nameA, cur.epoch, byHand)).ok);
      const after = (await checkA()).routeWrites.at(-1)!;
      assert.deepEqual([after.by, after.before, after.after, after.inChain], ['someone', cur.epoch, cur.epoch + 1, false]);
      assert.notEqual(ring1Ask.approval!.binding.units, ring0.units, 'each step binds its own units');
      await signal('approve', bobsApproval); // replayed on a later step
      await signal('approve', approval(k.bob!, ring0)); // a fresh approval of the old step
      const late = await rig.waitFor((s) => s.rejected.length >= 6, 'two more refusals');
      assert.deepEqual(
        late.rejected.slice(4).map((x) => x.code),
        ['replayed', 'wrong-binding'],
      );
      assert.equal(late.approval!.approvals.length, 0);

      // The campaign's log, checked by the CLI a user runs, then tampered with.
      const status = await rig.waitFor((s) => !!s.audit && s.audit.mirrored === s.audit.seq, 'the audit log mirrored');
      const planFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'cutover-plan-')), 'plan.json');
      fs.writeFileSync(planFile, JSON.stringify(rig.plan));
      const audit = () =>
        spawnSync(process.execPath, [path.join(ROOT, 'bin', 'cutover.js'), 'audit', rig.plan.name, '--plan', planFile, '--verify'], {
          encoding: 'utf8',
          timeout: 60_000,
        });
      const clean = audit();
      assert.equal(clean.status, 0, clean.stderr + clean.stdout);
      assert.match(clean.stdout, /verified: chain intact/);
      assert.match(clean.stdout, /refused +approve by alice \(signed alice\) \[self-approval\]/);
      const stream = new AuditStream({ redis, keyPrefix: rig.keyPrefix });
      const key = stream.key(rig.plan.name);
      const { records } = await stream.read(rig.plan.name);
      assert.equal(records.length, status.audit!.seq);
      const edited = records.map((x) => ({ ...x }));
      (edited[1] as { actor?: string }).actor = 'carol';
      const reordered = [...records];
      [reordered[2], reordered[3]] = [reordered[3]!, reordered[2]!];
      const deleted = records.filter((_, i) => i !== 2);
      for (const [what, tampered, problem] of [
        ['edited', edited, 'edited'],
        ['deleted', deleted, 'missing'],
        ['reordered', reordered, 'reordered'],
      ] as const) {
        await rewrite(redis, key, tampered);
        const out = audit();
        assert.equal(out.status, 1, `${what}: ${out.stdout}`);
        assert.match(out.stdout, new RegExp(`BREAK at \\d+: ${problem}`), what);
      }
      await rewrite(redis, key, records);
      assert.equal(audit().status, 0);
    } finally {
      await rig.tearDown();
    }
  });
});

/** A unit that has rolled back (or is rolling back on the operator's word). */
function isRolledBack(s: UnitStatus): boolean {
  return s.phase === 'rolled-back' || s.phase === 'rolling-back';
}

/** Signs a body as `name` with the secret of `key`'s file (a forgery, or one key under two names). */
function signAs(key: OperatorSecret, name: string, body: SignedBody): SignedEnvelope {
  const secret = (JSON.parse(fs.readFileSync(key.file, 'utf8')) as { secretKey: string }).secretKey;
  return signBody({ ...body, by: name }, hexToBytes(secret));
}
