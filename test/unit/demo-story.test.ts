import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { planCampaign } from '../../src/campaign/plan';
import { loadPlan } from '../../src/config';
import type { CampaignStatus } from '../../src/campaign/types';
import { campaignQuietLine, campaignStoryLine, createSdkLog, formatSdkLogEntry, withoutLinksTo } from '../../src/demo/story';

const EXAMPLE = path.join(__dirname, '../../examples/plan.yaml');

describe('demo story lines', () => {
  const steps = planCampaign(loadPlan(EXAMPLE)).steps;
  const at = '2026-01-01T00:00:00.000Z';

  it('prefixes a step once, with its ring and units, when the note already names the step', () => {
    assert.equal(
      campaignStoryLine({ at, step: 3, event: 'step 3: canary 50% reached; baking 1000 ms' }, steps),
      'step 3/22, ring0-synthetic (namespace/payments): canary 50% reached; baking 1000 ms',
    );
    assert.equal(
      campaignStoryLine({ at, step: 4, event: 'step 4 passed its bake and gates' }, steps),
      'step 4/22, ring0-synthetic (namespace/payments): passed its bake and gates',
    );
  });

  it('says what a finished prepare or complete step did', () => {
    assert.equal(
      campaignStoryLine({ at, step: 6, event: 'step 6 (prepare) done' }, steps),
      'step 6/22, ring1-internal (tenant/detections/internal-e2e): prepared (preflight, provision, shadow)',
    );
    assert.equal(
      campaignStoryLine({ at, step: 5, event: 'step 5 (complete) done' }, steps),
      'step 5/22, ring0-synthetic (namespace/payments): completed (drained, reconciled)',
    );
  });

  it('keeps notes that do not name the step, and their reasons without a second step prefix', () => {
    assert.equal(
      campaignStoryLine({ at, step: 11, event: 'approved by alice (1 of 2)', reason: 'gates green' }, steps),
      'step 11/22, ring2-customers (tenant/detections/acme): approved by alice (1 of 2) — gates green',
    );
    assert.equal(
      campaignStoryLine(
        { at, step: 2, event: 'gate failure: rolling back the ring', reason: 'step 2 (canary): probe: p99 3s > 2s' },
        steps,
      ),
      'step 2/22, ring0-synthetic (namespace/payments): gate failure: rolling back the ring — probe: p99 3s > 2s',
    );
  });

  it('does not repeat the reason the previous entry gave (a gate failure, then the rollback it causes)', () => {
    const failed = { at, step: 7, event: 'gate probe failed', reason: 'p99 16230 ms: p99 above maxP99 5000 ms' };
    const rollingBack = {
      at,
      step: 7,
      event: 'gate failure: rolling back the ring',
      reason: 'gate probe failed: p99 16230 ms: p99 above maxP99 5000 ms',
    };
    const units = { at, step: 7, event: 'rolling back ring1-internal: tenant/detections/internal-e2e', reason: rollingBack.reason };
    const where = 'step 7/22, ring1-internal (tenant/detections/internal-e2e)';
    assert.equal(campaignStoryLine(failed, steps, undefined), `${where}: gate probe failed — p99 16230 ms: p99 above maxP99 5000 ms`);
    assert.equal(campaignStoryLine(rollingBack, steps, failed), `${where}: gate failure: rolling back the ring`);
    assert.equal(campaignStoryLine(units, steps, rollingBack), `${where}: rolling back ring1-internal: tenant/detections/internal-e2e`);
    assert.equal(campaignStoryLine(units, steps, failed), `${where}: rolling back ring1-internal: tenant/detections/internal-e2e`);
    assert.equal(
      campaignStoryLine({ ...units, reason: 'operator: bad deploy' }, steps, failed),
      `${where}: rolling back ring1-internal: tenant/detections/internal-e2e — operator: bad deploy`,
    );
  });

  it('keeps the reason of each operator command, even when the previous one gave the same', () => {
    const alice = { at, step: 11, event: 'approved by alice (1 of 2)', reason: 'gates green', evidence: { commandId: 'a1' } };
    const bob = { at, step: 11, event: 'approved by bob (2 of 2)', reason: 'gates green', evidence: { commandId: 'b1' } };
    assert.equal(
      campaignStoryLine(bob, steps, alice),
      'step 11/22, ring2-customers (tenant/detections/acme): approved by bob (2 of 2) — gates green',
    );
  });

  it('gives campaign-wide events no step, and an unknown step its number only', () => {
    assert.equal(
      campaignStoryLine({ at, step: 1, event: 'campaign started by demo-operator' }, steps),
      'campaign started by demo-operator',
    );
    assert.equal(campaignStoryLine({ at, event: 'campaign completed' }, steps), 'campaign completed');
    assert.equal(campaignStoryLine({ at, step: 99, event: 'step 99: canary 10% reached' }, steps), 'step 99: canary 10% reached');
  });

  it("says what a quiet campaign waits on: its step, the bake so far, the step's gates and units", () => {
    const step = steps[14]!;
    const status = {
      phase: 'baking',
      step,
      stepsTotal: steps.length,
      measurements: [{}, {}, {}],
      gates: [
        { name: 'errors', status: 'passing', reason: '', at },
        { name: 'probe', status: 'failed', reason: 'old ring', at },
      ],
      rings: [
        {
          name: step.ring,
          status: 'active',
          units: [
            {
              unit: 'tenant/detections/acme',
              workflowId: 'a',
              phase: 'cutover',
              waitingFor: 'cutover done; send advance to move to draining',
            },
            { unit: 'tenant/detections/globex', workflowId: 'g', phase: 'pending', waitingFor: 'start' },
          ],
        },
      ],
    } as unknown as CampaignStatus;
    assert.equal(
      campaignQuietLine(status, 95),
      'baking at step 15/22, nothing new for 95 s; 3 gate measurement(s) this bake; gates errors passing; ' +
        'tenant/detections/acme cutover — cutover done; send advance to move to draining',
    );
  });

  it('names the units still rolling back when a rollback is quiet', () => {
    const status = {
      phase: 'rolling-back',
      step: steps[2],
      stepsTotal: steps.length,
      measurements: [],
      gates: [{ name: 'probe', status: 'failed', reason: 'p99', at }],
      rings: [
        { name: 'ring0-synthetic', status: 'active', units: [{ unit: 'namespace/payments', workflowId: 'p', phase: 'rolling-back' }] },
        { name: 'ring1-internal', status: 'pending', units: [{ unit: 'tenant/detections/internal-e2e', workflowId: 'i' }] },
      ],
    } as unknown as CampaignStatus;
    assert.equal(campaignQuietLine(status, 30), 'rolling-back at step 3/22, nothing new for 30 s; namespace/payments rolling-back');
  });

  it('drops the lines that link to a UI that is not running', () => {
    const text =
      'unit a\n  http://no-ui.invalid/namespaces/x/workflows/a\ncampaign: http://no-ui.invalid/y\nprometheus http://127.0.0.1:9090';
    assert.equal(withoutLinksTo(text, 'http://no-ui.invalid'), 'unit a\nprometheus http://127.0.0.1:9090');
  });
});

describe('demo SDK log', () => {
  it('writes SDK entries to the file and only errors to the story, one line each', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cutover-sdk-log-'));
    try {
      const file = path.join(dir, 'sdk.log');
      const errors: string[] = [];
      const log = createSdkLog(file, (l) => errors.push(l));
      log.logger.debug('below the level');
      log.logger.warn('No activities registered, not polling for activity tasks', { taskQueue: 'cutover-probe' });
      log.logger.error('Worker failed\n    at stack frame', { taskQueue: 'payments' });
      log.close();
      log.logger.error('after close');
      const text = fs.readFileSync(file, 'utf8');
      assert.match(text, /\[WARN\] No activities registered, not polling for activity tasks \{ taskQueue: 'cutover-probe' \}\n/);
      assert.match(text, /\[ERROR\] Worker failed/);
      assert.doesNotMatch(text, /below the level|after close/);
      assert.deepEqual(errors, ['Worker failed', 'after close']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('formats an entry with its time and level', () => {
    const line = formatSdkLogEntry({ level: 'INFO', message: 'Worker state changed', timestampNanos: 1_767_225_600_000_000_000n });
    assert.equal(line, '2026-01-01T00:00:00.000Z [INFO] Worker state changed\n');
  });
});
