/** The plan's `codec` section turned into a codec, and the data converter that carries it. */
import type { DataConverter, Logger } from '@temporalio/common';
import type { CodecConfig, Plan } from '../config/types';
import { EncryptionCodec, type UsageWarning } from './codec';
import { readCodecKeys, type ReadKeysOptions } from './keys';

/** Module of the failure converter that encodes failure messages and stack traces (failure-converter.ts). */
export const FAILURE_CONVERTER_PATH = require.resolve('./failure-converter');

/** Options of {@link loadCodec}. */
export interface LoadCodecOptions extends ReadKeysOptions {
  /** Receives the per-key usage warnings (default: `process.emitWarning`). */
  logger?: Pick<Logger, 'warn'>;
  usageWarning?: UsageWarning;
}

const isCodecConfig = (value: Plan | CodecConfig): value is CodecConfig => 'keys' in value && 'current' in value;

/**
 * The codec of a plan's `codec` section (undefined when the plan has none), or of a `CodecConfig`. Reads
 * every key from the variable or file it names; throws {@link CodecKeyError} naming each unset variable,
 * unreadable file or malformed key, never the key.
 */
export function loadCodec(config: CodecConfig, options?: LoadCodecOptions): EncryptionCodec;
export function loadCodec(plan: Plan, options?: LoadCodecOptions): EncryptionCodec | undefined;
export function loadCodec(planOrConfig: Plan | CodecConfig, options: LoadCodecOptions = {}): EncryptionCodec | undefined {
  const config = isCodecConfig(planOrConfig) ? planOrConfig : planOrConfig.codec;
  if (!config) return undefined;
  const keys = readCodecKeys(config, options);
  return new EncryptionCodec({ keys, current: config.current, logger: options.logger, usageWarning: options.usageWarning });
}

const planCodecs = new WeakMap<Plan, EncryptionCodec | null>();

/**
 * The codec of a parsed plan's `codec` section (undefined without one), read with the process environment
 * on first use and kept for that plan object. Every connection a process opens from one plan (the worker's,
 * its clients', the CLI's) then shares one codec: the keys are read once and the per-key usage count covers
 * them all. A {@link CodecKeyError} is thrown, not kept, so a fixed environment is read again.
 */
export function planCodec(plan: Plan): EncryptionCodec | undefined {
  const known = planCodecs.get(plan);
  if (known !== undefined) return known ?? undefined;
  const codec = loadCodec(plan);
  planCodecs.set(plan, codec ?? null);
  return codec;
}

/** The data converter of {@link planCodec} (undefined when the plan has no `codec`: the SDK's default). */
export function planDataConverter(plan: Plan): DataConverter | undefined {
  const codec = planCodec(plan);
  return codec && dataConverterFor(codec);
}

/**
 * A data converter that encrypts every payload with `codec`, failure messages and stack traces included.
 * Give it to clients and workers alike. A worker that is given a pre-built workflow bundle needs the
 * bundle built with `failureConverterPath: FAILURE_CONVERTER_PATH` too: only a worker that bundles its
 * workflows itself passes the path on to the bundler.
 */
export function dataConverterFor(codec: EncryptionCodec): DataConverter {
  return { payloadCodecs: [codec], failureConverterPath: FAILURE_CONVERTER_PATH };
}
