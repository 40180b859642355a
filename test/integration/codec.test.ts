/**
 * Payload encryption end to end on the real stack: a plan with `codec` moves one tenant in a campaign
 * (the cutover worker and its probe worker, the control client and the CLI all encrypt with the plan's
 * keys), while the tenant's application encrypts with a key ring of its own through `RoutedClient` and
 * `DualWorkers`, and its schedule moves with it. Midway the worker is restarted with a new current key.
 *
 * The tests are the steps of that one move, in order: each starts where the one before left off.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure, type DataConverter, type Payload } from '@temporalio/common';
import { Redis } from 'ioredis';
import { sendCampaignCommand, startCampaignFromPlan } from '../../src/cockpit/campaign';
import { openControl, type ControlClient } from '../../src/cockpit/control';
import { resolveTarget } from '../../src/cockpit/target';
import { loadPlan, type Plan } from '../../src/config';
import { campaignWorkflowId, unitWorkflowId } from '../../src/domain/ids';
import type { UnitStatus } from '../../src/domain/migration';
import type { CampaignStatus } from '../../src/campaign/types';
import { DualWorkers, RoutedClient, type RoutedWorkflowHandle } from '../../src/routing';
import {
  dataConverterFor,
  generateKey,
  isEncrypted,
  keyIdOf,
  loadCodec,
  PayloadCodecError,
  type EncryptionCodec,
} from '../../src/security';
import { createCutoverWorker, type CutoverWorker } from '../../src/worker';
import * as cmsg from '../../src/workflows/campaign.messages';
import * as umsg from '../../src/workflows/unit-migration.messages';
import { codecAppJob } from '../workflows/codec-app';
import { testStack, uniqueId } from '../harness';
import { until } from '../harness/wait';

const ROOT = path.join(__dirname, '..', '..');
const BIN = path.join(ROOT, 'bin', 'cutover.js');

/** Variables of cutover's two keys (the rotation moves `current` from k1 to k2) and of the application's key. */
const K1_ENV = 'CUTOVER_TEST_CODEC_K1';
const K2_ENV = 'CUTOVER_TEST_CODEC_K2';
const APP_ENV = 'CUTOVER_TEST_CODEC_APP';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Every payload of a message tree, as the API returns it: an object with a `metadata` map and `data`
 * bytes. `skip` names keys whose subtrees are left out.
 */
function payloadsIn(node: unknown, skip: ReadonlySet<string> = new Set(), out: Payload[] = []): Payload[] {
  if (node === null || typeof node !== 'object' || node instanceof Uint8Array) return out;
  if (Array.isArray(node)) {
    for (const x of node) payloadsIn(x, skip, out);
    return out;
  }
  const o = node as Record<string, unknown>;
  if (o.data instanceof Uint8Array && o.metadata !== null && typeof o.metadata === 'object') {
    out.push(o as Payload);
    return out;
  }
  for (const [k, v] of Object.entries(o)) if (!skip.has(k)) payloadsIn(v, skip, out);
  return out;
}

/**
 * Every string of a message tree and every byte string read as UTF-8, so plaintext is found whether it
 * sits in a field or inside a payload's bytes (the API's JSON would show those bytes as base64, where a
 * grep finds nothing). `skip` names keys whose subtrees are left out.
 */
function textOf(node: unknown, skip: ReadonlySet<string> = new Set()): string {
  const parts: string[] = [];
  const walk = (v: unknown): void => {
    if (typeof v === 'string') parts.push(v);
    else if (v instanceof Uint8Array) parts.push(Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('utf8'));
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) if (!skip.has(k)) walk(x);
  };
  walk(node);
  return parts.join('\n');
}

/** The text of a tree with every encrypted payload opened by `codec` (to show the plaintext was there). */
async function decodedTextOf(node: unknown, codec: EncryptionCodec): Promise<string> {
  const opened = await codec.decode(payloadsIn(node).filter(isEncrypted));
  return `${textOf(node)}\n${textOf(opened)}`;
}

