/**
 * Percentage routing by a stable hash of the workflow ID.
 *
 * Why FNV-1a over UTF-8 followed by murmur3's 32-bit finalizer (fmix32):
 * - stable across processes, Node versions and languages: it is defined on the UTF-8 bytes of the ID,
 *   uses only 32-bit integer arithmetic and no seed, so a Go or Java port gives the same bucket;
 * - FNV-1a alone mixes the last bytes poorly (IDs like `order-1`, `order-2` differ only at the end and
 *   would cluster modulo 10,000); fmix32 avalanches every input bit into the output;
 * - it allocates nothing and runs in tens of nanoseconds for typical IDs (the hot path of every start).
 * Changing this function re-routes running percentages: treat it as a wire format.
 */
import type { Route, Side } from './types';

/** Number of buckets: percentages are expressed in basis points (1/100 of a percent). */
export const BUCKETS = 10_000;

/** 32-bit FNV-1a of the UTF-8 encoding of `s`, finalized with murmur3 fmix32. Unsigned. */
export function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      h = Math.imul(h ^ c, 0x01000193);
      continue;
    }
    // Encode the code point as UTF-8 inline (no Buffer allocation on the hot path).
    if (c >= 0xd800 && c <= 0xdfff) {
      const lo = c <= 0xdbff && i + 1 < s.length ? s.charCodeAt(i + 1) : 0;
      if (lo >= 0xdc00 && lo <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
        i++;
      } else {
        c = 0xfffd; // a lone surrogate encodes as U+FFFD, exactly like Buffer.from(s, 'utf8')
      }
    }
    if (c < 0x800) {
      h = Math.imul(h ^ (0xc0 | (c >> 6)), 0x01000193);
      h = Math.imul(h ^ (0x80 | (c & 0x3f)), 0x01000193);
    } else if (c < 0x10000) {
      h = Math.imul(h ^ (0xe0 | (c >> 12)), 0x01000193);
      h = Math.imul(h ^ (0x80 | ((c >> 6) & 0x3f)), 0x01000193);
      h = Math.imul(h ^ (0x80 | (c & 0x3f)), 0x01000193);
    } else {
      h = Math.imul(h ^ (0xf0 | (c >> 18)), 0x01000193);
      h = Math.imul(h ^ (0x80 | ((c >> 12) & 0x3f)), 0x01000193);
      h = Math.imul(h ^ (0x80 | ((c >> 6) & 0x3f)), 0x01000193);
      h = Math.imul(h ^ (0x80 | (c & 0x3f)), 0x01000193);
    }
  }
  // murmur3 fmix32
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The workflow ID's bucket in 0..9999; the same ID always gets the same bucket. */
export function bucketOf(workflowId: string): number {
  return hash32(workflowId) % BUCKETS;
}

/**
 * Where a start of `workflowId` goes under `route`. A percentage sends bucket < basisPoints to the
 * target, so raising the percentage only ever moves IDs from source to target (monotonic), and
 * lowering it only moves them back.
 */
export function sideFor(route: Route, workflowId: string): Side | 'hold' {
  switch (route.kind) {
    case 'side':
      return route.side;
    case 'hold':
      return 'hold';
    case 'percent':
      if (route.basisPoints <= 0) return 'source';
      if (route.basisPoints >= BUCKETS) return 'target';
      return bucketOf(workflowId) < route.basisPoints ? 'target' : 'source';
  }
}
