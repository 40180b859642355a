/**
 * Signed operator commands (pure, deterministic, sandbox-safe: no Node modules, no clock, no randomness).
 * An operator signs the whole command with an Ed25519 key; the workflows verify it with the plan's public
 * keys. The signed text travels as it was signed (`body`, JSON), so nothing has to be canonicalised
 * twice and a change to any byte breaks the signature. Ed25519 is @noble/curves: pure JavaScript and
 * audited, so verification replays identically inside the workflow sandbox.
 */
import { ed25519 } from '@noble/curves/ed25519';
import { sha256 } from '@noble/hashes/sha2';
import { bytesToHex, hexToBytes, utf8ToBytes } from '@noble/hashes/utils';

/**
 * What a key may do. `operator`: advance, resume, start; `approver`: approve; `controller`: the cutover worker
 * signing a campaign's commands to its units.
 */
export type Role = 'operator' | 'approver' | 'controller';
export const ROLES: readonly Role[] = ['operator', 'approver', 'controller'];

/** A public key as the plan writes it: `ed25519:` and 64 hex digits. */
export const PUBLIC_KEY_RE = /^ed25519:[0-9a-f]{64}$/;

/** An operator as the workflows know them (from the plan's `operators`). */
export interface OperatorKey {
  name: string;
  publicKey: string;
  roles: Role[];
}

/** The signed content of a command. Every field is covered by the signature. */
export interface SignedBody {
  v: 1;
  /** The operator's name in the plan; the key must be the one the plan lists under it. */
  by: string;
  /** The signal name (`advance`, `approve`, …) or `start`. */
  command: string;
  commandId: string;
  /** The workflow the command is for. */
  workflowId: string;
  /** The run it is for (the chain's first run or the current one); absent only for a campaign's own commands to its units. */
  runId?: string;
  /** Everything else the command says: reason, until, ring, step, epoch, the units or runs it covers, the campaign. */
  args: Record<string, unknown>;
  /** ms since the epoch. */
  issuedAt: number;
  expiresAt: number;
}

/** A signed command as it travels in a signal payload (`signature`) or a workflow input. */
export interface SignedEnvelope {
  /** JSON of a `SignedBody`, exactly the bytes that were signed. */
  body: string;
  /** Hex of the 64-byte Ed25519 signature. */
  sig: string;
}

/** Why a signed command was refused (assert on the code, not on the text). */
export type SignatureRefusal =
  | 'unsigned'
  | 'malformed'
  | 'unknown-key'
  | 'bad-signature'
  | 'wrong-command'
  | 'wrong-workflow'
  | 'wrong-run'
  | 'expired'
  | 'too-long'
  | 'role'
  /** The signed body is longer than the workflow keeps (domain/bounds.ts SIGNED_BODY_MAX_BYTES). */
  | 'too-large';

export type VerifyOutcome =
  { ok: true; body: SignedBody; operator: OperatorKey } | { ok: false; code: SignatureRefusal; reason: string; by?: string };

/** The longest a signature may live: a command signed for later is a command someone can replay later. */
export const MAX_SIGNATURE_TTL_MS = 24 * 60 * 60 * 1000;