/** Every event of every run of a workflow, oldest first, read raw: no data converter, no codec. */
async function rawHistory(conn: Connection, namespace: string, workflowId: string): Promise<unknown[]> {
  const runs: unknown[][] = [];
  let runId: string | undefined;
  while (runs.length < 100) {
    const run: { workflowExecutionStartedEventAttributes?: { continuedExecutionRunId?: string | null } | null }[] = [];
    let nextPageToken: Uint8Array | undefined;
    do {
      const res = await conn.workflowService.getWorkflowExecutionHistory({ namespace, execution: { workflowId, runId }, nextPageToken });
      run.push(...(res.history?.events ?? []));
      nextPageToken = res.nextPageToken?.length ? res.nextPageToken : undefined;
    } while (nextPageToken);
    runs.unshift(run);
    runId = run[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId ?? undefined;
    if (!runId) break;
  }
  return runs.flat();
}

/**
 * Payloads the codec never sees: search attributes (the server indexes them) and the SDK's patch markers
 * (written by the SDK's core, they hold only the patch's ID).
 */
const CLEAR_BY_DESIGN = new Set(['searchAttributes', 'patch-data']);

/** The CLI as a child process, with `env` over this process's environment; never rejects. */
function cli(cwd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd, env: { ...process.env, ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

describe('payload encryption: cutover, an application with its own keys, and a key rotation', function () {
  this.timeout(120_000);
  const tag = uniqueId('codec');
  const tenant = uniqueId('tc');
  const unit = `tenant/detections/${tenant}`;
  const appQueue = `${tag}-app`;
  const scheduleId = `${tenant}-sched`;
  // Plaintext that must never reach a cluster: who and why (operators), a gate's value, the application's data.
  const starter = `starter-${tag}`;
  const operator = `operator-${tag}`;
  const reason = `reason-${tag}`;
  const gateValue = '4242.125';
  const appSecret = `app-secret-${tag}`;
  const appMemo = `app-memo-${tag}`;
  const scheduleSecret = `sched-secret-${tag}`;
  let dir: string;
  let cwd: string;
  let planFile: string;
  let plan: Plan;
  let worker: CutoverWorker;
  let running: Promise<void>;
  let control: ControlClient;
  let conns: { source: Connection; target: Connection };
  let appConverter: DataConverter;
  let appCodec: EncryptionCodec;
  let dual: DualWorkers;
  let dualRun: Promise<void>;
  let routed: RoutedClient;

  /** The plan, with `current` naming the key that encrypts; both keys decrypt (step 1 of a rotation is done). */
  function writePlan(current: 'k1' | 'k2'): Plan {
    const s = testStack();
    const doc = {
      name: tag,
      clusters: { legacy: { address: s.source.address }, cloud: { address: s.target.address } },
      source: 'legacy',
      target: 'cloud',
      control: { cluster: 'cloud', namespace: 'cutover', taskQueue: `${tag}-control` },
      redis: { url: s.redisUrl, keyPrefix: `${tag}:`, clientStaleness: '1s' },
      namespaces: {
        detections: {
          strategy: 'dual-workers',
          taskQueues: [appQueue],
          tenants: { selector: { workflowIdPrefix: '{tenant}-' }, ids: [tenant] },
        },
      },
      gates: {
        probe: { synthetic: { workflows: 2, minSuccess: 1, maxP99: '10s' }, interval: '300ms', count: 1 },
        metric: { prometheus: { url: s.prometheusUrl, query: `vector(${gateValue})`, max: 100_000 }, interval: '300ms', count: 1 },
      },
      // Bakes far longer than the test: the canary and cutover steps end when the test sends `advance`.
      defaults: { bake: '10m', percentSteps: [50], onGateFailure: 'hold', drainDeadline: '30s' },
      rings: [{ name: 'ring0', units: [unit], gates: ['probe', 'metric'] }],
      codec: {
        keys: [
          { id: 'k1', env: K1_ENV },
          { id: 'k2', env: K2_ENV },
        ],
        current,
      },
    };
    fs.writeFileSync(planFile, JSON.stringify(doc, null, 2));
    return loadPlan(planFile);
  }

  const campaignStatus = (): Promise<CampaignStatus> => control.client.workflow.getHandle(campaignWorkflowId(tag)).query(cmsg.status);
  const unitStatus = (): Promise<UnitStatus> =>
    control.client.workflow.getHandle(unitWorkflowId({ kind: 'tenant', namespace: 'detections', tenant })).query(umsg.status);
  const waitCampaign = (what: string, pred: (s: CampaignStatus) => boolean, timeoutMs = 40_000) => {
    let last: CampaignStatus | undefined;
    return until(what, async () => pred((last = await campaignStatus())) && last, {
      timeoutMs,
      everyMs: 200,
      detail: () => `last: ${JSON.stringify(last && { phase: last.phase, hold: last.hold, step: last.step?.kind, gates: last.gates })}`,
    });
  };

  before(async () => {
    const s = testStack();
    process.env[K1_ENV] = generateKey();
    process.env[K2_ENV] = generateKey();
    process.env[APP_ENV] = generateKey();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'codec-'));
    cwd = fs.mkdtempSync(path.join(dir, 'cwd-'));
    planFile = path.join(dir, 'plan.json');
    plan = writePlan('k1');
    worker = await createCutoverWorker({ plan });
    running = worker.run();
    control = await openControl(plan);
    conns = {
      source: await Connection.connect({ address: s.source.address }),
      target: await Connection.connect({ address: s.target.address }),
    };
    // The application's own key ring: cutover never holds this key.
    appCodec = loadCodec({ keys: [{ id: 'app-1', env: APP_ENV }], current: 'app-1' });
    appConverter = dataConverterFor(appCodec);
    dual = await DualWorkers.create({
      plan: planFile,
      namespace: 'detections',
      taskQueue: appQueue,
      workflowsPath: require.resolve('../workflows/codec-app'),
      activities: { reverse: async (text: string) => [...text].reverse().join('') },
      dataConverter: appConverter,
      refreshMs: 250,
    });
    dualRun = dual.run();
    routed = await RoutedClient.connect({ plan: planFile, namespace: 'detections', dataConverter: appConverter, refreshMs: 250 });
    // The tenant's schedule, created on the source by the application's client: its action's input is sealed with the application's key.
    await new Client({ connection: conns.source, namespace: 'detections', dataConverter: appConverter }).schedule.create({
      scheduleId,
      spec: { intervals: [{ every: '2s' }] },
      action: { type: 'startWorkflow', workflowType: codecAppJob, taskQueue: appQueue, args: [{ secret: scheduleSecret, ms: 10 }] },
      memo: { note: appMemo },
    });
  });

  after(async () => {
    for (const conn of [conns?.source, conns?.target]) {
      await conn?.workflowService.deleteSchedule({ namespace: 'detections', scheduleId }).catch(() => undefined);
    }
    for (const id of [campaignWorkflowId(tag), unitWorkflowId({ kind: 'tenant', namespace: 'detections', tenant })]) {
      await control?.client.workflow
        .getHandle(id)
        .terminate('test teardown')
        .catch(() => undefined);
    }
    await routed?.close().catch(() => undefined);
    await dual?.shutdown().catch(() => undefined);
    await dualRun?.catch(() => undefined);
    worker?.shutdown();
    await running?.catch(() => undefined);
    await control?.close().catch(() => undefined);
    await conns?.source.close();
    await conns?.target.close();
    const redis = new Redis(testStack().redisUrl, { maxRetriesPerRequest: 2 });
    const keys = await redis.keys(`${tag}:*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
    for (const v of [K1_ENV, K2_ENV, APP_ENV]) delete process.env[v];
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("the application's own key seals its workflows, run by RoutedClient and DualWorkers on both clusters at canary", async () => {
    await startCampaignFromPlan(control.client, plan, { actor: starter, pollMs: 250, drainPollMs: 250 });
    await waitCampaign('the canary step to bake', (c) => c.phase === 'baking' && c.step?.kind === 'canary');
    await until('the unit to route 50% to the target', async () => (await unitStatus()).route.percent === 50);
    await until('the routed client to see the canary route', () => routed.routes.lookup(unit)?.route.kind === 'percent');
    // Two workflow IDs the route sends to each side: one completes, one fails.
    const ids: Record<'source' | 'target', string[]> = { source: [], target: [] };
    for (let i = 0; ids.source.length < 2 || ids.target.length < 2; i++) {
      const id = `${tenant}-job-${i}`;
      const side = routed.routeOf({ workflowId: id }).side;
      if (side !== 'hold' && ids[side].length < 2) ids[side].push(id);
    }
    const runs: { id: string; side: 'source' | 'target'; fail: boolean; handle: RoutedWorkflowHandle<typeof codecAppJob> }[] = [];
    for (const side of ['source', 'target'] as const) {
      for (const [n, id] of ids[side].entries()) {
        const handle = await routed.workflow.start(codecAppJob, {
          taskQueue: appQueue,
          workflowId: id,
          args: [{ secret: `${appSecret}-${id}`, fail: n === 1 }],
          memo: { note: `${appMemo}-${id}` },
        });
        assert.equal(await handle.cluster(), side);
        runs.push({ id, side, fail: n === 1, handle });
      }
    }
    for (const r of runs) {
      const secret = `${appSecret}-${r.id}`;
      if (r.fail) {
        const err = await r.handle.result().then(
          () => assert.fail(`${r.id} should have failed`),
          (e: unknown) => e,
        );
        assert.ok(err instanceof WorkflowFailedError && err.cause instanceof ApplicationFailure, String(err));
        assert.equal(err.cause.type, 'CodecAppRefused');
        // The message comes back only through the application's codec and failure converter.
        assert.equal(err.cause.message, `refused ${secret}`);
      } else {
        assert.equal(await r.handle.result(), `done ${secret} ${[...secret].reverse().join('')}`);
      }
      const history = await rawHistory(conns[r.side], 'detections', r.id);
      const raw = textOf(history);
      for (const plain of [secret, [...secret].reverse().join(''), `${appMemo}-${r.id}`]) {
        assert.ok(!raw.includes(plain), `the raw history of ${r.id} on the ${r.side} holds "${plain}"`);
        assert.ok((await decodedTextOf(history, appCodec)).includes(plain), `${r.id}: "${plain}" is in the decoded history`);
      }
      assert.ok(!raw.includes('refused'), `the raw history of ${r.id} holds the failure's message`);
      // Every payload is sealed with the application's key, but for those the codec never sees.
      assert.deepEqual(new Set(payloadsIn(history, CLEAR_BY_DESIGN).map(keyIdOf)), new Set(['app-1']));
    }
  });

  it('a rotation: the worker restarted with a new current key replays the old payloads and seals new ones with the new key', async () => {
    plan = writePlan('k2');
    // The canary's gates are measured every 300 ms, so the restart most likely lands while probes run. A
    // worker waiting for its own probes could only stop once they timed out (50 s here), failing the gate.
    const stopping = Date.now();
    worker.shutdown();
    await running;
    assert.ok(Date.now() - stopping < 20_000, `the worker took ${Date.now() - stopping} ms to stop`);
    worker = await createCutoverWorker({ plan });
    running = worker.run();
    // The CLI reads the rewritten plan (k2 encrypts). It waits until the campaign confirms the command, which
    // the new worker can only do by replaying the campaign's history, written under k1, from its start.
    const advance = await cli(cwd, ['advance', tag, '--plan', planFile, '--actor', operator, '--reason', reason, '--json']);
    assert.equal(advance.code, 0, advance.stderr);
    await waitCampaign('the cutover step to bake', (c) => c.phase === 'baking' && c.step?.kind === 'cutover');
    const history = await rawHistory(conns.target, 'cutover', campaignWorkflowId(tag));
    const keyIds = payloadsIn(history, CLEAR_BY_DESIGN).map(keyIdOf);
    assert.ok(keyIds.includes('k1') && keyIds.includes('k2'), `key IDs in the campaign's history: ${[...new Set(keyIds)].join(', ')}`);
    // The first payloads need k1: a process holding only k2 cannot open them, and says which key it lacks.
    const k2Only = loadCodec({ keys: [{ id: 'k2', env: K2_ENV }], current: 'k2' });
    await assert.rejects(
      k2Only.decode(payloadsIn(history[0]).filter(isEncrypted)),
      (err: unknown) => err instanceof PayloadCodecError && err.failure === 'unknown-key' && err.keyId === 'k1',
    );
  });

  it("the schedule's sealed action is copied byte for byte and switched by cutover, which lacks the application's key", async () => {
    const control2 = await openControl(plan);
    try {
      const target = resolveTarget(plan, tag);
      if (target.kind !== 'campaign') assert.fail(`${tag} names a unit, not the campaign`);
      await sendCampaignCommand(control2.client, { target, command: 'advance', actor: operator });
    } finally {
      await control2.close();
    }
    await waitCampaign('the campaign to complete', (c) => c.phase === 'completed', 60_000);
    const [src, dst] = await Promise.all(
      [conns.source, conns.target].map((c) => c.workflowService.describeSchedule({ namespace: 'detections', scheduleId })),
    );
    assert.equal(src!.schedule?.state?.paused, true);
    assert.equal(dst!.schedule?.state?.paused, false);
    const [a, b] = [src!, dst!].map((d) => d.schedule?.action?.startWorkflow?.input?.payloads?.[0]);
    assert.ok(a && b && isEncrypted(a as Payload) && keyIdOf(a as Payload) === 'app-1');
    assert.deepEqual(Buffer.from(b.data!), Buffer.from(a.data!));
    const sorted = (m: Record<string, Uint8Array> | null | undefined) =>
      Object.entries(m ?? {})
        .map(([k, v]) => `${k}=${Buffer.from(v).toString('base64')}`)
        .sort();
    assert.deepEqual(sorted(b.metadata), sorted(a.metadata));
    assert.ok(!textOf(dst).includes(scheduleSecret) && !textOf(dst).includes(appMemo));
    // The copy's fires on the target run, and the application opens their input with its key.
    const appTarget = new Client({ connection: conns.target, namespace: 'detections', dataConverter: appConverter });
    const fired = await until('a fire of the copied schedule to complete on the target', async () => {
      const res = await conns.target.workflowService.listWorkflowExecutions({
        namespace: 'detections',
        query: `TemporalScheduledById = "${scheduleId}" AND ExecutionStatus = "Completed"`,
      });
      return res.executions?.[0]?.execution?.workflowId ?? undefined;
    });
    const result = await appTarget.workflow.getHandle(fired).result();
    assert.equal(result, `done ${scheduleSecret} ${[...scheduleSecret].reverse().join('')}`);
  });

  it('raw histories of the unit and the campaign hold no plaintext; the unit name only in workflow IDs and search attributes', async () => {
    const s = testStack();
    const cutoverCodec = loadCodec(plan)!;
    const histories: Record<string, unknown[]> = {
      unit: await rawHistory(conns.target, 'cutover', unitWorkflowId({ kind: 'tenant', namespace: 'detections', tenant })),
      campaign: await rawHistory(conns.target, 'cutover', campaignWorkflowId(tag)),
    };
    // The unit's probes, in the application's namespace on the target (their IDs name the unit).
    const probes = await conns.target.workflowService.listWorkflowExecutions({
      namespace: 'detections',
      query: 'WorkflowType = "cutoverProbe"',
    });
    const probeIds = (probes.executions ?? []).map((e) => e.execution?.workflowId ?? '').filter((id) => id.includes(`/${tenant}/`));
    assert.ok(probeIds.length > 0, "the unit's probes are listed");
    for (const id of probeIds) histories[`probe ${id}`] = await rawHistory(conns.target, 'detections', id);
    const raw = textOf(Object.values(histories));
    const decoded = await decodedTextOf(Object.values(histories), cutoverCodec);
    for (const plain of [starter, operator, reason, gateValue, s.prometheusUrl]) {
      assert.ok(decoded.includes(plain), `"${plain}" is in the decoded histories`);
      assert.ok(!raw.includes(plain), `a raw history holds "${plain}"`);
    }
    for (const address of [s.source.address, s.target.address]) assert.ok(!raw.includes(address), `a raw history holds ${address}`);
    // Workflow IDs and the contract's search attributes are metadata the server reads and indexes: there
    // the unit's name stays readable, and nowhere else.
    assert.ok(raw.includes(tenant));
    for (const [name, events] of Object.entries(histories)) {
      const stripped = textOf(events, new Set(['workflowId', 'searchAttributes']));
      assert.ok(!stripped.includes(tenant), `the ${name}'s raw history names ${tenant} outside workflow IDs and search attributes`);
      const sealed = payloadsIn(events, CLEAR_BY_DESIGN);
      const clear = sealed.filter((p) => !isEncrypted(p)).map((p) => `${textOf(p.metadata)}: ${textOf(p.data).slice(0, 80)}`);
      assert.ok(sealed.length > 0, `the ${name}'s history has no payload`);
      assert.deepEqual(clear, [], `the ${name}'s history has payloads in the clear, outside search attributes and patch markers`);
    }
    // The CLI decodes with the plan's keys, and without them refuses to start, naming the field (exit 2).
    const status = await cli(cwd, ['status', tag, '--plan', planFile, '--json']);
    assert.equal(status.code, 0, status.stderr);
    for (const plain of [operator, reason]) assert.ok(status.stdout.includes(plain), `status shows "${plain}"`);
    const keyless = await cli(cwd, ['status', tag, '--plan', planFile, '--json'], { [K1_ENV]: '' });
    assert.equal(keyless.code, 2, keyless.stderr);
    assert.match(keyless.stderr, /codec\.keys\[0\]\.env/);
    assert.equal(keyless.stdout, '');
  });
});
