/** `cutover dev up` with a plan whose Redis is reached through sentinels: refused before anything starts. */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { loadPlan } from '../../src/config';
import { DevInputError, devUp } from '../../src/stack/dev';

describe('dev up: a plan with redis.sentinel', () => {
  let dir: string;
  before(() => (dir = mkdtempSync(path.join(tmpdir(), 'cutover-dev-sentinel-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('is bad input naming redis.sentinel and the fix; nothing is written or started', async () => {
    const raw = parseYaml(readFileSync(path.resolve(__dirname, '../../examples/plan.yaml'), 'utf8')) as Record<string, unknown>;
    raw.redis = { sentinel: { masterName: 'cutover', addresses: ['127.0.0.1:26379'] } };
    const plan = loadPlan(raw);
    await assert.rejects(
      devUp({ plan: { path: path.join(dir, 'plan.yaml'), plan }, cwd: dir }),
      (e: unknown) => e instanceof DevInputError && e.field === 'redis.sentinel' && /redis\.url/.test(e.message),
    );
    assert.equal(existsSync(path.join(dir, '.cutover')), false);
  });
});
