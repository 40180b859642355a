/**
 * `cutover audit <unit>`: a unit's (or a campaign's) audit log, read from its Redis stream and completed
 * with the records the workflow holds that are not mirrored yet, then checked: the hash chain (an edited,
 * deleted, inserted or reordered record breaks it), the workflow's own head against the log, and every
 * signature against the key it names and the plan's operators.
 */
import { verifyChain, type AuditRecord, type ChainBreak } from '../audit/chain';
import type { AuditStream } from '../audit/stream';
import type { Plan } from '../config/types';
import { operatorKeysOf } from '../operators/policy';
import { verifySigned } from '../operators/signing';
import { FORCE_COMMAND } from '../workflows/route-watch-state';

/** The log and what the checks found. */
export interface AuditReport {
  unit: string;
  workflowId: string;
  records: AuditRecord[];
  /** Records only the workflow held (not mirrored yet). */
  fromWorkflow: number;
  /** Stream entries that do not parse. */
  unreadable: string[];
  breaks: ChainBreak[];
  /** Signatures that do not verify with the key they name, or name a key the plan does not list. */
  signatureProblems: { seq: number; problem: string }[];
  /** The workflow's head, when it answered. */
  head?: { seq: number; hash: string };
  /**
   * Every write of the unit's routing record as the routing store logged it, and whether the chain has
   * the same change: a write that is not in it was made outside the workflow (`route repair`, by hand).
   */
  routeWrites: {
    at: string;
    before: number;
    after: number;
    by?: string;
    reason?: string;
    /** Forced to the source (`cutover route <unit> source --force`): by whom, and whose key signed it. */
    forced?: { by: string; signedBy?: string };
    inChain: boolean;
  }[];
  ok: boolean;
}

/** One write of a routing record, from the store's route log. */
export interface RouteWrite {
  id: string;
  before: number;
  after: number;
  record?: { changedBy: string; reason?: string; changedAt: string; forced?: { by: string; signer?: { name: string } } };
}

/** What the workflow shows of its log (the status query's `audit`). */
export interface WorkflowAudit {
  seq: number;
  head: string;
  records: AuditRecord[];
}

/** Reads and checks a log. `workflow` is the workflow's own view, when it could be queried. */
export async function auditReport(opts: {
  /** The plan's operators: a signature by a key the plan no longer lists is noted. */
  operators?: Plan['operators'];
  unit: string;
  workflowId: string;
  stream: AuditStream;
  workflow?: WorkflowAudit;
  /** The unit's route log (src/routing/store.ts `routeLog`); none for a campaign. */
  routeLog?: readonly RouteWrite[];
}): Promise<AuditReport> {
  const { records: streamed, unreadable } = await opts.stream.read(opts.unit);
  const lastStreamed = streamed.reduce((m, r) => Math.max(m, typeof r.seq === 'number' ? r.seq : 0), 0);
  const tail = (opts.workflow?.records ?? []).filter((r) => r.seq > lastStreamed);
  const records = [...streamed, ...tail];
  const head = opts.workflow && opts.workflow.seq > 0 ? { seq: opts.workflow.seq, hash: opts.workflow.head } : undefined;
  const breaks = verifyChain(opts.workflowId, records, head);
  for (const id of unreadable) breaks.push({ seq: 0, problem: 'edited', detail: `stream entry ${id} is not a record` });
  const operators = operatorKeysOf(opts.operators);
  const signatureProblems: AuditReport['signatureProblems'] = [];
  for (const r of records) {
    // A forced route the unit adopted carries the operator's signed `route-force`: checked like a command's.
    const signer = r.kind === 'command' ? r.signer : r.kind === 'route' ? r.forced?.signer : undefined;
    if (!signer) continue;
    const command = r.kind === 'command' ? r.command : FORCE_COMMAND;
    // Re-verified with the key the record names (as it was when the command came), whatever roles or expiry.
    const v = verifySigned(
      { signature: { body: signer.body, sig: signer.sig } },
      [{ name: signer.name, publicKey: signer.publicKey, roles: ['operator', 'approver', 'controller'] }],
      {
        command,
        workflowId: opts.workflowId,
        runIds: [],
        runOptional: true,
        now: 0,
        roles: ['operator', 'approver', 'controller'],
      },
    );
    const bodyOk = v.ok || !['malformed', 'unknown-key', 'bad-signature', 'wrong-command', 'wrong-workflow'].includes(v.code);
    if (!bodyOk) signatureProblems.push({ seq: r.seq, problem: v.ok ? '' : v.reason });
    const listed = operators.find((o) => o.name === signer.name);
    if (operators.length > 0 && (!listed || listed.publicKey !== signer.publicKey))
      signatureProblems.push({ seq: r.seq, problem: `key of ${signer.name} is not the one the plan lists now (rotated, or never listed)` });
  }
  const chained = new Set(records.flatMap((r) => (r.kind === 'route' ? [r.after.epoch] : [])));
  const routeWrites = (opts.routeLog ?? []).map((w) => ({
    at: w.record?.changedAt ?? new Date(Number(w.id.split('-')[0])).toISOString(),
    before: w.before,
    after: w.after,
    ...(w.record ? { by: w.record.changedBy, reason: w.record.reason } : {}),
    ...(w.record?.forced
      ? { forced: { by: w.record.forced.by, ...(w.record.forced.signer ? { signedBy: w.record.forced.signer.name } : {}) } }
      : {}),
    inChain: chained.has(w.after),
  }));
  const ok = breaks.length === 0 && signatureProblems.every((p) => p.problem.startsWith('key of'));
  return {
    unit: opts.unit,
    workflowId: opts.workflowId,
    records,
    fromWorkflow: tail.length,
    unreadable,
    breaks,
    signatureProblems,
    ...(head ? { head } : {}),
    routeWrites,
    ok,
  };
}

