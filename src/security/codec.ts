/**
 * AES-256-GCM payload codec with a key ring. Each encrypted payload is the whole original `Payload`
 * (metadata included, protobuf-encoded) sealed under the ring's current key; the key's ID travels in the
 * clear in the new payload's metadata so that any process holding that key can open it. Decoding takes
 * any key of the ring, so a key can be rotated without touching the histories written under the old one.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { Logger, Payload, PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import type { CodecKey } from './keys';

/** `encoding` of a payload this codec sealed. Payloads with any other encoding pass through both ways. */
export const ENCRYPTED_ENCODING = 'binary/encrypted';
/** Metadata key holding the ID of the key a payload was sealed with (plain text: an ID is not a secret). */
export const KEY_ID_METADATA = 'encryption-key-id';

const ENCODING_METADATA = 'encoding';
const ALGORITHM = 'aes-256-gcm';
/** 96-bit IVs: GCM's native size (any other is hashed down to one, with weaker bounds). */
const IV_BYTES = 12;
/** The full 128-bit tag: shorter tags make forgeries cheaper. */
const TAG_BYTES = 16;

/*
 * Why count encryptions. With random 96-bit IVs, NIST SP 800-38D (§8.3) allows at most 2^32 encryptions
 * under one key: beyond that the chance that two payloads share an IV passes 2^-32, and one repeated IV
 * under GCM gives away the XOR of the two plaintexts and the key that authenticates every tag, so tags can
 * be forged from then on. The counter is per process and starts at zero at each start, so it sees only a
 * share of what a fleet encrypts: the first warning comes at half the budget (2^31), and then every 2^29
 * (an eighth of it), to leave room for the processes it cannot see. It backs up a rotation schedule sized
 * for the whole fleet; it does not replace one.
 */
/** First warning for a key: half of GCM's 2^32 random-IV budget. */
export const DEFAULT_USAGE_WARNING_FIRST = 2 ** 31;
/** Further warnings for a key: every eighth of the budget after the first. */
export const DEFAULT_USAGE_WARNING_EVERY = 2 ** 29;

/** Where and when the per-key encryption counter warns (injectable so a test can reach it). */
export interface UsageWarning {
  first: number;
  every: number;
}

/** Why a payload could not be decoded. */
export type CodecFailure = 'unknown-key' | 'authentication' | 'malformed';

