/**
 * Command IDs as the workflows remember them (pure, sandbox-safe): a bounded list of keys, oldest
 * forgotten first, each with the digest of the command that used it, so a retry (same ID, same command)
 * stays a silent no-op while the same ID carrying another command is refused (`reused-command-id`).
 */
import { REMEMBERED_COMMAND_IDS, SIGNAL_NAME_MAX_BYTES, utf8Length } from '../domain/bounds';
import { canonicalJson, sha256Hex } from './signing';

/** The part of a workflow's state that remembers command IDs (plain JSON, carried through continue-as-new). */
export interface RememberedCommands {
  /** Keys of the command IDs seen (see `commandKey`), oldest first. */
  seenCommandIds: string[];
  /**
   * The digest of the command each key of `seenCommandIds` stood for, at the same index; '' when not known
   * (IDs remembered before digests were kept are taken as retries). Absent on state recorded before it existed.
   */
  seenCommandDigests?: string[];
}

/** The key an ID is remembered by: the ID itself, or `sha256:<hex>` for one longer than SIGNAL_NAME_MAX_BYTES. */
export function commandKey(id: string): string {
  return utf8Length(id) <= SIGNAL_NAME_MAX_BYTES ? id : `sha256:${sha256Hex(id)}`;
}

/**
 * The digest of a command: its name and its payload as taken (the signed body's command when signed, so a
 * re-signed retry has the digest of the first; the workflows pass it with its free text clipped), without
 * the signature envelope.
 */
export function commandDigest(name: string, payload: unknown): string {
  const p =
    typeof payload === 'object' && payload !== null && !Array.isArray(payload)
      ? Object.fromEntries(Object.entries(payload as Record<string, unknown>).filter(([k]) => k !== 'signature'))
      : payload;
  return sha256Hex(canonicalJson({ name, payload: p ?? null })).slice(0, 32);
}

/** What an ID's earlier use says about this command: unseen, a retry of the same command, or another command. */
export function priorUse(state: RememberedCommands, id: string, digest: string): 'unseen' | 'retry' | 'other' {
  const i = state.seenCommandIds.lastIndexOf(commandKey(id));
  if (i < 0) return 'unseen';
  const before = state.seenCommandDigests?.[i];
  return !before || before === digest ? 'retry' : 'other';
}

/** True when the ID was seen (whatever command it carried). */
export function wasSeen(state: RememberedCommands, id: string): boolean {
  return state.seenCommandIds.includes(commandKey(id));
}

/**
 * Remembers an ID with its command's digest ('' when unknown); forgets the oldest beyond
 * REMEMBERED_COMMAND_IDS. Returns how many it forgot.
 */
export function rememberCommand(state: RememberedCommands, id: string, digest: string, max = REMEMBERED_COMMAND_IDS): number {
  // Digests line up with the IDs: state carried from before digests existed gets '' for its old IDs.
  const digests = (state.seenCommandDigests ??= []);
  while (digests.length < state.seenCommandIds.length) digests.unshift('');
  if (digests.length > state.seenCommandIds.length) digests.splice(0, digests.length - state.seenCommandIds.length);
  state.seenCommandIds.push(commandKey(id));
  digests.push(digest);
  const over = Math.max(0, state.seenCommandIds.length - max);
  if (over > 0) {
    state.seenCommandIds.splice(0, over);
    digests.splice(0, over);
  }
  return over;
}
