/**
 * `renderStatus`: the cockpit's table, readable in 100 columns — per ring and unit: phase, route and
 * epoch, bake remaining, last gate with its value, open runs on each cluster, drain forecast; under
 * each unit what it waits for (pending approvals first) and its link in the Temporal UI. Pure.
 *
 * Hand-padded columns rather than cli-table3: fixed widths with ellipsis are all this needs, and a
 * borderless table keeps the 100-column budget for data.
 */
import { etaText, progressParts } from '../campaign/progress';
import type { CampaignStatus } from '../campaign/types';
import type { UnitStatus } from '../domain/migration';
import { rateText } from '../workflows/unit-view';
import type { CockpitStatus, UnitRow } from './status';

/** Column widths; with single-space gaps they add up to 99. Rings are header lines above their units. */
const COLUMNS = [
  ['UNIT', 30],
  ['PHASE', 12],
  ['ROUTE', 10],
  ['BAKE', 6],
  ['LAST GATE', 18],
  ['OPEN S/T', 9],
  ['DRAIN', 8],
] as const;

/** Options of `renderStatus`. */
export interface RenderOptions {
  /** The clock used for "remaining" columns. */
  now: Date;
  /** Line width (default 100). Links are never cut. */
  width?: number;
}

/** `42s`, `5m`, `1h20m`, `3d`: a short, human duration. */
export function shortDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${s % 60 && m < 10 ? `${s % 60}s` : ''}`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h${m % 60 ? `${m % 60}m` : ''}`;
  return `${Math.floor(h / 24)}d`;
}

function fit(text: string, width: number): string {
  return text.length <= width ? text.padEnd(width) : `${text.slice(0, width - 1)}…`;
}

function cut(text: string, width: number): string {
  return text.length <= width ? text : `${text.slice(0, width - 1)}…`;
}

const RESULT: Record<string, string> = { successful: 'ok', failed: 'FAIL', inconclusive: 'inconcl', error: 'ERR' };

/** `source e3`, `10% e4`, `hold e5`, `target e7`. */
export function routeCell(row: UnitRow): string {
  const r = row.status?.route;
  if (!r) return '-';
  const where = r.percent !== undefined ? `${r.percent}%` : r.hold ? 'hold' : (r.side ?? '?');
  return `${where} e${r.epoch}`;
}

function bakeCell(row: UnitRow, now: Date, campaign?: CampaignStatus): string {
  const s = row.status;
  if (!s) return '-';
  // Under a campaign the bake is the campaign's (the entity only waits for its advance).
  const step = campaign?.step;
  const until = step?.bakeUntil && step.units.includes(row.unit) ? step.bakeUntil : s.bakeUntil;
  if (until) {
    const left = Date.parse(until) - now.getTime();
    return left > 0 ? shortDuration(left) : '0s';
  }
  return s.waitingFor?.startsWith('baking') ? 'baking' : '-';
}

function gateValue(value: number | undefined): string {
  return value === undefined ? '' : ` ${Number.isInteger(value) ? value : value.toPrecision(3)}`;
}

/** Parts joined by ` · ` into lines of at most `width` (a part longer than that gets a line of its own). */
function packed(head: string, parts: readonly string[], width: number): string[] {
  const out: string[] = [];
  let line = head;
  let empty = true;
  for (const part of parts) {
    if (!empty && line.length + 3 + part.length > width) {
      out.push(line);
      line = ' '.repeat(head.length);
      empty = true;
    }
    line += empty ? part : ` · ${part}`;
    empty = false;
  }
  out.push(line);
  return out;
}

