/**
 * The payload codec: AES-256-GCM over a key ring, with keys read from the variables and files the plan
 * names. Real encryption throughout (Node's crypto, random keys); nothing of the codec is stubbed.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { ApplicationFailure, defaultPayloadConverter, type Payload } from '@temporalio/common';
import {
  decodeOptionalFailureToOptionalError,
  encodeErrorToFailure,
  loadDataConverter,
} from '@temporalio/common/lib/internal-non-workflow';
import { temporal } from '@temporalio/proto';
import type { CodecConfig } from '../../src/config';
import {
  CodecKeyError,
  dataConverterFor,
  DEFAULT_USAGE_WARNING_EVERY,
  DEFAULT_USAGE_WARNING_FIRST,
  ENCRYPTED_ENCODING,
  FAILURE_CONVERTER_PATH,
  generateKey,
  KEY_ID_METADATA,
  keyIdOf,
  loadCodec,
  type LoadCodecOptions,
  PayloadCodecError,
} from '../../src/security';
import { workflowBundle } from '../harness';

const utf8 = (bytes: Uint8Array | null | undefined) => Buffer.from(bytes ?? []).toString('utf8');
/** The bytes a payload is stored as in a history. */
const wire = (payload: Payload) => Buffer.from(temporal.api.common.v1.Payload.encode(payload).finish());

