import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { BUCKETS, bucketOf, hash32, sideFor } from '../../src/routing/hash';
import type { Route } from '../../src/routing/types';

/** Reference implementation over Buffer's UTF-8 bytes: the inline encoder must agree with it. */
function referenceHash(s: string): number {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(s, 'utf8')) h = Math.imul(h ^ b, 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const percent = (basisPoints: number): Route => ({ kind: 'percent', basisPoints });

describe('routing hash', () => {
  it('is pinned: these buckets are a wire format (changing them re-routes live percentages)', () => {
    const golden: [string, number][] = [
      ['', 2872998923],
      ['a', 444641715],
      ['order-1', 2449496732],
      ['order-2', 2010665664],
      ['acme-42', 2551285961],
      ['tenant/détections/ü', 1435084409],
      ['🚀-launch', 2862790738],
    ];
    for (const [id, h] of golden) {
      assert.equal(hash32(id), h, id);
      assert.equal(bucketOf(id), h % BUCKETS, id);
    }
  });

  it('hashes the UTF-8 bytes of any string (lone surrogates as U+FFFD, like Buffer)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (id) => hash32(id) === referenceHash(id)),
      { numRuns: 2000 },
    );
    assert.equal(hash32('\ud800x'), referenceHash('\ud800x'));
    assert.equal(hash32('x\udc00'), referenceHash('x\udc00'));
  });

  it('puts every ID in 0..9999', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 64 }), (id) => {
        const b = bucketOf(id);
        return Number.isInteger(b) && b >= 0 && b < BUCKETS;
      }),
    );
  });

  for (const [label, ids] of [
    ['sequential IDs', Array.from({ length: 10_000 }, (_, i) => `order-${i}`)],
    ['tenant-prefixed IDs', Array.from({ length: 10_000 }, (_, i) => `acme-${i * 7919}`)],
    ['UUIDs', Array.from({ length: 10_000 }, () => crypto.randomUUID())],
  ] as const) {
    it(`sends each percentage to the target within ±2% over 10,000 ${label}`, () => {
      for (const bp of [100, 1000, 2500, 5000, 7500, 9000, 9900]) {
        let target = 0;
        for (const id of ids) if (sideFor(percent(bp), id) === 'target') target++;
        const share = target / ids.length;
        assert.ok(Math.abs(share - bp / BUCKETS) <= 0.02, `${label} at ${bp} bp: ${share}`);
      }
    });
  }

  it('is monotonic: raising the percentage only moves IDs from source to target (property)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 48 }), fc.integer({ min: 0, max: BUCKETS }), fc.integer({ min: 0, max: BUCKETS }), (id, a, b) => {
        const [lo, hi] = a <= b ? [a, b] : [b, a];
        const before = sideFor(percent(lo), id);
        const after = sideFor(percent(hi), id);
        // Target at the lower percentage stays target at the higher one; never target → source.
        return !(before === 'target' && after === 'source');
      }),
      { numRuns: 5000 },
    );
  });

  it('sends an ID to the target exactly when its bucket is below the percentage (pinned buckets)', () => {
    // Buckets of the golden vectors above: order-1 → 6732, acme-42 → 5961, 🚀-launch → 738.
    for (const [id, bucket] of [
      ['order-1', 6732],
      ['acme-42', 5961],
      ['🚀-launch', 738],
    ] as const) {
      assert.equal(sideFor(percent(bucket), id), 'source', `${id} at ${bucket} bp`);
      assert.equal(sideFor(percent(bucket + 1), id), 'target', `${id} at ${bucket + 1} bp`);
    }
  });

  it('routes by the bucket of the reference hash, for any ID and percentage (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), fc.integer({ min: 1, max: BUCKETS - 1 }), (id, bp) => {
        const want = referenceHash(id) % BUCKETS < bp ? 'target' : 'source';
        return sideFor(percent(bp), id) === want;
      }),
      { numRuns: 2000 },
    );
  });

  it('routes whole sides and holds regardless of the ID; 0% and 100% are exact', () => {
    fc.assert(
      fc.property(fc.string(), (id) => {
        return (
          sideFor({ kind: 'side', side: 'source' }, id) === 'source' &&
          sideFor({ kind: 'side', side: 'target' }, id) === 'target' &&
          sideFor({ kind: 'hold' }, id) === 'hold' &&
          sideFor(percent(0), id) === 'source' &&
          sideFor(percent(BUCKETS), id) === 'target'
        );
      }),
    );
  });
});
