/**
 * Pure parts of the schedules module: semantic diff (cron vs structured calendars, defaults,
 * payload bytes), cron expansion, gap arithmetic, selectors, the pause note.
 */
import assert from 'node:assert/strict';
import {
  backfillRanges,
  CronParseError,
  diffSchedules,
  duplicateFires,
  expandField,
  firstOwnTime,
  gapFromNote,
  gapTimes,
  lostFires,
  matchesSelector,
  nominalFromRunId,
  parseCron,
  scheduledRunId,
  ScheduleInputError,
  selectorForUnit,
} from '../../src/schedules';
import type { DiffInput } from '../../src/schedules';

const enc = (s: string) => new Uint8Array(Buffer.from(s));
const jsonPayload = (v: unknown) => ({ metadata: { encoding: enc('json/plain') }, data: enc(JSON.stringify(v)) });
const secs = (s: number) => ({ seconds: s, nanos: 0 });

function sched(
  over: {
    spec?: object;
    policies?: object;
    input?: unknown[];
    memo?: Record<string, unknown>;
    sa?: Record<string, unknown>;
    header?: Record<string, unknown>;
  } = {},
): DiffInput {
  return {
    schedule: {
      spec: over.spec ?? { interval: [{ interval: secs(60) }] },
      action: {
        startWorkflow: {
          workflowId: 'wf',
          workflowType: { name: 'report' },
          taskQueue: { name: 'tq' },
          input: { payloads: (over.input ?? [{ a: 1 }]).map(jsonPayload) },
          header: { fields: Object.fromEntries(Object.entries(over.header ?? {}).map(([k, v]) => [k, jsonPayload(v)])) },
        },
      },
      policies: over.policies ?? {},
      state: { paused: false },
    },
    memo: { fields: Object.fromEntries(Object.entries(over.memo ?? {}).map(([k, v]) => [k, jsonPayload(v)])) },
    searchAttributes: { indexedFields: Object.fromEntries(Object.entries(over.sa ?? {}).map(([k, v]) => [k, jsonPayload(v)])) },
  } as DiffInput;
}

