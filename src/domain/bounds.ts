/**
 * Bounds on what signals put into a workflow's state (docs/design.md, "Bounds on signals and state").
 * A signal may carry up to Temporal's 2 MiB, and anyone with signal rights may send thousands: the state
 * carried through continue-as-new and the `status` query must stay far below the server's 2 MiB payload
 * limit. So free text taken from a signal is clipped, and every list that grows with commands keeps its
 * newest entries within a count and a byte budget, counting what it dropped. Pure, no imports: safe in
 * the workflow sandbox.
 */

/** Free text taken from a signal (a reason, a refusal's reason) keeps at most this many bytes of UTF-8. */
export const SIGNAL_TEXT_MAX_BYTES = 1024;
/** Names taken from a signal (an actor, a command ID as shown, a signal name) keep at most this many bytes. */
export const SIGNAL_NAME_MAX_BYTES = 128;
/** A signed command's body longer than this is refused (`too-large`): the audit log keeps bodies whole. */
export const SIGNED_BODY_MAX_BYTES = 4096;

/** A list's bound: at most `items` entries and `bytes` bytes of JSON (the newest entry is always kept). */
export interface ListBound {
  items: number;
  bytes: number;
}

/** An entity's history lines (`status.history`). */
export const HISTORY_BOUND: ListBound = { items: 200, bytes: 128 * 1024 };
/** A campaign's history lines. */
export const CAMPAIGN_HISTORY_BOUND: ListBound = { items: 300, bytes: 128 * 1024 };
/** Refused commands (`status.rejected`), on both workflows. */
export const REJECTED_BOUND: ListBound = { items: 100, bytes: 64 * 1024 };
/**
 * Audit records a workflow keeps in its state (the whole log is in the Redis stream). The newest are kept, and
 * a record leaves before it is mirrored only when more than this arrive between two mirrors (a burst of
 * commands, or Redis down): the stream then shows the gap.
 */
export const AUDIT_RECORDS_BOUND: ListBound = { items: 100, bytes: 128 * 1024 };
/**
 * Command IDs remembered for dedupe, oldest forgotten first: a retry sent after this many newer command IDs
 * is taken as new. IDs longer than SIGNAL_NAME_MAX_BYTES are remembered by their SHA-256 (71 bytes).
 */
export const REMEMBERED_COMMAND_IDS = 500;

/** Bytes of JSON the remembered command IDs take at most: each key (at most SIGNAL_NAME_MAX_BYTES) and a 32-digit digest, quoted. */
export const REMEMBERED_COMMAND_IDS_BYTES = REMEMBERED_COMMAND_IDS * (SIGNAL_NAME_MAX_BYTES + 3 + 32 + 3);

/**
 * The most the lists that signals grow weigh in a workflow's state (about 400 KiB): history, refusals, audit
 * records and remembered command IDs at their bounds. Everything else in the state grows with the plan or the
 * steps, never with signals.
 */
export const SIGNAL_STATE_MAX_BYTES =
  Math.max(HISTORY_BOUND.bytes, CAMPAIGN_HISTORY_BOUND.bytes) +
  REJECTED_BOUND.bytes +
  AUDIT_RECORDS_BOUND.bytes +
  REMEMBERED_COMMAND_IDS_BYTES;

/** What the bounds dropped or clipped so far (carried through continue-as-new; shown by `status`). */
export interface Truncated {
  /** History lines dropped (the oldest notes first; phase changes and the first line are kept longest). */
  history?: number;
  /** Refusals dropped from `rejected`. */
  rejected?: number;
  /** Command IDs forgotten (a resend of one is taken as new). */
  commandIds?: number;
  /** Audit records dropped from the state (they are in the Redis stream once mirrored). */
  auditRecords?: number;
  /** Text fields clipped. */
  clipped?: number;
}

/** Adds `n` to a counter of `t`. */
export function countTruncated(t: Truncated, key: keyof Truncated, n = 1): void {
  if (n > 0) t[key] = (t[key] ?? 0) + n;
}