/** A codec over freshly generated keys, read through the loader from an environment map. */
function ring(ids: string[], current: string, material: Record<string, string> = {}, options: LoadCodecOptions = {}) {
  const env: Record<string, string> = {};
  const config: CodecConfig = { keys: [], current };
  for (const id of ids) {
    const variable = `CODEC_KEY_${id.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
    material[id] ??= generateKey();
    env[variable] = material[id];
    config.keys.push({ id, env: variable });
  }
  return loadCodec(config, { env, ...options });
}

const SECRET_INPUT = { unit: 'tenant/detections/acme-corp', actor: 'alice@example.com', reason: 'p99 over 2s at 50%' };

describe('payload codec: AES-256-GCM with a key ring', () => {
  it('round-trips payloads, metadata included, and marks each with its encoding and key ID', async () => {
    const codec = ring(['2025-01'], '2025-01');
    const plain = [
      defaultPayloadConverter.toPayload(SECRET_INPUT),
      { metadata: { encoding: Buffer.from('binary/plain'), custom: Buffer.from('kept') }, data: Buffer.from([0, 1, 2, 255]) },
      defaultPayloadConverter.toPayload(undefined),
    ];
    const sealed = await codec.encode(plain);
    assert.equal(sealed.length, 3);
    for (const payload of sealed) {
      assert.equal(utf8(payload.metadata?.encoding), ENCRYPTED_ENCODING);
      assert.equal(utf8(payload.metadata?.[KEY_ID_METADATA]), '2025-01');
      assert.equal(keyIdOf(payload), '2025-01');
      assert.deepEqual(Object.keys(payload.metadata ?? {}).sort(), ['encoding', KEY_ID_METADATA].sort());
    }
    const opened = await codec.decode(sealed);
    assert.deepEqual(opened.map(wire), plain.map(wire));
    assert.deepEqual(defaultPayloadConverter.fromPayload(opened[0]!), SECRET_INPUT);
    assert.equal(utf8(opened[1]!.metadata?.custom), 'kept');
  });

  it('stores no plaintext: neither the data nor the original metadata appear, and each encryption differs', async () => {
    const codec = ring(['k1'], 'k1');
    const plain = defaultPayloadConverter.toPayload(SECRET_INPUT);
    const [a] = await codec.encode([plain]);
    const [b] = await codec.encode([plain]);
    for (const stored of [wire(a!), wire(b!)]) {
      for (const needle of ['acme-corp', 'alice@example.com', 'p99 over', 'json/plain', 'detections']) {
        assert.equal(stored.includes(needle), false, `found "${needle}" in the stored payload`);
      }
    }
    // Random IVs: the same payload never encrypts to the same bytes.
    assert.notDeepEqual(Buffer.from(a!.data!), Buffer.from(b!.data!));
    assert.ok(!Buffer.from(a!.data!).subarray(0, 12).equals(Buffer.from(b!.data!).subarray(0, 12)), 'two payloads share an IV');
  });

  it('a flipped bit anywhere (IV, ciphertext, tag) fails authentication with an error naming the key ID', async () => {
    const codec = ring(['k-2025'], 'k-2025');
    const [sealed] = await codec.encode([defaultPayloadConverter.toPayload(SECRET_INPUT)]);
    const length = sealed!.data!.byteLength;
    for (const [region, index] of [
      ['IV', 3],
      ['ciphertext', 20],
      ['tag', length - 1],
    ] as const) {
      const data = Buffer.from(sealed!.data!);
      data[index] ^= 0x01;
      await assert.rejects(
        codec.decode([{ ...sealed!, data }]),
        (err: unknown) =>
          err instanceof PayloadCodecError &&
          err.failure === 'authentication' &&
          err.keyId === 'k-2025' &&
          err.message.includes('"k-2025"'),
        `a flipped bit in the ${region} was not refused`,
      );
    }
    // A payload cut short of an IV and a tag is refused too, naming the key.
    await assert.rejects(
      codec.decode([{ ...sealed!, data: sealed!.data!.subarray(0, 20) }]),
      (err: unknown) => err instanceof PayloadCodecError && err.failure === 'malformed' && err.keyId === 'k-2025',
    );
  });

  it('after rotation old-key payloads still decode, new ones use the new key; a ring without the old key names it', async () => {
    const material: Record<string, string> = {};
    const before = ring(['old'], 'old', material);
    const [oldPayload] = await before.encode([defaultPayloadConverter.toPayload('written before rotation')]);

    // Step 1 of a rotation: every process learns the new key; step 2 makes it current.
    const after = ring(['old', 'new'], 'new', material);
    assert.equal(after.currentKeyId, 'new');
    const [newPayload] = await after.encode([defaultPayloadConverter.toPayload('written after rotation')]);
    assert.equal(keyIdOf(newPayload!), 'new');
    const opened = await after.decode([oldPayload!, newPayload!]);
    assert.deepEqual(
      opened.map((p) => defaultPayloadConverter.fromPayload(p)),
      ['written before rotation', 'written after rotation'],
    );
    // A process that has not been given the new key yet cannot read what the new key sealed.
    await assert.rejects(
      before.decode([newPayload!]),
      (err: unknown) => err instanceof PayloadCodecError && err.failure === 'unknown-key' && err.keyId === 'new',
    );
    // Retiring the old key too early: its payloads fail with a message naming it and the keys there are.
    const retired = ring(['new', 'newer'], 'newer', material);
    await assert.rejects(
      retired.decode([oldPayload!]),
      (err: unknown) =>
        err instanceof PayloadCodecError &&
        err.failure === 'unknown-key' &&
        err.keyId === 'old' &&
        /"old"/.test(err.message) &&
        /new, newer/.test(err.message),
    );
  });

  it('the same ID with different material fails authentication, not silently', async () => {
    const [sealed] = await ring(['k1'], 'k1').encode([defaultPayloadConverter.toPayload(1)]);
    await assert.rejects(
      ring(['k1'], 'k1').decode([sealed!]),
      (err: unknown) => err instanceof PayloadCodecError && err.failure === 'authentication' && /\$CODEC_KEY_K1/.test(err.message),
    );
  });

  it('unencrypted payloads pass through decode untouched, so a history can mix both while encryption rolls out', async () => {
    const codec = ring(['k1'], 'k1');
    const plain = defaultPayloadConverter.toPayload({ written: 'before encryption' });
    const [sealed] = await codec.encode([defaultPayloadConverter.toPayload({ written: 'after' })]);
    const out = await codec.decode([plain, sealed!, plain]);
    assert.equal(out[0], plain);
    assert.equal(out[2], plain);
    assert.deepEqual(defaultPayloadConverter.fromPayload(out[1]!), { written: 'after' });
    assert.deepEqual(await codec.decode([]), []);
  });

  it('an encrypted payload is not encrypted twice, and one without a key ID is refused as malformed', async () => {
    const codec = ring(['k1', 'k2'], 'k2');
    const material = { k1: generateKey() };
    const [byOther] = await ring(['k1'], 'k1', material).encode([defaultPayloadConverter.toPayload('x')]);
    const [again] = await codec.encode([byOther!]);
    assert.equal(again, byOther); // copied as it is (e.g. from another cluster's history), still under k1
    assert.deepEqual(codec.usage(), {});
    const { [KEY_ID_METADATA]: _dropped, ...metadata } = byOther!.metadata!;
    await assert.rejects(
      codec.decode([{ ...byOther!, metadata }]),
      (err: unknown) => err instanceof PayloadCodecError && err.failure === 'malformed' && err.keyId === undefined,
    );
  });

  it('warns once per threshold as a key nears the AES-GCM limit, naming the key and never its material', async () => {
    const warnings: { message: string; meta?: Record<string, unknown> }[] = [];
    const material: Record<string, string> = {};
    const codec = ring(['hot'], 'hot', material, {
      logger: { warn: (message: string, meta?: Record<string, unknown>) => warnings.push({ message, meta }) },
      usageWarning: { first: 3, every: 2 },
    });
    await codec.encode([defaultPayloadConverter.toPayload(1), defaultPayloadConverter.toPayload(2)]);
    assert.equal(warnings.length, 0);
    await codec.encode([defaultPayloadConverter.toPayload(3)]);
    assert.equal(warnings.length, 1);
    const sealed = await codec.encode(Array.from({ length: 5 }, (_, i) => defaultPayloadConverter.toPayload(i)));
    assert.deepEqual(
      warnings.map((w) => w.meta),
      [3, 5, 7].map((encryptions) => ({ keyId: 'hot', encryptions })),
    );
    assert.deepEqual(codec.usage(), { hot: 8 });
    for (const { message } of warnings) {
      assert.match(message, /"hot"/);
      assert.ok(!message.includes(material.hot!));
    }
    // Decoding is not an encryption: no count, no warning.
    await codec.decode(sealed);
    assert.deepEqual(codec.usage(), { hot: 8 });
    assert.equal(warnings.length, 3);
  });

  it('the default thresholds leave half of the 2^32 budget and warn again every eighth of it', () => {
    assert.equal(DEFAULT_USAGE_WARNING_FIRST, 2 ** 31);
    assert.equal(DEFAULT_USAGE_WARNING_EVERY, 2 ** 29);
    // The last warning before the limit still comes an eighth of the budget early.
    assert.ok(DEFAULT_USAGE_WARNING_FIRST + 3 * DEFAULT_USAGE_WARNING_EVERY < 2 ** 32);
  });
});

describe('payload codec keys', () => {
  let dir: string;
  before(() => (dir = mkdtempSync(path.join(tmpdir(), 'cutover-codec-keys-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  const config = (...keys: CodecConfig['keys']): CodecConfig => ({ keys, current: keys[0]!.id });
  const problemsOf = (fn: () => unknown) => {
    try {
      fn();
    } catch (err) {
      assert.ok(err instanceof CodecKeyError, String(err));
      return err;
    }
    assert.fail('expected a CodecKeyError');
  };

  it('reads keys from a variable and from a file relative to the base directory (surrounding whitespace ignored)', async () => {
    const fileKey = generateKey();
    writeFileSync(path.join(dir, 'k2.key'), `${fileKey}\n`, { mode: 0o600 });
    const envKey = generateKey();
    const codec = loadCodec(
      {
        keys: [
          { id: 'k1', env: 'MY_CODEC_KEY' },
          { id: 'k2', file: 'k2.key' },
        ],
        current: 'k2',
      },
      { env: { MY_CODEC_KEY: ` ${envKey} ` }, baseDir: dir },
    );
    assert.deepEqual(codec.keyIds, ['k1', 'k2']);
    // The file's key really is the key: a codec built from the same material opens what this one seals.
    const [sealed] = await codec.encode([defaultPayloadConverter.toPayload('via file')]);
    const twin = loadCodec(config({ id: 'k2', env: 'K' }), { env: { K: fileKey } });
    assert.equal(defaultPayloadConverter.fromPayload((await twin.decode([sealed!]))[0]!), 'via file');
  });

  it('an unset variable or unreadable file names the field, the key ID and the variable or path', () => {
    const err = problemsOf(() =>
      loadCodec(config({ id: 'k1', env: 'CODEC_KEY_UNSET' }, { id: 'k2', file: 'absent.key' }), { env: {}, baseDir: dir }),
    );
    assert.deepEqual(
      err.problems.map((p) => [p.field, p.keyId]),
      [
        ['codec.keys[0].env', 'k1'],
        ['codec.keys[1].file', 'k2'],
      ],
    );
    assert.match(err.problems[0]!.message, /CODEC_KEY_UNSET/);
    assert.ok(err.problems[1]!.message.includes(path.join(dir, 'absent.key')));
    assert.match(err.problems[1]!.message, /ENOENT/);
  });

  it('refuses keys that are not 32 bytes of base64, naming the key ID and its source, never the material', () => {
    const short = Buffer.alloc(16, 7).toString('base64');
    const hex = Buffer.alloc(32, 9).toString('hex');
    const typo = `${generateKey().slice(0, 40)}!!==`;
    writeFileSync(path.join(dir, 'short.key'), short);
    const err = problemsOf(() =>
      loadCodec(
        config(
          { id: 'short', env: 'SHORT' },
          { id: 'hex', env: 'HEX' },
          { id: 'typo', env: 'TYPO' },
          { id: 'short-file', file: path.join(dir, 'short.key') },
        ),
        { env: { SHORT: short, HEX: hex, TYPO: typo } },
      ),
    );
    assert.deepEqual(
      err.problems.map((p) => p.keyId),
      ['short', 'hex', 'typo', 'short-file'],
    );
    const [s, h, t, f] = err.problems;
    assert.match(s!.message, /"short" from \$SHORT is 16 bytes; AES-256 needs exactly 32/);
    assert.match(h!.message, /\$HEX is 48 bytes.*hex/);
    assert.match(t!.message, /"typo" from \$TYPO is not base64/);
    assert.ok(f!.message.includes(`file ${path.join(dir, 'short.key')}`));
    for (const secret of [short, hex, typo]) assert.ok(!err.message.includes(secret), 'the key material is in the message');
  });

  it('refuses a ring whose current key is missing or whose IDs repeat, naming the fields', () => {
    const key = generateKey();
    const err = problemsOf(() =>
      loadCodec(
        {
          keys: [
            { id: 'a', env: 'A' },
            { id: 'a', env: 'A' },
          ],
          current: 'b',
        },
        { env: { A: key } },
      ),
    );
    assert.deepEqual(
      err.problems.map((p) => p.field),
      ['codec.keys[1].id', 'codec.current'],
    );
    assert.match(err.problems[1]!.message, /"b".*\(a\)/);
  });

  it('a plan without codec gives no codec; generated keys are 32 random bytes', () => {
    assert.equal(loadCodec({ rings: [] } as never), undefined);
    const a = Buffer.from(generateKey(), 'base64');
    assert.equal(a.length, 32);
    assert.notDeepEqual(a, Buffer.from(generateKey(), 'base64'));
  });
});

describe('data converter with the codec', () => {
  /** Thrown from a named function, so the stack trace names it. */
  function failForTenantAcmeCorp(): never {
    throw ApplicationFailure.create({
      message: 'gate errors failed for tenant/detections/acme-corp: 0.7 > 0.5',
      type: 'GateFailed',
      details: [{ tenant: 'acme-corp' }],
      cause: new Error('prometheus at 10.0.0.7 said acme-corp'),
    });
  }

  it('carries the codec and a failure converter module the SDK can load', () => {
    const codec = ring(['k1'], 'k1');
    const dc = dataConverterFor(codec);
    assert.deepEqual(dc.payloadCodecs, [codec]);
    assert.equal(dc.failureConverterPath, FAILURE_CONVERTER_PATH);
    const loaded = loadDataConverter(dc);
    assert.equal((loaded.failureConverter as { options?: { encodeCommonAttributes?: boolean } }).options?.encodeCommonAttributes, true);
  });

  it('encrypts failure messages and stack traces, causes and details included, and restores them on decode', async () => {
    const codec = ring(['k1'], 'k1');
    const converter = loadDataConverter(dataConverterFor(codec));
    let error: unknown;
    try {
      failForTenantAcmeCorp();
    } catch (err) {
      error = err;
    }
    const failure = await encodeErrorToFailure(converter, error);
    const stored = Buffer.from(temporal.api.failure.v1.Failure.encode(failure).finish());
    for (const needle of ['acme-corp', '10.0.0.7', 'failForTenantAcmeCorp', '0.7 > 0.5']) {
      assert.equal(stored.includes(needle), false, `found "${needle}" in the stored failure`);
    }
    assert.equal(failure.message, 'Encoded failure');
    assert.equal(keyIdOf(failure.encodedAttributes!), 'k1');
    assert.equal(keyIdOf(failure.cause!.encodedAttributes!), 'k1');

    const decoded = await decodeOptionalFailureToOptionalError(converter, failure);
    assert.ok(decoded instanceof ApplicationFailure);
    assert.equal(decoded.message, 'gate errors failed for tenant/detections/acme-corp: 0.7 > 0.5');
    assert.equal(decoded.type, 'GateFailed');
    assert.match(decoded.stack ?? '', /failForTenantAcmeCorp/);
    assert.deepEqual(decoded.details, [{ tenant: 'acme-corp' }]);
    assert.equal(decoded.cause?.message, 'prometheus at 10.0.0.7 said acme-corp');
  });

  it('the failure converter bundles into the workflow sandbox', async function () {
    this.timeout(120_000);
    const silent = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };
    const bundle = await workflowBundle({
      workflowsPath: require.resolve('../workflows/stack-workflows'),
      failureConverterPath: FAILURE_CONVERTER_PATH,
      logger: silent,
    });
    // The bundler swaps the SDK's default for this module; it is in the bundle, so workflows use it.
    assert.ok(bundle.code.includes('security/failure-converter'));
  });
});
