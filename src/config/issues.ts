/** Plan problems: their paths, the error that carries them, and their human rendering. */
import type { PlanIssue } from './types';

/** One segment of a path into the plan: a key or a list index. */
export type PathSegment = string | number;

/** A problem before it is given a printable path and a source position. */
export interface RawIssue {
  path: PathSegment[];
  message: string;
  hint: string;
  /** Point at the key itself (unknown keys, bad names) rather than at its value. */
  atKey?: boolean;
}

/** Path of the file itself (unreadable, YAML syntax) and of the whole document. */
export const FILE_PATH = '(file)';
export const ROOT_PATH = '(root)';

/** A value as quoted in a message: short, and safe for any input (cycles, huge lists). */
export function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value);
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object' && value !== null) return 'a mapping';
  return String(value);
}

const PLAIN_KEY = /^[A-Za-z_$][A-Za-z0-9_$-]*$/;

/** `['rings', 2, 'units', 0]` → `rings[2].units[0]`; odd keys are quoted: `clusters["a.b"].address`. */
export function formatPath(path: readonly PathSegment[]): string {
  if (path.length === 0) return ROOT_PATH;
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (PLAIN_KEY.test(segment)) out += out === '' ? segment : `.${segment}`;
    else out += `[${JSON.stringify(segment)}]`;
  }
  return out;
}

/** Thrown by `parsePlan` / `loadPlan` with every problem of the plan. */
export class PlanError extends Error {
  override readonly name = 'PlanError';
  constructor(
    readonly issues: PlanIssue[],
    readonly filename?: string,
  ) {
    const count = issues.length === 1 ? '1 problem' : `${issues.length} problems`;
    super(`invalid plan${filename ? ` ${filename}` : ''} (${count}):\n${formatIssues(issues, filename)}`);
  }
}

/**
 * One line per issue: `examples/bad.yaml:12:5  rings[2].units[0]: unknown unit "tenant/x/y" — fix: …`.
 * The location is as much of `file:line:column` as is known. `label` names the hint (`fix` for problems,
 * `advice` for warnings).
 */
export function formatIssues(issues: readonly PlanIssue[], filename?: string, label = 'fix'): string {
  return issues
    .map((issue) => {
      const where = [filename, issue.line, issue.line !== undefined ? issue.column : undefined]
        .filter((part) => part !== undefined && part !== '')
        .join(':');
      return `${where ? `${where}  ` : ''}${issue.path}: ${issue.message} — ${label}: ${issue.hint}`;
    })
    .join('\n');
}