/** Bytes of `s` in UTF-8 (a lone surrogate counts as the 3 bytes of its replacement character). */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

/** The marker a clipped text ends with: how long it was. */
export function clipMarker(bytes: number): string {
  return ` …[clipped: ${bytes} bytes]`;
}

/**
 * `s` within `maxBytes` of UTF-8: unchanged when it fits, else its longest prefix that leaves room for the
 * marker (never splitting a character), followed by the marker. `onClip` is called when it clipped.
 */
export function clipText(s: string, maxBytes: number, onClip?: () => void): string {
  const total = utf8Length(s);
  if (total <= maxBytes) return s;
  onClip?.();
  const marker = clipMarker(total);
  const room = Math.max(0, maxBytes - utf8Length(marker));
  let n = 0;
  let end = 0;
  while (end < s.length) {
    const c = s.charCodeAt(end);
    const pair = c >= 0xd800 && c <= 0xdbff && end + 1 < s.length && (s.charCodeAt(end + 1) & 0xfc00) === 0xdc00;
    const w = c < 0x80 ? 1 : c < 0x800 ? 2 : pair ? 4 : 3;
    if (n + w > room) break;
    n += w;
    end += pair ? 2 : 1;
  }
  return s.slice(0, end) + marker;
}

/** The free-text fields of a command payload and their bounds (fields compared to known values are not clipped). */
const CLIPPED_FIELDS: Readonly<Record<string, number>> = {
  actor: SIGNAL_NAME_MAX_BYTES,
  commandId: SIGNAL_NAME_MAX_BYTES,
  reason: SIGNAL_TEXT_MAX_BYTES,
};

/**
 * A command's payload as the state may keep it: `actor` and `commandId` clipped to SIGNAL_NAME_MAX_BYTES
 * (the ID is remembered whole, by digest when long), `reason` to SIGNAL_TEXT_MAX_BYTES. Fields a command is
 * checked against (ring, step, until, digests) stay exact: a long one fails its check, and the refusal's
 * reason is clipped where it is recorded. A non-object payload is returned as it is.
 */
export function clipPayload(payload: unknown, onClip?: () => void): unknown {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return payload;
  const out: Record<string, unknown> = { ...(payload as Record<string, unknown>) };
  for (const [k, max] of Object.entries(CLIPPED_FIELDS)) {
    const v = out[k];
    if (typeof v === 'string') out[k] = clipText(v, max, onClip);
  }
  return out;
}

/** Bytes of a value's JSON in UTF-8. */
export function jsonBytes(value: unknown): number {
  return utf8Length(JSON.stringify(value) ?? 'null');
}

/** Cached byte totals of bounded lists (not state: recomputed from the list whenever its length differs). */
const totals = new WeakMap<object, { length: number; bytes: number }>();

function totalBytes(list: readonly unknown[]): number {
  const cached = totals.get(list);
  if (cached && cached.length === list.length) return cached.bytes;
  let bytes = 0;
  for (const item of list) bytes += jsonBytes(item);
  totals.set(list, { length: list.length, bytes });
  return bytes;
}

/**
 * Appends `item` to `list`, then drops entries until the list is within `bound` (the new entry always
 * stays). `pick` chooses which entry to drop (default: the oldest); it returns an index below the last.
 * Returns how many entries were dropped.
 */
export function pushBounded<T>(list: T[], item: T, bound: ListBound, pick: (list: readonly T[]) => number = () => 0): number {
  let bytes = totalBytes(list) + jsonBytes(item);
  list.push(item);
  let dropped = 0;
  while (list.length > 1 && (list.length > bound.items || bytes > bound.bytes)) {
    const i = Math.min(Math.max(0, pick(list)), list.length - 2);
    bytes -= jsonBytes(list[i]);
    list.splice(i, 1);
    dropped++;
  }
  totals.set(list, { length: list.length, bytes });
  return dropped;
}
