import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { parseDuration, validatePlan, validatePlanText, type PlanIssue, type PlanValidation } from '../../src/config';

const EXAMPLE_TEXT = readFileSync(path.resolve(__dirname, '../../examples/plan.yaml'), 'utf8');

type Container = Record<string, unknown> | unknown[];
type Op = { kind: 'delete' | 'replace' | 'insert'; at: number; key: string; value: unknown };

/** Every (container, key) slot of a value, depth first, the root's own slots included. */
function slots(root: Container): [Container, string | number][] {
  const out: [Container, string | number][] = [];
  const walk = (node: Container) => {
    const keys: (string | number)[] = Array.isArray(node) ? node.map((_, i) => i) : Object.keys(node);
    for (const key of keys) {
      out.push([node, key]);
      const child = (node as Record<string | number, unknown>)[key];
      if (typeof child === 'object' && child !== null) walk(child as Container);
    }
  };
  walk(root);
  return out;
}

function containers(root: Container): Container[] {
  const out: Container[] = [root];
  for (const [parent, key] of slots(root)) {
    const child = (parent as Record<string | number, unknown>)[key];
    if (typeof child === 'object' && child !== null) out.push(child as Container);
  }
  return out;
}

/** Applies random edits at random depths: delete a key or item, replace a value, insert a key or item. */
function mutate(plan: Record<string, unknown>, ops: Op[]): Record<string, unknown> {
  // Each op gets its own copy of its value, so no edit can make the plan cyclic (cycles have their own test).
  for (const original of ops) {
    const op = { ...original, value: structuredClone(original.value) };
    if (op.kind === 'insert') {
      const all = containers(plan);
      const target = all[op.at % all.length];
      if (Array.isArray(target)) target.push(op.value);
      else target[op.key] = op.value; // plain assignment on purpose: `__proto__` keys included
      continue;
    }
    const all = slots(plan);
    if (!all.length) continue;
    const [parent, key] = all[op.at % all.length];
    if (op.kind === 'delete') {
      if (Array.isArray(parent)) parent.splice(key as number, 1);
      else delete parent[key as string];
    } else (parent as Record<string | number, unknown>)[key] = op.value;
  }
  return plan;
}

/** Values that are likely to get deep into the validator, beside arbitrary JSON. */
const interesting = fc.constantFrom<unknown>(
  '',
  '  ',
  '30s',
  '0s',
  '1.5s',
  'namespace/payments',
  'tenant/detections/acme',
  'tenant/x',
  '127.0.0.1:7233',
  'legacy',
  'cloud',
  'probe',
  '{tenant}-',
  -1,
  0,
  1,
  1.5,
  99,
  100,
  1e308,
  null,
  true,
  [],
  {},
  ['namespace/payments'],
);
const value = fc.oneof(fc.jsonValue({ maxDepth: 2 }), interesting);
const key = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.constantFrom('__proto__', 'constructor', 'toString', 'prometheus', 'temporal', 'max', 'min', 'name', 'tls', 'local', 'tenants', ''),
);
const op: fc.Arbitrary<Op> = fc.record({
  kind: fc.constantFrom<Op['kind']>('delete', 'replace', 'insert'),
  at: fc.nat(),
  key,
  value,
});

/** The validator's contract: a plan that validates again to itself, or a non-empty list of well-formed issues. */
function assertWellFormed(result: PlanValidation, fromText: boolean): void {
  if (result.ok) {
    const again = validatePlan(result.plan);
    assert.ok(again.ok, 'a validated plan validates again');
    assert.deepEqual(again.plan, result.plan);
    return;
  }
  assert.ok(result.issues.length > 0, 'a rejected plan has at least one issue');
  for (const issue of result.issues as PlanIssue[]) {
    assert.equal(typeof issue.path, 'string');
    assert.ok(issue.path.length > 0);
    assert.ok(typeof issue.message === 'string' && issue.message.length > 0);
    assert.ok(typeof issue.hint === 'string' && issue.hint.length > 0);
    if (fromText && issue.line !== undefined) {
      assert.ok(Number.isInteger(issue.line) && issue.line >= 1 && Number.isInteger(issue.column) && issue.column! >= 1);
    }
  }
}

describe('config: properties', () => {
  it('random mutations of a valid plan never crash the validator', () => {
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 6 }), (ops) => {
        const plan = mutate(parseYaml(EXAMPLE_TEXT) as Record<string, unknown>, ops);
        assertWellFormed(validatePlan(plan), false);
      }),
      { numRuns: 400 },
    );
  });

  it('random mutations read back from YAML and JSON text never crash it either', () => {
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 6 }), (ops) => {
        const plan = mutate(parseYaml(EXAMPLE_TEXT) as Record<string, unknown>, ops);
        assertWellFormed(validatePlanText(JSON.stringify(plan) ?? ''), true);
        assertWellFormed(validatePlanText(stringifyYaml(plan)), true);
      }),
      { numRuns: 200 },
    );
  });

  it('any value or any text at all is judged, never thrown on', () => {
    fc.assert(
      fc.property(fc.anything(), (input) => assertWellFormed(validatePlan(input), false)),
      { numRuns: 300 },
    );
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (text) => assertWellFormed(validatePlanText(text), true)),
      { numRuns: 300 },
    );
  });

  it('strictly increasing whole percentSteps within 1..99 are accepted as given', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: 99 }), { maxLength: 99 }), (steps) => {
        const sorted = [...steps].sort((a, b) => a - b);
        const plan = parseYaml(EXAMPLE_TEXT) as { defaults: { percentSteps: number[] } };
        plan.defaults.percentSteps = sorted;
        const result = validatePlan(plan);
        assert.ok(result.ok, JSON.stringify(!result.ok && result.issues));
        assert.deepEqual(result.plan.defaults.percentSteps, sorted);
      }),
      { numRuns: 200 },
    );
  });

  it('percentSteps that do not strictly increase are rejected at the offending step', () => {
    const notIncreasing = fc
      .array(fc.integer({ min: 1, max: 99 }), { minLength: 2, maxLength: 10 })
      .filter((steps) => steps.some((step, i) => i > 0 && step <= steps[i - 1]));
    fc.assert(
      fc.property(notIncreasing, (steps) => {
        const plan = parseYaml(EXAMPLE_TEXT) as { defaults: { percentSteps: number[] } };
        plan.defaults.percentSteps = steps;
        const result = validatePlan(plan);
        assert.equal(result.ok, false);
        const expected = steps.flatMap((step, i) => (i > 0 && step <= steps[i - 1] ? [`defaults.percentSteps[${i}]`] : []));
        assert.deepEqual(!result.ok && result.issues.map((issue) => issue.path), expected);
      }),
      { numRuns: 200 },
    );
  });

  it('every duration form converts to milliseconds', () => {
    const factor = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
    fc.assert(
      fc.property(fc.nat({ max: 100_000 }), fc.constantFrom(...(Object.keys(factor) as (keyof typeof factor)[])), (n, unit) => {
        assert.equal(parseDuration(`${n}${unit}`), n * factor[unit]);
        assert.equal(parseDuration(n), n);
      }),
    );
  });
});