describe('schedules: semantic diff', () => {
  it('treats a cron string and the server-canonical structured calendar as equal', () => {
    const cron = sched({ spec: { cronString: ['0 12 * * MON-FRI'] } });
    const canonical = sched({
      spec: {
        structuredCalendar: [
          {
            second: [{ start: 0 }],
            minute: [{ start: 0 }],
            hour: [{ start: 12 }],
            dayOfMonth: [{ start: 1, end: 31 }],
            month: [{ start: 1, end: 12 }],
            dayOfWeek: [{ start: 1, end: 5 }],
          },
        ],
      },
    });
    assert.deepEqual(diffSchedules(cron, canonical), []);
  });

  it('treats list, range and step spellings of the same field as equal', () => {
    const a = sched({ spec: { calendar: [{ minute: '0,15,30,45', hour: '*' }] } });
    const b = sched({ spec: { cronString: ['*/15 * * * *'] } });
    const c = sched({ spec: { structuredCalendar: [{ minute: [{ start: 0, end: 59, step: 15 }], hour: [{ start: 0, end: 23 }] }] } });
    assert.deepEqual(diffSchedules(a, b), []);
    assert.deepEqual(diffSchedules(b, c), []);
  });

  it('reports a spec difference with its path', () => {
    const d = diffSchedules(sched({ spec: { cronString: ['0 12 * * *'] } }), sched({ spec: { cronString: ['0 13 * * *'] } }));
    assert.equal(d.length, 1);
    assert.equal(d[0].kind, 'spec');
    assert.equal(d[0].path, 'spec.calendars');
  });

  it('compares intervals by period and phase, and @every cron as an interval', () => {
    assert.deepEqual(
      diffSchedules(
        sched({ spec: { cronString: ['@every 1m'] } }),
        sched({ spec: { interval: [{ interval: secs(60), phase: secs(0) }] } }),
      ),
      [],
    );
    const d = diffSchedules(
      sched({ spec: { interval: [{ interval: secs(60) }] } }),
      sched({ spec: { interval: [{ interval: secs(60), phase: secs(5) }] } }),
    );
    assert.deepEqual(
      d.map((x) => x.path),
      ['spec.intervals'],
    );
  });

  it('fills policy defaults like the server: unspecified overlap is SKIP, unset catch-up is a year, below 10 s is 10 s', () => {
    assert.deepEqual(
      diffSchedules(sched({ policies: {} }), sched({ policies: { overlapPolicy: 1, catchupWindow: secs(365 * 24 * 3600) } })),
      [],
    );
    assert.deepEqual(diffSchedules(sched({ policies: { catchupWindow: secs(3) } }), sched({ policies: { catchupWindow: secs(10) } })), []);
    const d = diffSchedules(sched({ policies: { overlapPolicy: 6 } }), sched({ policies: {} }));
    assert.deepEqual(
      d.map((x) => [x.kind, x.path, x.a, x.b]),
      [['policy', 'policies.overlap', 'ALLOW_ALL', 'SKIP']],
    );
  });

  it('compares action arguments, headers, memo and search attributes by their bytes', () => {
    assert.deepEqual(diffSchedules(sched(), sched()), []);
    assert.deepEqual(
      diffSchedules(sched({ input: [{ a: 1 }] }), sched({ input: [{ a: 2 }] })).map((x) => x.path),
      ['action.input'],
    );
    assert.deepEqual(
      diffSchedules(sched({ header: { h: 1 } }), sched()).map((x) => x.path),
      ['action.header'],
    );
    assert.deepEqual(
      diffSchedules(sched({ memo: { m: 'x' } }), sched({ memo: { m: 'y' } })).map((x) => x.kind),
      ['memo'],
    );
    assert.deepEqual(
      diffSchedules(sched({ sa: { TenantId: 'acme' } }), sched({ sa: { TenantId: 'globex' } })).map((x) => x.kind),
      ['searchAttributes'],
    );
  });

  it('ignores system search attributes the server adds', () => {
    assert.deepEqual(diffSchedules(sched({ sa: { TemporalSchedulePaused: true } }), sched()), []);
  });

  it('accepts an SDK ScheduleDescription through its raw field', () => {
    const described = (d: DiffInput) => ({ raw: d }) as unknown as DiffInput;
    assert.deepEqual(diffSchedules(described(sched()), sched()), []);
    assert.deepEqual(
      diffSchedules(described(sched({ input: [{ a: 1 }] })), sched({ input: [{ a: 2 }] })).map((x) => x.path),
      ['action.input'],
    );
  });
});

describe('schedules: cron expansion', () => {
  it('expands names, steps, lists and Sunday as 7', () => {
    assert.deepEqual(expandField('dayOfWeek', 'MON-FRI'), [1, 2, 3, 4, 5]);
    assert.deepEqual(expandField('dayOfWeek', '7'), [0]);
    assert.deepEqual(expandField('month', 'jan,MAR'), [1, 3]);
    assert.deepEqual(expandField('minute', '5/20'), [5, 25, 45]);
  });

  it('reads 5, 6 and 7 field forms, @daily and CRON_TZ', () => {
    const p = parseCron('CRON_TZ=Europe/Paris 30 2 * * *');
    assert.ok('calendar' in p);
    assert.equal(p.timezone, 'Europe/Paris');
    assert.deepEqual([p.calendar.second, p.calendar.minute, p.calendar.hour], [[0], [30], [2]]);
    const d = parseCron('@daily');
    assert.ok('calendar' in d && d.calendar.hour[0] === 0 && d.calendar.minute[0] === 0);
    const seven = parseCron('15 0 0 1 1 * 2030');
    assert.ok('calendar' in seven && seven.calendar.second[0] === 15 && seven.calendar.year?.[0] === 2030);
  });

  it('rejects malformed fields with CronParseError', () => {
    assert.throws(() => parseCron('61 * * * *'), CronParseError);
    assert.throws(() => parseCron('* * *'), CronParseError);
    assert.throws(() => parseCron('0 12 * * FUNDAY'), CronParseError);
  });
});

