/**
 * 1,000 racing activation trials on real clusters and Redis: in each trial two switchers race on the
 * same schedule — one with the fresh epoch, the other with a stale epoch, or the fresh epoch in the
 * opposite (or the same) direction. After every trial the schedule must not be unpaused on both
 * clusters, at most one switcher may win the epoch, and the record must name the active side.
 */
import assert from 'node:assert/strict';
import Redis from 'ioredis';
import {
  copySchedules,
  ScheduleFence,
  ScheduleSwitchSupersededError,
  ScheduleUnpauseConflictError,
  StaleScheduleEpochError,
  switchSchedule,
} from '../../src/schedules';
import type { Side } from '../../src/schedules';
import { testStack, uniqueId } from '../harness';
import { connectSides, createRawSchedule, deleteOnSides, pausedOnSides, QUIET_HOURLY } from '../workflows/schedule-test-kit';
import type { Sides } from '../workflows/schedule-test-kit';

const NS = 'detections';
// Trials on one schedule run one after another; 20 schedules race side by side (more interleavings at the
// servers, and 1,000 trials in about half the time 5 took: CI's budget).
const SCHEDULES = 20;
const TRIALS = 1000;
const other = (s: Side): Side => (s === 'source' ? 'target' : 'source');
const EXPECTED_LOSSES = [StaleScheduleEpochError, ScheduleSwitchSupersededError, ScheduleUnpauseConflictError];

// The trials stop starting at this point so the test fails with its own message (and nothing is still
// in flight when after() closes the connections) instead of hitting mocha's timeout mid-trial.
const BUDGET_MS = 480_000;

describe('schedules: racing switchers (integration)', function () {
  this.timeout(BUDGET_MS + 60_000);
  let sides: Sides;
  let redis: Redis;
  let fence: ScheduleFence;
  let keyPrefix: string;
  const ids: string[] = [];

  before(async () => {
    const s = testStack();
    sides = await connectSides({ source: s.source.address, target: s.target.address }, NS);
    redis = new Redis(s.redisUrl, { maxRetriesPerRequest: 2 });
    keyPrefix = `${uniqueId('race')}:`;
    fence = new ScheduleFence({ redis, keyPrefix });
    for (let i = 0; i < SCHEDULES; i++) {
      const sid = uniqueId('race');
      ids.push(sid);
      await createRawSchedule(sides.source, sid, { spec: QUIET_HOURLY, taskQueue: 'tq-race' });
      await fence.ensure(NS, sid, 'source', 'test');
    }
    const copy = await copySchedules({ from: sides.source, to: sides.target, selector: { kind: 'ids', ids }, actor: 'test' });
    assert.equal(copy.counts.created, SCHEDULES);
  });
  after(async () => {
    if (sides) await deleteOnSides(sides, ids);
    if (redis) {
      const keys = await redis.keys(`${keyPrefix}*`);
      if (keys.length) await redis.del(...keys);
      redis.disconnect();
    }
    await sides?.close();
  });

  it(`${TRIALS} racing trials: never active on both clusters, one winner per epoch`, async () => {
    const stopAt = Date.now() + BUDGET_MS;
    const t0 = Date.now();
    const stats = { trials: 0, doubleActive: 0, wins: 0, losses: 0, twoWinners: 0, bothPaused: 0, ownerMismatch: 0 };
    const unexpected: unknown[] = [];
    const sw = (sid: string, to: Side, expectedEpoch: number, switchId: string, delayMs: number) => async () => {
      if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
      return switchSchedule({
        from: sides[other(to)],
        to: sides[to],
        scheduleId: sid,
        fence,
        expectedEpoch,
        switchId,
        actor: 'racer',
        backfill: 'none',
      });
    };
    await Promise.all(
      ids.map(async (sid, k) => {
        for (let i = k; i < TRIALS && Date.now() < stopAt; i += SCHEDULES) {
          const rec = await fence.read(NS, sid);
          assert.ok(rec);
          const fresh = rec.epoch;
          const kind = i % 3;
          // Racer A: fresh epoch, moves the schedule off its owner. Racer B: a stale epoch (either
          // direction), or the fresh epoch keeping it where it is, or the fresh epoch the same way.
          const a = sw(sid, other(rec.owner), fresh, `A${i}`, 0);
          const b =
            kind === 0
              ? sw(sid, i % 2 ? 'source' : 'target', fresh === 0 ? 1 : fresh - 1, `B${i}`, i % 7)
              : kind === 1
                ? sw(sid, rec.owner, fresh, `B${i}`, i % 5)
                : sw(sid, other(rec.owner), fresh, `B${i}`, i % 4);
          const results = await Promise.allSettled([a(), b()]);
          let won = 0;
          for (const r of results) {
            if (r.status === 'fulfilled') won++;
            else if (EXPECTED_LOSSES.some((E) => r.reason instanceof E)) stats.losses++;
            else unexpected.push(r.reason);
          }
          stats.wins += won;
          if (won > 1) stats.twoWinners++;
          const p = await pausedOnSides(sides, sid);
          const after = await fence.read(NS, sid);
          stats.trials++;
          if (p.source === false && p.target === false) stats.doubleActive++;
          if (p.source && p.target) stats.bothPaused++;
          const active = p.source === false ? 'source' : p.target === false ? 'target' : undefined;
          if (active && after?.owner !== active) stats.ownerMismatch++;
          assert.equal(after?.epoch, fresh + won, 'the epoch moved once per winner');
        }
      }),
    );
    console.log(`      race stats: ${JSON.stringify(stats)} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    assert.deepEqual(unexpected, []);
    assert.equal(stats.trials, TRIALS, `all ${TRIALS} trials within ${BUDGET_MS / 1000} s (${stats.trials} done)`);
    assert.equal(stats.doubleActive, 0);
    assert.equal(stats.twoWinners, 0);
    assert.equal(stats.ownerMismatch, 0);
    assert.ok(stats.wins > 0);
  });
});
