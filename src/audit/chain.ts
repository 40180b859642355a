/**
 * The audit log of a unit or a campaign: a hash chain (pure, sandbox-safe). Each record carries the hash
 * of the one before, and its own hash covers its content and that link, so an edited, deleted, inserted
 * or reordered record breaks the chain from there on. The first record links to a hash of the workflow
 * ID, so a record copied from another unit's log breaks it too.
 *
 * The workflow keeps the head and its latest records (its state must stay small); the whole log is
 * mirrored to an append-only Redis stream (./stream.ts), where `cutover audit --verify` checks it.
 */
import { AUDIT_RECORDS_BOUND, pushBounded } from '../domain/bounds';
import { canonicalJson, sha256Hex } from '../operators/signing';

/** Records the workflow keeps (older ones live in the Redis stream); also at most AUDIT_RECORDS_BOUND.bytes of them. */
export const AUDIT_KEPT = AUDIT_RECORDS_BOUND.items;

/** What a record says, by kind. */
export type AuditEntry =
  | {
      kind: 'command';
      command: string;
      verdict: 'accepted' | 'refused' | 'no-op';
      actor?: string;
      commandId?: string;
      reason?: string;
      /** Why it was refused (a code such as `bad-signature`, `self-approval`, `replayed`). */
      code?: string;
      /** The signature as received: re-verified by `cutover audit --verify`. */
      signer?: { name: string; publicKey: string; body: string; sig: string };
      /** A safe command taken without a (valid) signature. */
      unsigned?: string;
    }
  | {
      kind: 'route';
      before: { epoch: number; route: string };
      after: { epoch: number; route: string };
      reason: string;
      /** A route an operator forced to the source, as its record carries it (who, why, when, their signature). */
      forced?: { by: string; reason: string; at: string; signer?: { name: string; publicKey: string; body: string; sig: string } };
    }
  | { kind: 'gate'; gate: string; result: string; value?: number; message?: string };

/** A record as stored: the entry, its place, its time and the chain links. */
export type AuditRecord = AuditEntry & { seq: number; at: string; prev: string; hash: string };

/** The log as the workflow carries it (plain JSON). */
export interface AuditLog {
  /** Records appended so far (the last one's `seq`). */
  seq: number;
  /** Hash of the last record (the genesis hash when empty). */
  head: string;
  /** The latest records, at most AUDIT_KEPT and AUDIT_RECORDS_BOUND.bytes (`seq` minus their count were dropped). */
  records: AuditRecord[];
  /** Records up to this `seq` are in the Redis stream. */
  mirrored: number;
  /**
   * Mirrored when the unit waits or ends (runs begun on this code), not before every step: the records of a
   * run of steps go in one call. They are in the workflow's state, durable, meanwhile.
   */
  atWaits?: true;
}

/** The hash the first record links to. */
export function genesisHash(workflowId: string): string {
  return sha256Hex(`cutover-audit-v1:${workflowId}`);
}

/** The hash of a record: everything but `hash` itself. */
export function recordHash(record: Omit<AuditRecord, 'hash'> | AuditRecord): string {
  const { hash: _, ...rest } = record as AuditRecord;
  return sha256Hex(canonicalJson(rest));
}

export function emptyAuditLog(workflowId: string, atWaits = false): AuditLog {
  return { seq: 0, head: genesisHash(workflowId), records: [], mirrored: 0, ...(atWaits ? { atWaits: true as const } : {}) };
}

/** Appends an entry at `at` (ISO); returns the record. */
export function appendAudit(log: AuditLog, entry: AuditEntry, at: string): AuditRecord {
  const base = { ...dropUndefined(entry), seq: log.seq + 1, at, prev: log.head } as Omit<AuditRecord, 'hash'>;
  const record = { ...base, hash: recordHash(base) } as AuditRecord;
  log.seq = record.seq;
  log.head = record.hash;
  pushBounded(log.records, record, AUDIT_RECORDS_BOUND);
  return record;
}

/**
 * How long (ms) the records not yet in the stream may still wait for the next mirror, from the oldest of them
 * (≤ 0: mirror now); undefined when every record is mirrored. A unit that moves on within the grace takes its
 * records to a later wait, so a run of quick steps and short waits costs one mirror, and the stream lags the
 * workflow by about the grace at most.
 */
export function mirrorGraceLeft(log: AuditLog, now: number, graceMs: number): number | undefined {
  if (log.seq <= log.mirrored) return undefined;
  const oldest = unmirrored(log)[0];
  const at = oldest ? Date.parse(oldest.at) : Number.NaN;
  return Number.isFinite(at) ? graceMs - (now - at) : 0;
}

/** Records not yet in the stream. */
export function unmirrored(log: AuditLog): AuditRecord[] {
  return log.records.filter((r) => r.seq > log.mirrored);
}

/** One break of the chain. */
export interface ChainBreak {
  seq: number;
  problem: 'edited' | 'missing' | 'reordered' | 'wrong-link' | 'signature' | 'head';
  detail: string;
}

/**
 * Checks a whole log from its first record: hashes, links and order. `head`, when known (the workflow's
 * own), must match the record with its `seq` — so records cut from the end are noticed too.
 */
export function verifyChain(workflowId: string, records: readonly AuditRecord[], head?: { seq: number; hash: string }): ChainBreak[] {
  const breaks: ChainBreak[] = [];
  let prev = genesisHash(workflowId);
  let expectSeq = 1;
  for (const r of records) {
    if (r.seq !== expectSeq) {
      if (r.seq < expectSeq)
        breaks.push({ seq: r.seq, problem: 'reordered', detail: `record ${r.seq} comes after record ${expectSeq - 1}` });
      else breaks.push({ seq: expectSeq, problem: 'missing', detail: `records ${expectSeq}..${r.seq - 1} are missing` });
    }
    if (recordHash(r) !== r.hash)
      breaks.push({ seq: r.seq, problem: 'edited', detail: `record ${r.seq}'s content does not match its hash` });
    else if (r.prev !== prev)
      breaks.push({ seq: r.seq, problem: 'wrong-link', detail: `record ${r.seq} does not link to the record before it` });
    prev = r.hash;
    expectSeq = r.seq + 1;
  }
  if (head && head.seq > 0) {
    const at = records.find((r) => r.seq === head.seq);
    const last = records[records.length - 1];
    if (at && at.hash !== head.hash)
      breaks.push({ seq: head.seq, problem: 'head', detail: `record ${head.seq} differs from the workflow's own head` });
    else if (!at && (last?.seq ?? 0) > head.seq)
      breaks.push({ seq: head.seq, problem: 'head', detail: `the workflow's head (record ${head.seq}) is not in the log` });
  }
  return breaks;
}

function dropUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
