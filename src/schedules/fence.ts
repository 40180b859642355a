/**
 * The fenced owner record of one schedule (never active on both clusters): which side may have it active,
 * with an epoch that grows on every change. Writers compare-and-set on the epoch in one Lua script,
 * so of two racing switchers exactly one wins, and the loser unpauses nothing.
 */
import type Redis from 'ioredis';
import type { Side } from './types';

/** The stored record. A missing record reads as epoch 0 with no owner. */
export interface ScheduleOwnerRecord {
  owner: Side;
  epoch: number;
  actor: string;
  /** ISO 8601 time of the change. */
  at: string;
  /** Idempotency key of the switch that wrote it: a re-run of that switch may finish it. */
  switchId?: string;
  /** First nominal time (ms) the previous owner had not taken when it was paused: where the gap starts. */
  gapFromMs?: number;
  /** Nominal times (ms) the new owner was asked to backfill at this epoch (so a re-run does not ask twice). */
  backfillMs?: number[];
}

export type FenceCasResult = { ok: true; record: ScheduleOwnerRecord } | { ok: false; current: ScheduleOwnerRecord | undefined };

// Compare-and-set on the epoch; a missing key counts as epoch 0. Returns {1, new} or {0, current|false}.
const CAS_SCRIPT = `
local cur = redis.call('GET', KEYS[1])
local epoch = 0
if cur then epoch = tonumber(cjson.decode(cur)['epoch']) end
if epoch ~= tonumber(ARGV[1]) then
  if cur then return {0, cur} end
  return {0, false}
end
redis.call('SET', KEYS[1], ARGV[2])
return {1, ARGV[2]}
`;

// Replace the value only if it is still exactly the one read (no epoch moved in between).
const REPLACE_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2])
  return 1
end
return 0
`;

/** Owner records of schedules, under `${keyPrefix}schedule-owner:${namespace}:${scheduleId}`. */
export class ScheduleFence {
  private readonly redis: Redis;
  private readonly keyPrefix: string;

  constructor(opts: { redis: Redis; keyPrefix: string }) {
    this.redis = opts.redis;
    this.keyPrefix = opts.keyPrefix;
  }

  /** The Redis key of a schedule's owner record (`namespace` is the source-side namespace). */
  key(namespace: string, scheduleId: string): string {
    return `${this.keyPrefix}schedule-owner:${namespace}:${scheduleId}`;
  }

  /** The current record, or undefined when none was written yet (epoch 0). */
  async read(namespace: string, scheduleId: string): Promise<ScheduleOwnerRecord | undefined> {
    const raw = await this.redis.get(this.key(namespace, scheduleId));
    return raw ? parseRecord(raw) : undefined;
  }

  /** Writes `{ owner, epoch: expectedEpoch + 1 }` only if the current epoch is `expectedEpoch`. */
  async compareAndSet(
    namespace: string,
    scheduleId: string,
    expectedEpoch: number,
    change: { owner: Side; actor: string; switchId?: string; gapFromMs?: number },
    now: Date = new Date(),
  ): Promise<FenceCasResult> {
    const record: ScheduleOwnerRecord = { ...change, epoch: expectedEpoch + 1, at: now.toISOString() };
    const [ok, value] = (await this.redis.eval(
      CAS_SCRIPT,
      1,
      this.key(namespace, scheduleId),
      String(expectedEpoch),
      JSON.stringify(record),
    )) as [number, string | null];
    if (ok === 1) return { ok: true, record };
    return { ok: false, current: value ? parseRecord(value) : undefined };
  }

  /**
   * Adds notes to the record of `epoch` without moving the epoch (the winner records what it did);
   * false when the record is no longer at that epoch.
   */
  async annotate(namespace: string, scheduleId: string, epoch: number, notes: Pick<ScheduleOwnerRecord, 'backfillMs'>): Promise<boolean> {
    const key = this.key(namespace, scheduleId);
    const raw = await this.redis.get(key);
    if (!raw) return false;
    const rec = parseRecord(raw);
    if (rec.epoch !== epoch) return false;
    const ok = await this.redis.eval(REPLACE_SCRIPT, 1, key, raw, JSON.stringify({ ...rec, ...notes }));
    return ok === 1;
  }

  /** Creates the first record (epoch 0) if none exists; returns the record now stored. */
  async ensure(namespace: string, scheduleId: string, owner: Side, actor: string, now: Date = new Date()): Promise<ScheduleOwnerRecord> {
    const record: ScheduleOwnerRecord = { owner, epoch: 0, actor, at: now.toISOString() };
    await this.redis.set(this.key(namespace, scheduleId), JSON.stringify(record), 'NX');
    return (await this.read(namespace, scheduleId)) as ScheduleOwnerRecord;
  }

  /** Removes a record (when the schedule itself is deleted on both sides). */
  async remove(namespace: string, scheduleId: string): Promise<void> {
    await this.redis.del(this.key(namespace, scheduleId));
  }
}

function parseRecord(raw: string): ScheduleOwnerRecord {
  const v = JSON.parse(raw) as ScheduleOwnerRecord;
  return v;
}
