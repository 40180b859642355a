/**
 * The plan's `codec` section: a key ring named by reference (variables and files, never the keys), the
 * current key, and the codec server's listen address, authentication and CORS origins. Every problem is
 * reported at once, at its field, with the fix.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { parse as parseYaml, stringify } from 'yaml';
import {
  DEFAULT_CODEC_SERVER_INCLUDE_CREDENTIALS,
  DEFAULT_CODEC_SERVER_LISTEN,
  DEFAULT_CODEC_SERVER_MAX_BODY_BYTES,
  validatePlan,
  validatePlanText,
  type Plan,
  type PlanIssue,
} from '../../src/config';

const EXAMPLE = path.resolve(__dirname, '../../examples/plan.yaml');
type Raw = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const example = (): Raw => parseYaml(readFileSync(EXAMPLE, 'utf8')) as Raw;

function withCodec(codec: unknown): Raw {
  const raw = example();
  raw.codec = codec;
  return raw;
}

function mustPass(input: unknown): Plan {
  const result = validatePlan(input);
  assert.deepEqual(result.ok ? [] : result.issues, []);
  return (result as { plan: Plan }).plan;
}

function issues(input: unknown): PlanIssue[] {
  const result = validatePlan(input);
  assert.equal(result.ok, false, 'expected the plan to be rejected');
  return result.ok ? [] : result.issues;
}

/** The one issue at `at`, failing with every issue found when there is not exactly one. */
function issueAt(found: PlanIssue[], at: string): PlanIssue {
  const matching = found.filter((i) => i.path === at);
  assert.equal(matching.length, 1, `expected one issue at ${at}, got ${JSON.stringify(found, null, 1)}`);
  return matching[0]!;
}

