/**
 * The audit log's mirror: one append-only Redis stream per unit or campaign,
 * `${keyPrefix}audit:<unit>`, whose entry IDs are `0-<seq>`. Redis refuses an ID at or below the last
 * one, so a mirror that is retried (or replayed) never writes a record twice, and nothing can be
 * appended out of order through this path. Anyone with write access to Redis can still delete or
 * rewrite the stream: the hash chain is what proves it intact (./chain.ts).
 */
import type { Redis } from 'ioredis';
import type { AuditRecord } from './chain';

const FIELD = 'record';

export class AuditStream {
  private readonly redis: Redis;
  private readonly keyPrefix: string;

  constructor(opts: { redis: Redis; keyPrefix: string }) {
    this.redis = opts.redis;
    this.keyPrefix = opts.keyPrefix;
  }

  key(unit: string): string {
    return `${this.keyPrefix}audit:${unit}`;
  }

  /** Appends records in order; those already there (same or lower seq) are skipped. Returns the last seq stored. */
  async append(unit: string, records: readonly AuditRecord[]): Promise<number> {
    const key = this.key(unit);
    const top = await this.redis.xrevrange(key, '+', '-', 'COUNT', 1);
    let last = top.length ? seqOf(top[0]![0]) : 0;
    for (const r of records) {
      if (r.seq <= last) continue;
      try {
        await this.redis.xadd(key, `0-${r.seq}`, FIELD, JSON.stringify(r));
        last = r.seq;
      } catch (err) {
        // Another writer (a retried attempt) got there first: the stream already holds it.
        if (!/equal or smaller/i.test((err as Error).message)) throw err;
      }
    }
    return last;
  }

  /** The whole stream, in stream order, with entries that do not parse reported by their ID. */
  async read(unit: string): Promise<{ records: AuditRecord[]; unreadable: string[] }> {
    const entries = await this.redis.xrange(this.key(unit), '-', '+');
    const records: AuditRecord[] = [];
    const unreadable: string[] = [];
    for (const [id, fields] of entries) {
      const i = fields.indexOf(FIELD);
      try {
        records.push(JSON.parse(fields[i + 1] ?? '') as AuditRecord);
      } catch {
        unreadable.push(id);
      }
    }
    return { records, unreadable };
  }
}

function seqOf(id: string): number {
  return Number(id.split('-')[1] ?? 0);
}
