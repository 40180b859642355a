import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import { parse as parseYaml } from 'yaml';
import { validatePlan } from '../../src/config';
import { UnitResolver } from '../../src/routing/tenant';
import { selectorForUnit } from '../../src/schedules/selector';
import { tenantFilterOf } from '../../src/campaign/units';

const EXAMPLE = parseYaml(readFileSync(path.resolve(__dirname, '../../examples/plan.yaml'), 'utf8')) as Record<string, unknown>;

// A small alphabet with the separator in it: tenant IDs like `t-r`, `t-r-e`, `t`, so that one tenant's
// prefix often starts another's and both the ambiguous and the unambiguous sets come up often.
const tenantId = fc.stringMatching(/^[tre-]{1,6}$/);
const tenantSet = fc.uniqueArray(tenantId, { minLength: 1, maxLength: 6 });
const suffix = fc.stringMatching(/^[tre0-9-]{0,8}$/);
const selector = fc.oneof(
  fc.constantFrom('{tenant}-', '{tenant}', '{tenant}--', 'scan/{tenant}-', 'x-{tenant}-y', '{tenant}-{tenant}-'),
  fc.tuple(fc.stringMatching(/^[a-z/-]{0,3}$/), fc.stringMatching(/^[a-z/-]{0,3}$/)).map(([head, tail]) => `${head}{tenant}${tail}`),
);

/** The oracle, written plainly: the tenant's prefix is the selector with every `{tenant}` replaced. */
const prefixOf = (pattern: string, tenant: string) => pattern.replaceAll('{tenant}', tenant);

/** Every (shorter, longer) pair of distinct tenants where the shorter one's prefix starts the longer one's. */
function overlaps(pattern: string, tenants: readonly string[]): [string, string][] {
  const out: [string, string][] = [];
  for (const a of tenants) for (const b of tenants) if (a !== b && prefixOf(pattern, b).startsWith(prefixOf(pattern, a))) out.push([a, b]);
  return out;
}

function planWith(pattern: string, ids: string[]): Record<string, unknown> {
  const raw = structuredClone(EXAMPLE) as { namespaces: { detections: Record<string, unknown> }; rings: unknown[] };
  raw.namespaces.detections.tenants = { selector: { workflowIdPrefix: pattern }, ids };
  // Only the payments ring: the example's tenant rings name tenants this set may not have.
  raw.rings = [raw.rings[0]];
  return raw;
}

describe('tenant prefixes: properties', () => {
  it('an unambiguous tenant set: every <tenant-prefix><suffix> ID resolves to exactly that tenant', () => {
    fc.assert(
      fc.property(
        selector,
        tenantSet.filter((ts) => ts.length > 0),
        fc.array(fc.tuple(fc.nat(), suffix), { minLength: 1, maxLength: 10 }),
        (pattern, tenants, picks) => {
          fc.pre(overlaps(pattern, tenants).length === 0);
          const r = new UnitResolver('alerts', { workflowIdPrefix: pattern }, tenants);
          for (const [i, s] of picks) {
            const tenant = tenants[i % tenants.length]!;
            const id = prefixOf(pattern, tenant) + s;
            assert.equal(r.tenantOf({ workflowId: id }), tenant, `${id} under ${pattern}`);
            assert.equal(r.unitOf({ workflowId: id }), `tenant/alerts/${tenant}`);
            // Schedules and visibility queries select by the same prefix, and it picks this ID.
            const sel = selectorForUnit({ selector: { workflowIdPrefix: pattern }, id: tenant });
            assert.ok(sel.kind === 'idPrefix' && id.startsWith(sel.prefix));
            assert.deepEqual(tenantFilterOf({ workflowIdPrefix: pattern }, tenant), { workflowIdPrefix: prefixOf(pattern, tenant) });
            // ...and no other tenant's prefix picks it.
            for (const other of tenants) if (other !== tenant) assert.ok(!id.startsWith(prefixOf(pattern, other)), `${other} picks ${id}`);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('any ID resolves to the listed tenant with the longest prefix it starts with, else the namespace', () => {
    fc.assert(
      fc.property(selector, tenantSet, fc.stringMatching(/^[a-z/tre0-9-]{0,14}$/), (pattern, tenants, id) => {
        const matches = tenants.filter((t) => id.startsWith(prefixOf(pattern, t)));
        matches.sort((a, b) => prefixOf(pattern, b).length - prefixOf(pattern, a).length);
        const r = new UnitResolver('alerts', { workflowIdPrefix: pattern }, tenants);
        assert.equal(r.tenantOf({ workflowId: id }), matches[0]);
      }),
      { numRuns: 500 },
    );
  });

  it('validate refuses every ambiguous tenant set, naming both tenants of each pair, and accepts the rest', () => {
    fc.assert(
      fc.property(selector, tenantSet, (pattern, tenants) => {
        const pairs = overlaps(pattern, tenants);
        const result = validatePlan(planWith(pattern, tenants));
        if (pairs.length === 0) {
          assert.ok(result.ok, `${pattern} ${JSON.stringify(tenants)}: ${result.ok ? '' : JSON.stringify(result.issues)}`);
          return;
        }
        assert.ok(!result.ok, `${pattern} ${JSON.stringify(tenants)} must be refused`);
        const issues = result.issues.filter((i) => i.path.startsWith('namespaces.detections.tenants.ids'));
        assert.equal(issues.length, pairs.length, JSON.stringify(issues));
        for (const [shorter, longer] of pairs) {
          const issue = issues.find((i) => i.message.includes(`tenants "${shorter}" and "${longer}"`));
          assert.ok(issue, `no issue names ${shorter} and ${longer}: ${JSON.stringify(issues)}`);
          assert.equal(issue.path, `namespaces.detections.tenants.ids[${tenants.indexOf(longer)}]`);
          assert.ok(issue.hint.length > 0);
        }
      }),
      { numRuns: 300 },
    );
  });
});