/** The campaign's lines: step and bake, progress, gates with values, then what waits for a human. */
export function campaignLines(view: CockpitStatus, now: Date, width = 100): string[] {
  const c = view.campaign.status;
  if (!c) return view.campaign.error ? [`campaign status unavailable: ${view.campaign.error}`] : [];
  const out: string[] = [];
  const step = c.step;
  const bake = step?.bakeUntil ? ` · bake ${shortDuration(Math.max(0, Date.parse(step.bakeUntil) - now.getTime()))} left` : '';
  const where = step
    ? `step ${step.n}/${c.stepsTotal} ${step.ring} batch ${step.batch}/${step.batches} ${step.kind}` +
      `${step.percent !== undefined ? ` ${step.percent}%` : ''}${bake}`
    : `${c.stepsTotal} steps`;
  out.push(`campaign${c.drill ? ' (drill)' : ''} ${c.phase}${c.paused ? ' (paused)' : ''} · ${where}`);
  if (c.progress) out.push(...packed('  progress: ', progressParts(c.progress, now.getTime()), width));
  if (c.gates.length > 0)
    out.push(`  gates: ${c.gates.map((g) => `${g.name} ${RESULT[g.status] ?? g.status}${gateValue(g.value)}`).join(' · ')}`);
  const a = c.approval;
  if (a && a.approvals.length < a.required && !a.consumedAt) {
    const left = a.expiresAt - now.getTime();
    out.push(
      `  APPROVAL PENDING ${a.binding.ring} step ${a.binding.step}: ${a.approvals.length} of ${a.required}` +
        `${left > 0 ? `, expires in ${shortDuration(left)}` : ', expired'} — cutover approve ${c.name}`,
    );
  }
  if (c.hold) out.push(`  HELD: ${c.hold.reason} — cutover resume ${c.name}, or cutover rollback ${c.name} --reason …`);
  if (c.pausedBy)
    out.push(`  PAUSED by ${c.pausedBy.actor}${c.pausedBy.reason ? `: ${c.pausedBy.reason}` : ''} — cutover resume ${c.name}`);
  return out;
}

function gateCell(row: UnitRow): string {
  const g = row.status?.gates[row.status.gates.length - 1];
  if (!g) return '-';
  const value = g.value !== undefined ? ` ${Number.isInteger(g.value) ? g.value : g.value.toPrecision(3)}` : '';
  return `${g.name} ${RESULT[g.result] ?? g.result}${value}`;
}

function drainCell(row: UnitRow, now: Date): string {
  const d = row.status?.drain;
  if (!d) return '-';
  if (d.lastOpen === 0) return 'done';
  if (d.forecastAt) return `~${shortDuration(Date.parse(d.forecastAt) - now.getTime())}`;
  const left = Date.parse(d.deadlineAt) - now.getTime();
  return left > 0 ? `dl${shortDuration(left)}` : 'late';
}

function phaseCell(row: UnitRow): string {
  if (row.workflow === 'not-started') return 'not started';
  if (!row.status) return '?';
  return row.status.paused ? `${row.status.phase}‖` : row.status.phase;
}

/**
 * The drain in words, while runs are left: `drain: 37 open on the source · falling 12.5 runs/min · empty in
 * ~3m · deadline in 8m`.
 */
export function drainLine(row: UnitRow, now: Date): string | undefined {
  const d = row.status?.drain;
  if (!d || d.lastOpen === undefined || d.lastOpen === 0) return undefined;
  const left = Date.parse(d.deadlineAt) - now.getTime();
  return [
    `drain: ${d.lastOpen} open on the ${d.side}`,
    d.ratePerMin !== undefined ? rateText(d.ratePerMin) : '',
    d.forecastAt ? `empty in ~${shortDuration(Date.parse(d.forecastAt) - now.getTime())}` : 'no forecast (not falling)',
    left > 0 ? `deadline in ${shortDuration(left)}` : 'deadline passed',
  ]
    .filter(Boolean)
    .join(' · ');
}

/**
 * What the unit waits for, most urgent first: approvals, failure, pause, the planner's wait; with `now`,
 * the drain's progress too.
 */