/** A payload this codec sealed cannot be opened: names the key ID and, for an unknown key, the ring's keys. */
export class PayloadCodecError extends Error {
  override readonly name = 'PayloadCodecError';
  constructor(
    readonly failure: CodecFailure,
    /** The key ID the payload names (undefined when it names none). */
    readonly keyId: string | undefined,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Options of {@link EncryptionCodec}. */
export interface EncryptionCodecOptions {
  keys: readonly CodecKey[];
  /** ID of the key that seals new payloads; must be one of `keys`. */
  current: string;
  /** Receives the usage warnings (default: `process.emitWarning`). */
  logger?: Pick<Logger, 'warn'>;
  usageWarning?: UsageWarning;
}

const text = (bytes: Uint8Array | null | undefined): string | undefined =>
  bytes ? Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8') : undefined;

/** The key ID a sealed payload names, or undefined for a payload this codec did not seal. */
export function keyIdOf(payload: Payload): string | undefined {
  if (text(payload.metadata?.[ENCODING_METADATA]) !== ENCRYPTED_ENCODING) return undefined;
  return text(payload.metadata?.[KEY_ID_METADATA]);
}

/** Whether this codec sealed the payload (by its `encoding`). */
export function isEncrypted(payload: Payload): boolean {
  return text(payload.metadata?.[ENCODING_METADATA]) === ENCRYPTED_ENCODING;
}

/** AES-256-GCM `PayloadCodec` over a key ring (module comment). */
export class EncryptionCodec implements PayloadCodec {
  private readonly keys: ReadonlyMap<string, CodecKey>;
  private readonly current: CodecKey;
  private readonly logger: Pick<Logger, 'warn'>;
  private readonly usageWarning: UsageWarning;
  private readonly counts = new Map<string, number>();
  private readonly nextWarning = new Map<string, number>();

  constructor(options: EncryptionCodecOptions) {
    const keys = new Map<string, CodecKey>();
    for (const key of options.keys) {
      if (keys.has(key.id)) throw new TypeError(`key id "${key.id}" is in the ring twice`);
      keys.set(key.id, key);
    }
    const current = keys.get(options.current);
    if (!current) {
      throw new TypeError(`current key "${options.current}" is not in the ring (${[...keys.keys()].join(', ') || 'no keys'})`);
    }
    const { first, every } = options.usageWarning ?? { first: DEFAULT_USAGE_WARNING_FIRST, every: DEFAULT_USAGE_WARNING_EVERY };
    if (!(Number.isSafeInteger(first) && first > 0 && Number.isSafeInteger(every) && every > 0)) {
      throw new TypeError(`usageWarning needs whole numbers above 0 (got first ${first}, every ${every})`);
    }
    this.keys = keys;
    this.current = current;
    this.usageWarning = { first, every };
    this.logger = options.logger ?? {
      warn: (message: string) => process.emitWarning(message, { code: 'CUTOVER_CODEC_KEY_USAGE' }),
    };
  }

  /** ID of the key that seals new payloads. */
  get currentKeyId(): string {
    return this.current.id;
  }

  /** IDs of every key that can open payloads, in ring order. */
  get keyIds(): string[] {
    return [...this.keys.keys()];
  }

  /** Payloads this process has sealed, per key ID. */
  usage(): Record<string, number> {
    return Object.fromEntries(this.counts);
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    // A payload already sealed (copied as it is from a history) is kept as it is, not sealed twice.
    return payloads.map((payload) => (isEncrypted(payload) ? payload : this.seal(payload)));
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    // Payloads written before encryption was turned on (or by a process without it) pass through.
    return payloads.map((payload) => (isEncrypted(payload) ? this.open(payload) : payload));
  }

  private seal(payload: Payload): Payload {
    const key = this.current;
    this.count(key.id);
    const plaintext = temporal.api.common.v1.Payload.encode(payload).finish();
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv(ALGORITHM, key.key, iv, { authTagLength: TAG_BYTES });
    const data = Buffer.concat([iv, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
    return {
      metadata: {
        [ENCODING_METADATA]: Buffer.from(ENCRYPTED_ENCODING),
        [KEY_ID_METADATA]: Buffer.from(key.id),
      },
      data,
    };
  }

  private open(payload: Payload): Payload {
    const keyId = text(payload.metadata?.[KEY_ID_METADATA]);
    if (keyId === undefined || keyId === '') {
      throw new PayloadCodecError(
        'malformed',
        undefined,
        `an encrypted payload (encoding ${ENCRYPTED_ENCODING}) has no ${KEY_ID_METADATA} metadata, so no key can open it`,
      );
    }
    const key = this.keys.get(keyId);
    if (!key) {
      throw new PayloadCodecError(
        'unknown-key',
        keyId,
        `payload is encrypted with key "${keyId}", which is not in the key ring (it has: ${this.keyIds.join(', ')}); ` +
          `add key "${keyId}" to codec.keys`,
      );
    }
    const data = payload.data ?? new Uint8Array();
    if (data.byteLength < IV_BYTES + TAG_BYTES) {
      throw new PayloadCodecError(
        'malformed',
        keyId,
        `payload encrypted with key "${keyId}" is ${data.byteLength} bytes, shorter than an IV and a tag (${IV_BYTES + TAG_BYTES})`,
      );
    }
    const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const decipher = createDecipheriv(ALGORITHM, key.key, bytes.subarray(0, IV_BYTES), { authTagLength: TAG_BYTES });
    decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
    let plaintext: Buffer;
    try {
      plaintext = Buffer.concat([decipher.update(bytes.subarray(IV_BYTES, bytes.length - TAG_BYTES)), decipher.final()]);
    } catch (err) {
      throw new PayloadCodecError(
        'authentication',
        keyId,
        `payload encrypted with key "${keyId}" failed authentication: it was altered after encryption, ` +
          `or the key with ID "${keyId}" (${key.source}) is not the key that sealed it`,
        { cause: err },
      );
    }
    try {
      return temporal.api.common.v1.Payload.decode(plaintext);
    } catch (err) {
      // Authenticated, so written by a holder of the key: a different format, not tampering.
      throw new PayloadCodecError('malformed', keyId, `payload encrypted with key "${keyId}" does not hold a Payload`, { cause: err });
    }
  }

  private count(keyId: string): void {
    const count = (this.counts.get(keyId) ?? 0) + 1;
    this.counts.set(keyId, count);
    const next = this.nextWarning.get(keyId) ?? this.usageWarning.first;
    if (count < next) return;
    this.nextWarning.set(keyId, next + this.usageWarning.every);
    this.logger.warn(
      `payload codec key "${keyId}" has encrypted ${count} payloads in this process; AES-GCM allows 2^32 per key ` +
        `across every process using it: add a new key to codec.keys and make it current (docs/design.md, "Payload encryption")`,
      { keyId, encryptions: count },
    );
  }
}