/** One line per record, then the verdict. */
export function formatAudit(r: AuditReport, verify: boolean): string {
  const lines = r.records.map((x) => {
    const what =
      x.kind === 'command'
        ? `${x.verdict.padEnd(8)} ${x.command}${x.actor ? ` by ${x.actor}` : ''}${signedText(x)}` +
          `${x.code ? ` [${x.code}]` : ''}${x.reason ? `: ${x.reason}` : ''}`
        : x.kind === 'route'
          ? `route    epoch ${x.before.epoch} → ${x.after.epoch}: ${x.after.route} — ${x.reason}` +
            `${x.forced?.signer ? ` (signed ${x.forced.signer.name})` : ''}`
          : `gate     ${x.gate}: ${x.result}${x.value !== undefined ? ` (${x.value})` : ''}${x.message ? ` — ${x.message}` : ''}`;
    return `${String(x.seq).padStart(4)}  ${x.at}  ${what}`;
  });
  const out = [
    `audit log of ${r.unit} (${r.workflowId}): ${r.records.length} record(s)` +
      `${r.fromWorkflow ? `, ${r.fromWorkflow} not mirrored yet` : ''}`,
    ...lines,
  ];
  if (r.routeWrites.length > 0) {
    out.push(`routing record writes (the routing store's own log): ${r.routeWrites.length}`);
    for (const w of r.routeWrites)
      out.push(
        `      ${w.at}  epoch ${w.before} → ${w.after} by ${w.by ?? '?'}${w.reason ? `: ${w.reason}` : ''}` +
          `${w.forced ? ` [FORCED by ${w.forced.by}${w.forced.signedBy ? `, signed ${w.forced.signedBy}` : ', unsigned'}]` : ''}` +
          `${w.inChain ? '' : '  (outside the workflow: not in its chain)'}`,
      );
  }
  if (verify) {
    for (const b of r.breaks) out.push(`BREAK at ${b.seq}: ${b.problem}: ${b.detail}`);
    for (const p of r.signatureProblems) out.push(`${p.problem.startsWith('key of') ? 'note' : 'SIGNATURE'} at ${p.seq}: ${p.problem}`);
    out.push(
      r.ok
        ? `verified: chain intact${r.head ? ` up to the workflow's head (record ${r.head.seq})` : ''}, signatures valid`
        : 'NOT verified: see the lines above',
    );
  }
  return out.join('\n');
}

function signedText(x: Extract<AuditRecord, { kind: 'command' }>): string {
  if (x.signer) return ` (signed ${x.signer.name})`;
  return x.unsigned ? ` (${x.unsigned})` : '';
}
