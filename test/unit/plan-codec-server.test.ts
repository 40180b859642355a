/**
 * The plan's codec server (`cutover codec-server`, `dev up`): settings from the plan, the flags on top,
 * and every kind of bad input refused before anything listens, naming the field.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { loadPlan, type Plan } from '../../src/config';
import { CodecServerInputError } from '../../src/security/codec-server';
import { CodecKeyError, generateKey } from '../../src/security/keys';
import { startPlanCodecServer } from '../../src/security/plan-codec-server';
import { codecEndpointOf } from '../../src/stack/codec-server-process';

const TOKEN = 'a-token-of-thirty-two-characters';
const env = { KEY_K1: generateKey(), KEY_K0: generateKey(), CODEC_TOKEN: TOKEN };

function planWith(codec: unknown): Plan {
  const raw = parseYaml(readFileSync(path.resolve(__dirname, '../../examples/plan.yaml'), 'utf8')) as Record<string, unknown>;
  if (codec !== undefined) raw.codec = codec;
  return loadPlan(raw);
}
const server = (over: Record<string, unknown> = {}) => ({
  listen: '127.0.0.1:8888',
  tokenEnv: 'CODEC_TOKEN',
  origins: ['http://127.0.0.1:8233'],
  includeCredentials: true,
  ...over,
});
const keys = [
  { id: 'k1', env: 'KEY_K1' },
  { id: 'k0', env: 'KEY_K0' },
];
const refusedAt = (field: string) => (err: unknown) =>
  err instanceof CodecServerInputError && err.message.startsWith(`${field}:`) ? true : assert.fail(String(err));

describe('the plan codec server', () => {
  it('serves with the plan key ring, token, origins and limits, and the extra origins', async () => {
    const plan = planWith({ keys, current: 'k1', server: server({ maxBodyBytes: 1234 }) });
    const s = await startPlanCodecServer(plan, { env, listen: '127.0.0.1:0', extraOrigins: ['http://127.0.0.1:9999'] });
    try {
      assert.deepEqual(s.auth, { kind: 'token', tokenEnv: 'CODEC_TOKEN' });
      assert.deepEqual(s.origins, ['http://127.0.0.1:8233', 'http://127.0.0.1:9999']);
      assert.deepEqual([s.keyIds, s.current, s.maxBodyBytes], [['k1', 'k0'], 'k1', 1234]);
      assert.equal(s.signInUrl, `${s.url}/session`);
      const res = await fetch(`${s.url}/encode`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'x-namespace': 'payments', origin: 'http://127.0.0.1:9999' },
        body: JSON.stringify({ payloads: [{ metadata: { encoding: Buffer.from('json/plain').toString('base64') }, data: 'IjEi' }] }),
      });
      assert.equal(res.status, 200);
      const [payload] = ((await res.json()) as { payloads: { metadata: Record<string, string> }[] }).payloads;
      assert.equal(Buffer.from(payload!.metadata['encryption-key-id']!, 'base64').toString(), 'k1');
    } finally {
      await s.close();
    }
  });

  it('refuses, before listening, a plan without codec or codec.server, and bad --listen or --origin', async () => {
    await assert.rejects(startPlanCodecServer(planWith(undefined), { env }), refusedAt('codec'));
    await assert.rejects(startPlanCodecServer(planWith({ keys, current: 'k1' }), { env }), refusedAt('codec.server'));
    const plan = planWith({ keys, current: 'k1', server: server() });
    await assert.rejects(startPlanCodecServer(plan, { env, listen: '8888' }), refusedAt('--listen'));
    await assert.rejects(startPlanCodecServer(plan, { env, extraOrigins: ['http://ui.test/'] }), refusedAt('--origin'));
  });

  it('refuses unreadable keys and an unset or short token, naming the plan field', async () => {
    const plan = planWith({ keys, current: 'k1', server: server() });
    await assert.rejects(startPlanCodecServer(plan, { env: { ...env, KEY_K0: undefined } }), CodecKeyError);
    await assert.rejects(startPlanCodecServer(plan, { env: { ...env, CODEC_TOKEN: undefined } }), refusedAt('codec.server.tokenEnv'));
    await assert.rejects(startPlanCodecServer(plan, { env: { ...env, CODEC_TOKEN: 'short' } }), refusedAt('codec.server.tokenEnv'));
  });

  it('gives the UI a loopback endpoint for a wildcard listen address', () => {
    assert.equal(codecEndpointOf({ listen: '127.0.0.1:8888' }), 'http://127.0.0.1:8888');
    assert.equal(codecEndpointOf({ listen: '0.0.0.0:8888' }), 'http://127.0.0.1:8888');
    assert.equal(codecEndpointOf({ listen: '[::]:8888' }), 'http://[::1]:8888');
    assert.equal(codecEndpointOf({ listen: '[::1]:8888' }), 'http://[::1]:8888');
  });
});