describe('config: codec', () => {
  it('is optional; a plan without it has no codec', () => {
    assert.equal(mustPass(example()).codec, undefined);
  });

  it('takes a ring of keys by reference and fills the server defaults; the plan validates again unchanged', () => {
    const plan = mustPass(
      withCodec({
        keys: [
          { id: '2025-01', env: 'CUTOVER_CODEC_KEY_2025_01' },
          { id: '2025-07', file: '/etc/cutover/codec-2025-07.key' },
        ],
        current: '2025-07',
        server: { tokenEnv: 'CUTOVER_CODEC_TOKEN' },
      }),
    );
    assert.deepEqual(plan.codec, {
      keys: [
        { id: '2025-01', env: 'CUTOVER_CODEC_KEY_2025_01' },
        { id: '2025-07', file: '/etc/cutover/codec-2025-07.key' },
      ],
      current: '2025-07',
      server: {
        listen: DEFAULT_CODEC_SERVER_LISTEN,
        tokenEnv: 'CUTOVER_CODEC_TOKEN',
        origins: [],
        includeCredentials: DEFAULT_CODEC_SERVER_INCLUDE_CREDENTIALS,
        maxBodyBytes: DEFAULT_CODEC_SERVER_MAX_BODY_BYTES,
      },
    });
    assert.equal(DEFAULT_CODEC_SERVER_LISTEN, '127.0.0.1:8888');
    assert.equal(DEFAULT_CODEC_SERVER_MAX_BODY_BYTES, 4 * 1024 * 1024);
    assert.equal(DEFAULT_CODEC_SERVER_INCLUDE_CREDENTIALS, false);
    assert.deepEqual(mustPass(JSON.parse(JSON.stringify(plan))), plan);
  });

  it('a server with JWTs, origins and credentials keeps them as written', () => {
    const plan = mustPass(
      withCodec({
        keys: [{ id: 'k1', env: 'K1' }],
        current: 'k1',
        server: {
          listen: '0.0.0.0:9999',
          jwksUrl: 'https://login.example.com/.well-known/jwks.json',
          jwtAudience: 'temporal-ui',
          jwtIssuer: 'https://login.example.com/',
          origins: ['http://localhost:8233', 'https://cloud.temporal.io', 'http://[::1]:8080'],
          includeCredentials: true,
          maxBodyBytes: 1024,
        },
      }),
    );
    assert.deepEqual(plan.codec!.server, {
      listen: '0.0.0.0:9999',
      jwksUrl: 'https://login.example.com/.well-known/jwks.json',
      jwtAudience: 'temporal-ui',
      jwtIssuer: 'https://login.example.com/',
      origins: ['http://localhost:8233', 'https://cloud.temporal.io', 'http://[::1]:8080'],
      includeCredentials: true,
      maxBodyBytes: 1024,
    });
  });

  it('resolves a relative key file against the plan file directory', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'cutover-codec-plan-'));
    try {
      const text = stringify(
        withCodec({
          keys: [
            { id: 'k1', file: 'secrets/k1.key' },
            { id: 'k2', env: 'K2' },
          ],
          current: 'k1',
        }),
      );
      const result = validatePlanText(text, path.join(dir, 'plan.yaml'));
      assert.ok(result.ok, JSON.stringify(result));
      assert.deepEqual(result.plan.codec!.keys, [
        { id: 'k1', file: path.join(dir, 'secrets/k1.key') },
        { id: 'k2', env: 'K2' },
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('key problems: repeated or empty ids, no source or two, an unknown current key — all at once, each at its field', () => {
    const found = issues(
      withCodec({
        keys: [
          { id: 'k1', env: 'K1' },
          { id: 'k1', env: 'K1_AGAIN' },
          { id: '', env: 'K3' },
          { id: 'both', env: 'K4', file: 'k4.key' },
          { id: 'neither' },
        ],
        current: 'k9',
      }),
    );
    assert.match(issueAt(found, 'codec.keys[1].id').message, /"k1" is already used by codec.keys\[0\]/);
    assert.match(issueAt(found, 'codec.keys[2].id').message, /missing required field "id"/);
    const both = issueAt(found, 'codec.keys[3].file');
    assert.match(both.message, /both env and file/);
    assert.match(both.hint, /keep one/);
    assert.match(issueAt(found, 'codec.keys[4]').hint, /add env: .* or file:/);
    const current = issueAt(found, 'codec.current');
    assert.match(current.message, /unknown key "k9"/);
    assert.match(current.hint, /k1, both, neither/);
    assert.equal(found.length, 5, JSON.stringify(found, null, 1));
  });

  it('refuses key material in the plan without repeating it: a pasted key as env, or under a key of its own', () => {
    const key = 'q8Jm3d9GNJp+L0s0Yd3xvV0b2gkS5m1CjJXqfEo8cUk=';
    const found = issues(
      withCodec({
        keys: [
          { id: 'k1', env: key },
          { id: 'k2', key },
        ],
        current: 'k1',
        secret: key,
      }),
    );
    const env = issueAt(found, 'codec.keys[0].env');
    assert.match(env.hint, /environment variable/);
    const inline = issueAt(found, 'codec.keys[1].key');
    assert.match(inline.message, /key material/);
    assert.match(inline.hint, /env or file/);
    issueAt(found, 'codec.secret');
    assert.ok(!JSON.stringify(found).includes(key), 'the key is repeated in an issue');
    assert.ok(!JSON.stringify(found).includes(key.slice(0, 12)), 'part of the key is repeated in an issue');
  });

  it('the codec server authenticates exactly one way, and JWT claims need a JWKS', () => {
    const keys = [{ id: 'k1', env: 'K1' }];
    const none = issueAt(issues(withCodec({ keys, current: 'k1', server: { origins: ['http://localhost:8233'] } })), 'codec.server');
    assert.match(none.message, /no authentication/);
    assert.match(none.hint, /tokenEnv: .* or jwksUrl:/);
    const both = issues(withCodec({ keys, current: 'k1', server: { tokenEnv: 'T', jwksUrl: 'https://login.example.com/jwks.json' } }));
    assert.match(issueAt(both, 'codec.server.jwksUrl').message, /tokenEnv and jwksUrl are both set/);
    const claims = issues(withCodec({ keys, current: 'k1', server: { tokenEnv: 'T', jwtAudience: 'ui', jwtIssuer: 'me' } }));
    assert.match(issueAt(claims, 'codec.server.jwtAudience').hint, /set jwksUrl/);
    assert.match(issueAt(claims, 'codec.server.jwtIssuer').hint, /set jwksUrl/);
    // An empty server mapping is a server without authentication, not "no server".
    issueAt(issues(withCodec({ keys, current: 'k1', server: {} })), 'codec.server');
  });

  it('origins are http(s) origins as browsers send them; listen is host:port; the body limit is positive', () => {
    const found = issues(
      withCodec({
        keys: [{ id: 'k1', env: 'K1' }],
        current: 'k1',
        server: {
          tokenEnv: 'T',
          listen: 'http://127.0.0.1:8888',
          origins: [
            'http://localhost:8233/',
            'http://localhost:8233/namespaces',
            '*',
            'ftp://ui.example.com',
            'https://UI.example.com',
            'http://localhost:8080',
            'http://localhost:8080',
          ],
          includeCredentials: 'yes',
          maxBodyBytes: 0,
        },
      }),
    );
    assert.match(issueAt(found, 'codec.server.listen').hint, /127\.0\.0\.1:8888/);
    assert.equal(issueAt(found, 'codec.server.origins[0]').hint, 'write http://localhost:8233');
    assert.equal(issueAt(found, 'codec.server.origins[1]').hint, 'write http://localhost:8233');
    assert.match(issueAt(found, 'codec.server.origins[2]').hint, /no wildcards/);
    assert.match(issueAt(found, 'codec.server.origins[3]').message, /not an http\(s\) origin/);
    assert.equal(issueAt(found, 'codec.server.origins[4]').hint, 'write https://ui.example.com');
    assert.match(issueAt(found, 'codec.server.origins[6]').message, /listed twice/);
    assert.match(issueAt(found, 'codec.server.includeCredentials').message, /expected true or false/);
    assert.match(issueAt(found, 'codec.server.maxBodyBytes').message, /less than 1/);
    assert.equal(found.length, 9, JSON.stringify(found, null, 1));
  });

  it('a missing keys list or current key, and unknown keys, name the field with line and column', () => {
    const text = stringify(withCodec({ keys: [], current: '', sever: { tokenEnv: 'T' } }));
    const result = validatePlanText(text, 'plan.yaml');
    assert.ok(!result.ok);
    const keys = issueAt(result.issues, 'codec.keys');
    assert.match(keys.message, /empty/);
    assert.match(keys.hint, /env: CUTOVER_CODEC_KEY/);
    assert.match(issueAt(result.issues, 'codec.current').hint, /current: 2025-01/);
    const typo = issueAt(result.issues, 'codec.sever');
    assert.match(typo.hint, /did you mean "server"/);
    assert.ok(keys.line !== undefined && typo.line !== undefined && typo.line > keys.line);
  });
});
