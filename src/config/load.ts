/** Reading plans from text and files: YAML or JSON (JSON is YAML), with line and column on every issue. */
import { readFileSync } from 'node:fs';
import * as nodePath from 'node:path';
import { readFile } from 'node:fs/promises';
import { type Document, isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';
import { FILE_PATH, type PathSegment, PlanError, type RawIssue } from './issues';
import type { Plan, PlanIssue, PlanValidation } from './types';
import { checkPlan, toPlanIssue, validatePlan } from './validate';
import { planWarnings } from './warnings';

type Position = { line: number; column: number };

/** The node at `path` (or the deepest existing ancestor), and its source position. */
function locate(doc: Document, counter: LineCounter, path: readonly PathSegment[], atKey: boolean): Position | undefined {
  let node: unknown = doc.contents;
  let keyNode: unknown;
  let complete = true;
  for (const segment of path) {
    if (isAlias(node)) node = node.resolve(doc);
    if (isMap(node)) {
      const pair = node.items.find((item) => String(isScalar(item.key) ? item.key.value : item.key) === String(segment));
      if (!pair) {
        complete = false;
        break;
      }
      keyNode = pair.key;
      // `address:` with nothing after it has no value node: point at the key.
      node = pair.value ?? pair.key;
    } else if (isSeq(node) && typeof segment === 'number' && node.items[segment] !== undefined) {
      keyNode = undefined;
      node = node.items[segment];
    } else {
      complete = false;
      break;
    }
  }
  const target = atKey && complete && keyNode ? keyNode : node;
  const range = (target as { range?: [number, number, number] } | null)?.range;
  if (!range) return undefined;
  const { line, col } = counter.linePos(range[0]);
  return { line, column: col };
}

/**
 * The plan with its relative file paths (`tls.*Path`, `apiKeyFile`, `redis.caPath`, `codec.keys[].file`)
 * made absolute against the directory of `planFile`, so a plan means the same files whatever the current
 * directory. Absolute paths are kept, so a resolved plan resolves to itself.
 */
export function resolvePlanPaths(plan: Plan, planFile: string): Plan {
  const base = nodePath.dirname(nodePath.resolve(planFile));
  const abs = (p: string | undefined) => (p === undefined ? undefined : nodePath.resolve(base, p));
  const clusters = Object.fromEntries(
    Object.entries(plan.clusters).map(([name, c]) => {
      const out = { ...c };
      if (c.tls) {
        const tls = { ...c.tls };
        for (const key of ['clientCertPath', 'clientKeyPath', 'serverRootCACertPath'] as const) {
          if (tls[key] !== undefined) tls[key] = abs(tls[key]);
        }
        out.tls = tls;
      }
      if (c.apiKeyFile !== undefined) out.apiKeyFile = abs(c.apiKeyFile);
      return [name, out];
    }),
  );
  const redis = plan.redis.caPath !== undefined ? { ...plan.redis, caPath: abs(plan.redis.caPath) } : plan.redis;
  const resolved: Plan = { ...plan, clusters, redis };
  if (plan.codec) {
    resolved.codec = {
      ...plan.codec,
      keys: plan.codec.keys.map((key) => (key.file !== undefined ? { ...key, file: abs(key.file) } : key)),
    };
  }
  return resolved;
}

/** Validates plan text (YAML or JSON); never throws. With `filename`, relative paths resolve against its directory. */
export function validatePlanText(text: string, filename?: string): PlanValidation {
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter, prettyErrors: false, logLevel: 'error' });
  if (doc.errors.length) {
    return {
      ok: false,
      issues: doc.errors.map((error) => {
        const { line, col } = counter.linePos(error.pos[0]);
        return {
          path: FILE_PATH,
          message: `YAML syntax error: ${error.message}`,
          hint: 'fix the YAML (or JSON) syntax at this line',
          line,
          column: col,
        };
      }),
    };
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 1000 });
  } catch (err) {
    // e.g. an alias bomb (too many aliases) or an alias to nothing.
    return {
      ok: false,
      issues: [
        {
          path: FILE_PATH,
          message: `the YAML cannot be read: ${(err as Error).message}`,
          hint: 'remove the YAML aliases (*name) that expand too far',
        },
      ],
    };
  }
  const { plan, issues } = checkPlan(value);
  if (plan) {
    // A warning points at its key when the plan writes it (a defaulted key has no line to point at).
    const warnings = planWarnings(plan).map((w) =>
      toPlanIssue(w, doc.hasIn(w.path) ? locate(doc, counter, w.path, w.atKey === true) : undefined),
    );
    return { ok: true, plan: filename !== undefined ? resolvePlanPaths(plan, filename) : plan, warnings };
  }
  const located = issues.map((issue: RawIssue): PlanIssue => toPlanIssue(issue, locate(doc, counter, issue.path, issue.atKey === true)));
  located.sort((a, b) => (a.line ?? Infinity) - (b.line ?? Infinity) || (a.column ?? 0) - (b.column ?? 0));
  return { ok: false, issues: located };
}

/** Parses and validates plan text; throws `PlanError` with every problem. */
export function parsePlan(text: string, filename?: string): Plan {
  const result = validatePlanText(text, filename);
  if (!result.ok) throw new PlanError(result.issues, filename);
  return result.plan;
}

function unreadable(path: string, err: unknown): PlanIssue {
  const code = (err as NodeJS.ErrnoException).code;
  const hint =
    code === 'ENOENT'
      ? 'check the path (relative to the current directory), or create the plan from examples/plan.yaml'
      : code === 'EISDIR'
        ? 'name the plan file, not its directory'
        : 'make the file readable by this user';
  return { path: FILE_PATH, message: `cannot read plan file "${path}" (${code ?? (err as Error).message})`, hint };
}

/** A plan from a file path, or from an already-parsed value; throws `PlanError` with every problem. */
export function loadPlan(pathOrObject: string | unknown): Plan {
  if (typeof pathOrObject !== 'string') {
    const result = validatePlan(pathOrObject);
    if (!result.ok) throw new PlanError(result.issues);
    return result.plan;
  }
  let text: string;
  try {
    text = readFileSync(pathOrObject, 'utf8');
  } catch (err) {
    throw new PlanError([unreadable(pathOrObject, err)], pathOrObject);
  }
  return parsePlan(text, pathOrObject);
}

/** For `cutover validate`: the plan and its warnings, or every problem in it (an unreadable file is a problem too). */
export async function validatePlanFile(path: string): Promise<{ ok: boolean; plan?: Plan; issues: PlanIssue[]; warnings: PlanIssue[] }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    return { ok: false, issues: [unreadable(path, err)], warnings: [] };
  }
  const result = validatePlanText(text, path);
  return result.ok
    ? { ok: true, plan: result.plan, issues: [], warnings: result.warnings }
    : { ok: false, issues: result.issues, warnings: [] };
}