describe('schedules: gap arithmetic', () => {
  const t = (s: number) => s * 1000;

  it('builds and parses the scheduler run ID of a nominal time', () => {
    const id = scheduledRunId('wf', Date.parse('2026-11-25T08:16:52.400Z'));
    assert.equal(id, 'wf-2026-11-25T08:16:52Z');
    assert.equal(nominalFromRunId('wf', id), Date.parse('2026-11-25T08:16:52Z'));
    assert.equal(nominalFromRunId('wf', 'other-2026-11-25T08:16:52Z'), undefined);
  });

  it('takes the earliest own action at or after the gap start, else the first future time', () => {
    assert.equal(firstOwnTime(t(10), [t(3), t(12), t(13)], [t(14)]), t(12));
    assert.equal(firstOwnTime(t(10), [t(3)], [t(15), t(16)]), t(15));
    assert.equal(firstOwnTime(t(10), [], []), undefined);
  });

  it('lists matching times in [from, until) that ran on neither side', () => {
    const matching = [t(10), t(11), t(12), t(13), t(14)];
    assert.deepEqual(gapTimes(matching, t(10), t(14), [t(11) + 300]), [t(10), t(12), t(13)]);
    assert.deepEqual(gapTimes(matching, t(15), t(20), []), []);
  });

  it('turns missing times into ranges that never cover a time that ran', () => {
    const matching = [t(10), t(11), t(12), t(13), t(14)];
    assert.deepEqual(backfillRanges(matching, [t(10), t(12), t(13)]), [
      { startMs: t(10), endMs: t(10) },
      { startMs: t(12), endMs: t(13) },
    ]);
    assert.deepEqual(backfillRanges(matching, []), []);
  });

  it('finds double fires across and within sides, and lost fires', () => {
    const run = (s: number) => ({ workflowId: `w${s}`, nominalMs: t(s), status: '' });
    assert.deepEqual(duplicateFires([run(1), run(2)], [run(2), run(3)]), [t(2)]);
    assert.deepEqual(duplicateFires([run(1), run(1)], []), [t(1)]);
    assert.deepEqual(lostFires([t(1), t(2), t(3)], [run(1), run(3)]), [t(2)]);
  });
});

describe('schedules: selectors and notes', () => {
  it('derives a unit selector from the plan tenant selector', () => {
    assert.deepEqual(selectorForUnit(), { kind: 'namespace' });
    assert.deepEqual(selectorForUnit({ selector: { workflowIdPrefix: '{tenant}-' }, id: 'acme' }), { kind: 'idPrefix', prefix: 'acme-' });
    assert.deepEqual(selectorForUnit({ selector: { searchAttribute: 'TenantId' }, id: 'acme' }), {
      kind: 'searchAttribute',
      name: 'TenantId',
      value: 'acme',
    });
    assert.throws(
      () => selectorForUnit({ selector: { workflowIdPrefix: 'acme-' }, id: 'acme' }),
      (e: unknown) => e instanceof ScheduleInputError && e.field === 'tenants.selector.workflowIdPrefix',
    );
  });

  it('matches by ID prefix and by Keyword search attribute', () => {
    assert.equal(matchesSelector({ kind: 'idPrefix', prefix: 'acme-' }, 'acme-daily'), true);
    assert.equal(matchesSelector({ kind: 'idPrefix', prefix: 'acme-' }, 'globex-daily'), false);
    const sa = { TenantId: jsonPayload('acme') };
    assert.equal(matchesSelector({ kind: 'searchAttribute', name: 'TenantId', value: 'acme' }, 'x', sa), true);
    assert.equal(matchesSelector({ kind: 'searchAttribute', name: 'TenantId', value: 'globex' }, 'x', sa), false);
    assert.equal(matchesSelector({ kind: 'searchAttribute', name: 'TenantId', value: 'acme' }, 'x', {}), false);
  });

  it('reads the gap start back from cutover pause notes only', () => {
    assert.equal(
      gapFromNote('cutover switch target@0: paused on source by ops; gap-from 2026-11-25T08:00:01.000Z'),
      Date.parse('2026-11-25T08:00:01Z'),
    );
    assert.equal(gapFromNote('cutover switch target@0: paused on source by ops; gap-from none'), undefined);
    assert.equal(gapFromNote('paused by a human; gap-from 2026-11-25T08:00:01.000Z'), undefined);
  });
});