export function detailLines(row: UnitRow, now?: Date): string[] {
  const s = row.status;
  if (row.workflow === 'not-started') return ['not started — start the plan: cutover start <plan>'];
  const r = row.retrying;
  const retrying = r ? [`retrying ${r.activity} (attempt ${r.attempt})${r.lastFailure ? `: ${r.lastFailure}` : ''}`] : [];
  if (!s) return [`status unavailable: ${row.error ?? 'unknown'}`, ...retrying];
  const out: string[] = [];
  if (s.approval && !s.approval.approvedBy) {
    out.push(`APPROVAL PENDING: ${s.approval.kind} (${s.approval.count}) — cutover approve ${row.unit}`);
  }
  out.push(...reversibleLines(row.unit, s, now));
  if (s.failure)
    out.push(
      `FAILED in ${s.failure.phase} at ${s.failure.step} (${s.failure.type}): ${s.failure.message} — advance retries, rollback undoes`,
    );
  if (s.pausedBy)
    out.push(`PAUSED by ${s.pausedBy.actor}${s.pausedBy.reason ? `: ${s.pausedBy.reason}` : ''} — cutover resume ${row.unit}`);
  if (s.waitingFor) out.push(`waiting: ${s.waitingFor}`);
  const drain = now && drainLine(row, now);
  if (drain) out.push(drain);
  const h = s.handoffs;
  if (h?.length) {
    const to = (side: string) => h.filter((x) => x.to === side).length;
    out.push(
      `handoffs: ${to('target')} run(s) handed to the target with their state${to('source') ? `, ${to('source')} handed back` : ''}`,
    );
  }
  // Only a sweep that could not vouch for the current route is news: its starts still look at the other cluster.
  const sw = s.placementSweep;
  if (sw && !sw.marked && sw.epoch === s.route.epoch)
    out.push(`placement sweep at epoch ${sw.epoch} not marked: ${sw.reason ?? 'unknown'} — starts keep looking at the other cluster`);
  out.push(...retrying);
  const gate = s.gates[s.gates.length - 1];
  if (gate?.message && gate.result !== 'successful') out.push(`gate ${gate.name}: ${gate.message}`);
  if (s.counts.duplicates || s.counts.stranded) out.push(`duplicates ${s.counts.duplicates} · stranded ${s.counts.stranded}`);
  if (row.workflow === 'closed') out.push(`workflow closed in phase ${s.phase}`);
  return out;
}

/**
 * A completed unit's way back: `REVERSIBLE until … (in 23h)` with how to finalize or roll it back, a rollback
 * request waiting for approvals, or who finalized it.
 */
export function reversibleLines(unit: string, s: UnitStatus, now?: Date): string[] {
  const out: string[] = [];
  if (s.reversal) {
    const r = s.reversal;
    const left = now ? Date.parse(r.expiresAt) - now.getTime() : undefined;
    out.push(
      `ROLLBACK REQUESTED by ${r.requestedBy}${r.reason ? ` (${r.reason})` : ''}: ${r.approvals.length} of ${r.required} approvals` +
        `${r.approvals.length ? ` (${r.approvals.map((a) => a.actor).join(', ')})` : ''}` +
        `${left === undefined ? ` until ${r.expiresAt}` : left > 0 ? `, expires in ${shortDuration(left)}` : ', expired'}` +
        ` — cutover approve ${unit} (two operators other than ${r.requestedBy})`,
    );
  } else if (s.reversible) {
    const until = s.reversibleUntil;
    const when =
      until === undefined || until === 'finalize'
        ? 'until finalized'
        : `until ${until}${now ? ` (in ${shortDuration(Math.max(0, Date.parse(until) - now.getTime()))})` : ''}`;
    out.push(`REVERSIBLE ${when} — cutover finalize ${unit} makes it final; cutover rollback ${unit} --reason … asks two approvals`);
  }
  if (s.finalized) {
    const by = s.finalized.how === 'deadline' ? 'at its deadline' : `by ${s.finalized.actor}`;
    out.push(`final: finalized ${by} at ${s.finalized.at}`);
  }
  return out;
}