/** JSON with object keys sorted at every level: one text per value (digests, audit hashes). */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v === undefined ? null : v)).join(',')}]`;
  const entries = Object.keys(value as Record<string, unknown>)
    .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
  return `{${entries.join(',')}}`;
}

/** SHA-256 hex of a text. */
export function sha256Hex(text: string): string {
  return bytesToHex(sha256(utf8ToBytes(text)));
}

/** The digest of a value (its canonical JSON): what an approval of "these units" or "these runs" binds to. */
export function digestOf(value: unknown): string {
  return sha256Hex(canonicalJson(value));
}

/** The public key (`ed25519:<hex>`) of a 32-byte secret key. */
export function publicKeyOf(secretKey: Uint8Array): string {
  return `ed25519:${bytesToHex(ed25519.getPublicKey(secretKey))}`;
}

/** Signs a body with a secret key. */
export function signBody(body: SignedBody, secretKey: Uint8Array): SignedEnvelope {
  const text = JSON.stringify(body);
  return { body: text, sig: bytesToHex(ed25519.sign(utf8ToBytes(text), secretKey)) };
}

/** True when the value looks like an envelope (the signal carried one, well formed or not). */
export function hasEnvelope(payload: unknown): boolean {
  return typeof payload === 'object' && payload !== null && (payload as { signature?: unknown }).signature !== undefined;
}

function parseBody(text: string): SignedBody | string {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return 'signature.body: not JSON';
  }
  if (typeof raw !== 'object' || raw === null) return 'signature.body: not an object';
  const b = raw as Record<string, unknown>;
  if (b.v !== 1) return 'signature.body.v: unknown version; sign with this cutover';
  for (const k of ['by', 'command', 'commandId', 'workflowId'] as const)
    if (typeof b[k] !== 'string' || b[k] === '') return `signature.body.${k}: required non-empty string`;
  if (b.runId !== undefined && typeof b.runId !== 'string') return 'signature.body.runId: must be a string';
  for (const k of ['issuedAt', 'expiresAt'] as const)
    if (typeof b[k] !== 'number' || !Number.isFinite(b[k])) return `signature.body.${k}: required number (ms since the epoch)`;
  if (typeof b.args !== 'object' || b.args === null || Array.isArray(b.args)) return 'signature.body.args: required object';
  return raw as SignedBody;
}

/** What a verification expects of the command. */
export interface VerifyExpect {
  command: string;
  workflowId: string;
  /** Run IDs the command may name (the chain's first run, the current run); a body without a run ID is accepted only with `runOptional`. */
  runIds: readonly string[];
  runOptional?: boolean;
  /** The workflow's time (ms). */
  now: number;
  /** Roles any one of which the signer must hold. */
  roles: readonly Role[];
}

/**
 * Verifies a payload's `signature` against the operators: a known key, an intact signature, the right
 * command, workflow and run, not expired, and a role that may send it. Never throws.
 */
export function verifySigned(payload: unknown, operators: readonly OperatorKey[], expect: VerifyExpect): VerifyOutcome {
  const refuse = (code: SignatureRefusal, reason: string, by?: string): VerifyOutcome => ({
    ok: false,
    code,
    reason,
    ...(by ? { by } : {}),
  });
  const env = typeof payload === 'object' && payload !== null ? (payload as { signature?: unknown }).signature : undefined;
  if (env === undefined)
    return refuse(
      'unsigned',
      `signature: ${expect.command} needs a signature by a key with role ${expect.roles.join(' or ')}; ` +
        'send it with the cutover CLI and --key <file> (or $CUTOVER_KEY)',
    );
  if (typeof env !== 'object' || env === null) return refuse('malformed', 'signature: expected { body, sig }');
  const { body: text, sig } = env as Record<string, unknown>;
  if (typeof text !== 'string' || typeof sig !== 'string' || !/^[0-9a-f]{128}$/.test(sig))
    return refuse('malformed', 'signature: expected { body: <signed JSON>, sig: <128 hex digits> }');
  const body = parseBody(text);
  if (typeof body === 'string') return refuse('malformed', body);
  const operator = operators.find((o) => o.name === body.by);
  if (!operator)
    return refuse('unknown-key', `signature: "${body.by}" is not an operator of the plan; add its public key under operators`, body.by);
  let valid = false;
  try {
    valid = ed25519.verify(hexToBytes(sig), utf8ToBytes(text), hexToBytes(operator.publicKey.slice('ed25519:'.length)));
  } catch {
    valid = false;
  }
  if (!valid) return refuse('bad-signature', `signature: does not verify with ${body.by}'s key in the plan (forged or altered)`, body.by);
  if (body.command !== expect.command)
    return refuse('wrong-command', `signature: signed for ${body.command}, sent as ${expect.command}`, body.by);
  if (body.workflowId !== expect.workflowId)
    return refuse('wrong-workflow', `signature: signed for ${body.workflowId}, not this workflow (${expect.workflowId})`, body.by);
  if (body.runId === undefined ? !expect.runOptional : !expect.runIds.includes(body.runId))
    return refuse(
      'wrong-run',
      `signature: signed for run ${body.runId ?? '(none)'}, this workflow is run ${expect.runIds[expect.runIds.length - 1]}; ` +
        'sign again against the current run',
      body.by,
    );
  if (body.expiresAt - body.issuedAt > MAX_SIGNATURE_TTL_MS)
    return refuse('too-long', 'signature: valid for more than 24 h; sign with a shorter --expires-in', body.by);
  if (expect.now >= body.expiresAt)
    return refuse(
      'expired',
      `signature: expired at ${new Date(body.expiresAt).toISOString()}; sign the command again (--expires-in for longer)`,
      body.by,
    );
  if (!operator.roles.some((r) => expect.roles.includes(r)))
    return refuse(
      'role',
      `signature: ${body.by} has role(s) ${operator.roles.join(', ') || '(none)'}; ${expect.command} needs ${expect.roles.join(' or ')}`,
      body.by,
    );
  return { ok: true, body, operator };
}
