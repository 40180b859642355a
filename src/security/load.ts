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

/**
 * A data converter that encrypts every payload with `codec`, failure messages and stack traces included.
 * Give it to clients and workers alike. A worker that is given a pre-built workflow bundle needs the
 * bundle built with `failureConverterPath: FAILURE_CONVERTER_PATH` too: only a worker that bundles its
 * workflows itself passes the path on to the bundler.
 */
export function dataConverterFor(codec: EncryptionCodec): DataConverter {
  return { payloadCodecs: [codec], failureConverterPath: FAILURE_CONVERTER_PATH };
}