/** What a command's confirmation adds for a completed unit (a rollback request and its approvals), or ''. */
export function reversalLine(unit: string, s: UnitStatus): string {
  const r = s.reversal;
  if (!r) return s.reversible ? `; reversible ${s.reversibleUntil === 'finalize' ? 'until finalized' : `until ${s.reversibleUntil}`}` : '';
  return (
    `; rollback of the completed unit waits for approvals: ${r.approvals.length} of ${r.required}, until ${r.expiresAt} ` +
    `(\`cutover approve ${unit}\` by two operators other than ${r.requestedBy})`
  );
}

/** The units that are completed and can still be rolled back, for the campaign's lines. */
export function reversibleUnits(view: CockpitStatus): string[] {
  return view.units.filter((u) => u.status?.reversible).map((u) => u.unit);
}

/** A ring's progress for its header line (`· 2/5 units done · ETA 4m10s `), when the campaign reports it. */
function ringProgress(c: CampaignStatus | undefined, ring: string, now: Date): string {
  const r = c?.progress?.rings.find((x) => x.name === ring);
  if (!r) return '';
  const units = `· ${r.done}/${r.total} units done${r.failed ? `, ${r.failed} failed` : ''} `;
  return r.status === 'done' ? units : `${units}· ETA ${r.eta.known ? etaText(r.eta, now.getTime()) : 'unknown'} `;
}

/** The cockpit table as text (no trailing newline). */
export function renderStatus(view: CockpitStatus, opts: RenderOptions): string {
  const width = opts.width ?? 100;
  const lines: string[] = [];
  const campaign =
    view.campaign.workflow === 'not-started'
      ? 'no campaign workflow'
      : `campaign ${view.campaign.workflow}${view.campaign.phase ? ` (${view.campaign.phase})` : ''}`;
  lines.push(
    cut(
      `cutover ${view.plan}: ${view.source} → ${view.target} · ${campaign} · ${view.at.replace('T', ' ').replace(/\.\d+Z$/, 'Z')}`,
      width,
    ),
  );
  for (const l of campaignLines(view, opts.now, width)) lines.push(cut(l, width));
  const reversible = reversibleUnits(view);
  if (reversible.length > 0) lines.push(...packed('reversible (completed, not final): ', reversible, width));
  lines.push(
    COLUMNS.map(([h, w]) => fit(h, w))
      .join(' ')
      .trimEnd(),
  );
  let ring: string | undefined;
  for (const row of view.units) {
    if (row.ring !== ring) {
      const head = `── ring ${row.ring} ${ringProgress(view.campaign.status, row.ring, opts.now)}`;
      lines.push(cut(`${head}${'─'.repeat(Math.max(0, width - head.length))}`, width));
    }
    ring = row.ring;
    // A unit name wider than its column gets a line of its own: names are never cut.
    const unitWidth = COLUMNS[0][1];
    if (row.unit.length > unitWidth) lines.push(row.unit);
    const cells = [
      row.unit.length > unitWidth ? '' : row.unit,
      phaseCell(row),
      routeCell(row),
      bakeCell(row, opts.now, view.campaign.status),
      gateCell(row),
      row.status ? `${row.status.counts.sourceOpen}/${row.status.counts.targetOpen}` : '-',
      drainCell(row, opts.now),
    ];
    lines.push(
      cut(
        cells
          .map((c, i) => fit(c, COLUMNS[i]![1]))
          .join(' ')
          .trimEnd(),
        width,
      ),
    );
    for (const d of detailLines(row, opts.now)) lines.push(cut(`  ${d}`, width));
    lines.push(`  ${row.url}`);
  }
  if (view.campaign.workflow !== 'not-started') lines.push(`campaign: ${view.campaign.url}`);
  return lines.join('\n');
}
