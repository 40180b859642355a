/** Payload encryption: the AES-256-GCM codec, its keys, and the data converter (docs/design.md, "Payload encryption"). */
export {
  DEFAULT_USAGE_WARNING_EVERY,
  DEFAULT_USAGE_WARNING_FIRST,
  ENCRYPTED_ENCODING,
  EncryptionCodec,
  type EncryptionCodecOptions,
  type CodecFailure,
  isEncrypted,
  KEY_ID_METADATA,
  keyIdOf,
  PayloadCodecError,
  type UsageWarning,
} from './codec';
export {
  type CodecKey,
  CodecKeyError,
  type CodecKeyProblem,
  codecKeySources,
  generateKey,
  KEY_BYTES,
  parseKeyMaterial,
  readCodecKeys,
} from './keys';
export { dataConverterFor, FAILURE_CONVERTER_PATH, loadCodec, type LoadCodecOptions, planCodec, planDataConverter } from './load';
