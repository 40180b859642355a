/**
 * Calendar fields in meaning: cron strings and calendar specs expanded to the sets of values they
 * match, so `0 12 * * MON-FRI`, `{ hour: "12", dayOfWeek: "1,2,3,4,5" }` and the server's structured
 * calendar for either compare equal. Hand-written: no cron library here expands fields to
 * Temporal's calendar shape (seconds, named days, the year field, `?`).
 */

/** One calendar, each field the sorted set of values it matches; `year` undefined = every year. */
export interface ExpandedCalendar {
  second: number[];
  minute: number[];
  hour: number[];
  dayOfMonth: number[];
  month: number[];
  dayOfWeek: number[];
  year?: number[];
}

export type CalendarField = Exclude<keyof ExpandedCalendar, 'year'> | 'year';

const BOUNDS: Record<CalendarField, [number, number]> = {
  second: [0, 59],
  minute: [0, 59],
  hour: [0, 23],
  dayOfMonth: [1, 31],
  month: [1, 12],
  dayOfWeek: [0, 6],
  year: [1970, 2200],
};

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

/** Thrown for a cron or calendar field that cannot be read. */
export class CronParseError extends Error {
  override readonly name = 'CronParseError';
}

function value(field: CalendarField, token: string): number {
  const t = token.toLowerCase();
  if (field === 'month') {
    const i = MONTHS.findIndex((m) => t.startsWith(m));
    if (i >= 0 && !/^\d/.test(t)) return i + 1;
  }
  if (field === 'dayOfWeek') {
    const i = DAYS.findIndex((d) => t.startsWith(d));
    if (i >= 0 && !/^\d/.test(t)) return i;
  }
  if (!/^\d+$/.test(t))
    throw new CronParseError(`${field}: "${token}" is not a number${field === 'month' || field === 'dayOfWeek' ? ' or a name' : ''}`);
  return Number(t);
}

/** Expands one field written the cron way (`*`, `?`, `a-b`, `a-b/s`, `*\/s`, lists, names). */
export function expandField(field: CalendarField, text: string): number[] {
  const [lo, hi] = BOUNDS[field];
  const out = new Set<number>();
  for (const part of text.split(',')) {
    const p = part.trim();
    if (!p) throw new CronParseError(`${field}: empty list item in "${text}"`);
    const [rangeText, stepText] = p.split('/');
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!Number.isInteger(step) || step < 1) throw new CronParseError(`${field}: bad step in "${p}"`);
    let start: number;
    let end: number;
    if (rangeText === '*' || rangeText === '?') {
      start = lo;
      end = hi;
    } else if (rangeText.includes('-')) {
      const [a, b] = rangeText.split('-');
      start = value(field, a);
      end = value(field, b);
    } else {
      start = value(field, rangeText);
      end = stepText === undefined ? start : hi;
    }
    addRange(out, field, start, end, step);
  }
  return [...out].sort((a, b) => a - b);
}

/** Adds start..end by step, mapping day-of-week 7 to Sunday. */
export function addRange(out: Set<number>, field: CalendarField, start: number, end: number, step: number): void {
  const [lo, hi] = BOUNDS[field];
  const top = field === 'dayOfWeek' ? 7 : hi;
  for (const v of [start, end]) {
    if (v < lo || v > top) throw new CronParseError(`${field}: ${v} is outside ${lo}-${hi}`);
  }
  const last = end < start ? start : end;
  for (let v = start; v <= last; v += step) {
    const n = field === 'dayOfWeek' && v === 7 ? 0 : v;
    if (n < lo || n > hi) throw new CronParseError(`${field}: ${v} is outside ${lo}-${hi}`);
    out.add(n);
  }
}

const PREDEFINED: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

/** A cron string in meaning: its calendar, or its interval (`@every`), and its time zone. */
export type ParsedCron = { calendar: ExpandedCalendar; timezone?: string } | { intervalMs: number; phaseMs: number };

function durationMs(text: string): number {
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/g;
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
  let total = 0;
  let matched = '';
  for (const m of text.matchAll(re)) {
    total += Number(m[1]) * unit[m[2]];
    matched += m[0];
  }
  if (!matched || matched !== text) throw new CronParseError(`"${text}" is not a duration like 1h30m`);
  return total;
}

/**
 * Parses a cron string as Temporal reads it: optional `CRON_TZ=`/`TZ=` prefix, `# comment` suffix,
 * `@every <dur>[/<offset>]`, the `@daily` family, and 5 (min…dow), 6 (sec…dow) or 7 (sec…year) fields.
 */
export function parseCron(input: string): ParsedCron {
  let text = input.replace(/#.*$/, '').trim();
  let timezone: string | undefined;
  const tz = /^(?:CRON_TZ|TZ)=(\S+)\s+/.exec(text);
  if (tz) {
    timezone = tz[1];
    text = text.slice(tz[0].length).trim();
  }
  if (text.startsWith('@every ')) {
    const [every, phase] = text.slice(7).trim().split('/');
    return { intervalMs: durationMs(every), phaseMs: phase ? durationMs(phase) : 0 };
  }
  if (PREDEFINED[text]) text = PREDEFINED[text];
  const f = text.split(/\s+/);
  let fields: { second: string; minute: string; hour: string; dom: string; month: string; dow: string; year?: string };
  if (f.length === 5) fields = { second: '0', minute: f[0], hour: f[1], dom: f[2], month: f[3], dow: f[4] };
  else if (f.length === 6) fields = { second: f[0], minute: f[1], hour: f[2], dom: f[3], month: f[4], dow: f[5] };
  else if (f.length === 7) fields = { second: f[0], minute: f[1], hour: f[2], dom: f[3], month: f[4], dow: f[5], year: f[6] };
  else throw new CronParseError(`"${input}" has ${f.length} fields; expected 5, 6 or 7`);
  return {
    calendar: {
      second: expandField('second', fields.second),
      minute: expandField('minute', fields.minute),
      hour: expandField('hour', fields.hour),
      dayOfMonth: expandField('dayOfMonth', fields.dom),
      month: expandField('month', fields.month),
      dayOfWeek: expandField('dayOfWeek', fields.dow),
      year: fields.year === undefined || fields.year === '*' ? undefined : expandField('year', fields.year),
    },
    timezone,
  };
}
