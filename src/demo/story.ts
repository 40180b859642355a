/**
 * How the demo tells its story: campaign history entries as one line each, and the Temporal SDK's own
 * log kept out of the story (a file in the run directory; only errors reach the terminal).
 */
import * as fs from 'node:fs';
import { inspect } from 'node:util';
import { DefaultLogger, type LogEntry } from '@temporalio/worker';
import type { CampaignHistoryEntry, CampaignStatus, CampaignStep, StepKind } from '../campaign/types';

/**
 * One campaign history entry as a story line: `step 2/18, ring0-synthetic (namespace/payments): canary 50% reached`.
 * The entry's step is the prefix; the campaign's own notes often name the step too, so a leading
 * `step N` in the event is dropped rather than repeated. Campaign-wide events carry no step. A reason
 * the previous entry already gave (a gate failure, then the rollback it causes) is not given again,
 * unless the entry is an operator's command.
 */
export function campaignStoryLine(h: CampaignHistoryEntry, steps: readonly CampaignStep[], previous?: CampaignHistoryEntry): string {
  // An operator's command (it carries its ID) keeps its reason: two approvers may well give the same one.
  const command = (h.evidence as { commandId?: unknown } | undefined)?.commandId !== undefined;
  const repeated = !command && h.reason && previous?.reason && (h.reason.endsWith(previous.reason) || previous.reason.endsWith(h.reason));
  const why = h.reason && !repeated ? h.reason : undefined;
  if (h.step === undefined || /^campaign\b/.test(h.event)) return `${h.event}${why ? ` — ${why}` : ''}`;
  const step = steps.find((s) => s.n === h.step);
  const where = step ? `step ${h.step}/${steps.length}, ${step.ring} (${step.units.join(', ')})` : `step ${h.step}`;
  return `${where}: ${withoutStepPrefix(h.event, h.step)}${why ? ` — ${withoutStepPrefix(why, h.step)}` : ''}`;
}

/** Unit phases that are not a move in progress. */
const SETTLED = new Set(['pending', 'completed', 'rolled-back']);

/**
 * What a campaign that has said nothing new for `quietSec` is waiting on: its phase and step, this bake's
 * measurements and gate verdicts, and the units on the move (a long bake or rollback then reads as waiting, not hung).
 */
export function campaignQuietLine(c: CampaignStatus, quietSec: number): string {
  const step = c.step;
  const parts = [`${c.phase}${step ? ` at step ${step.n}/${c.stepsTotal}` : ''}, nothing new for ${quietSec} s`];
  if (c.phase === 'baking') {
    parts.push(`${c.measurements.length} gate measurement(s) this bake`);
    const gates = step ? c.gates.filter((g) => step.gates.includes(g.name)) : [];
    if (gates.length) parts.push(`gates ${gates.map((g) => `${g.name} ${g.status}`).join(', ')}`);
  }
  // The units on the move (neither waiting their turn nor settled), and what each waits for.
  for (const u of c.rings.flatMap((r) => r.units))
    if (u.phase && !SETTLED.has(u.phase)) parts.push(`${u.unit} ${u.phase}${u.waitingFor ? ` — ${u.waitingFor}` : ''}`);
  return parts.join('; ');
}

/** What a finished step of each kind did, in words; other kinds read `<kind> done`. */
const DONE: Partial<Record<StepKind, string>> = {
  prepare: 'prepared (preflight, provision, shadow)',
  complete: 'completed (drained, reconciled)',
  rollback: 'rolled back to the source (drill)',
};

/** `step 2: canary 50% reached` → `canary 50% reached`; `step 1 (prepare) done` → `prepared (preflight, provision, shadow)`. */
export function withoutStepPrefix(event: string, n: number): string {
  const m = new RegExp(`^step ${n}(?::\\s*|\\s+)(.*)$`).exec(event);
  if (!m) return event;
  const done = /^\((\w+)\) done$/.exec(m[1]!);
  if (done) return DONE[done[1] as StepKind] ?? `${done[1]} done`;
  // `step 2 (canary): probe failed` (a failure's reason) → `probe failed`: the prefix already says which step.
  return m[1]!.replace(/^\(\w+\):\s*/, '');
}

/** `text` without the lines that link to `base` (the live view when no UI runs). */
export function withoutLinksTo(text: string, base: string): string {
  return text
    .split('\n')
    .filter((l) => !l.includes(base))
    .join('\n');
}

/** An entry of the SDK log file: time, level, message and metadata (an error's stack keeps its lines). */
export function formatSdkLogEntry(e: LogEntry): string {
  const at = new Date(Number(e.timestampNanos / 1_000_000n)).toISOString();
  const meta = e.meta && Object.keys(e.meta).length ? ` ${inspect(e.meta, { breakLength: Infinity, depth: 4 })}` : '';
  return `${at} [${e.level}] ${e.message}${meta}\n`;
}

/** The SDK's logger for the demo: everything at INFO and above to `file`; errors also to `onError`, one line each. */
export function createSdkLog(file: string, onError: (line: string) => void): { logger: DefaultLogger; close(): void } {
  let fd: number | undefined = fs.openSync(file, 'a');
  const logger = new DefaultLogger('INFO', (e) => {
    // The SDK may still log while the demo shuts down: after close, entries are dropped.
    if (fd !== undefined) fs.writeSync(fd, formatSdkLogEntry(e));
    if (e.level === 'ERROR') onError(e.message.split('\n')[0]!);
  });
  return {
    logger,
    close: () => {
      if (fd !== undefined) fs.closeSync(fd);
      fd = undefined;
    },
  };
}
