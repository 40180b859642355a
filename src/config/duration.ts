/** Durations in the plan file: `500ms`, `30s`, `10m`, `1h`, `2d`, or a number of milliseconds. */

/** The accepted forms, for hints. */
export const DURATION_FORMS = '500ms, 30s, 10m, 1h, 2d, or a whole number of milliseconds';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION_RE = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;

/** Milliseconds of a plan duration, or undefined when it is not one of the accepted forms. */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return parseDuration(Number(text));
  const match = DURATION_RE.exec(text);
  if (!match) return undefined;
  // Decimals are allowed (`1.5s`) as long as the result is a whole number of milliseconds; the
  // rounding absorbs binary floating-point noise such as 1.1 * 1000 = 1100.0000000000002.
  const exact = Number(match[1]) * UNIT_MS[match[2]];
  const ms = Math.round(exact);
  if (Math.abs(exact - ms) > 1e-6 || !Number.isSafeInteger(ms)) return undefined;
  return ms;
}

/** The shortest exact plan-file form of a duration in milliseconds (`90000` → `90s`). */
export function formatDuration(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    if (ms !== 0 && ms % UNIT_MS[unit] === 0) return `${ms / UNIT_MS[unit]}${unit}`;
  }
  return `${ms}ms`;
}
