/**
 * The client-side cache of routing records. Only what is read from the store changes it: loaded once,
 * refreshed on a timer (pub/sub can lose messages), and read again early when a message on the routes
 * channel names a unit. A message is only that hint — anyone who can publish on the channel could forge
 * one — and hints are coalesced, so a flood of messages costs at most one read per `hintIntervalMs`. The
 * hot path (`lookup`) is a Map read — no Redis round trip per start.
 *
 * Freshness is per unit: a unit's route is usable while the last read that confirmed it (a valid record,
 * or no record for a unit never seen with one) is younger than `stalenessMs`. Past that, lookups of that
 * unit throw {@link RoutingUnavailableError}: the client fails closed instead of guessing, whether Redis
 * is unreachable or the unit's own record is invalid or gone. One bad record never stops the other units
 * from refreshing. Ages are measured on the monotonic clock: a wall clock stepped back (or forward) neither
 * keeps a stale route usable nor ages a fresh one.
 */
import { systemClock, type RoutingClock } from './clock';
import { RoutingUnavailableError } from './errors';
import type { RoutingRecordInvalidError } from './errors';
import type { RecordRead, RouteHint, RouteSubscription, RoutingStore } from './store';
import type { RoutingRecord } from './types';

/** Options of {@link RouteTable}. */
export interface RouteTableOptions {
  store: RoutingStore;
  /** Units to load and keep fresh from the start; others are added on first use. */
  units: readonly string[];
  /** Timer refresh period (ms). */
  refreshMs: number;
  /** How long a unit's last confirmed route stays usable without another confirming read (ms). */
  stalenessMs: number;
  /** Least time between two reads triggered by messages on the routes channel (ms). Default 100. */
  hintIntervalMs?: number;
  /** The clock ages are read on (only its monotonic side); default the process's. Injectable for tests. */
  clock?: Pick<RoutingClock, 'monotonicMs'>;
}

/** Why a unit's last read did not confirm its route. */
export type UnitProblem = { reason: 'invalid-record'; error: RoutingRecordInvalidError } | { reason: 'missing-record' };

interface Entry {
  /** The last valid record applied; null: none (routed to the source: the move has not begun). */
  record: RoutingRecord | null;
  /** Monotonic time at which the last read that confirmed the route was issued; -Infinity: never. */
  okAt: number;
  /** Set while the unit's record reads as invalid, or as gone after it was seen. */
  problem?: UnitProblem;
}

type Waiter = () => void;

/** Default of {@link RouteTableOptions.hintIntervalMs}. */
export const DEFAULT_HINT_INTERVAL_MS = 100;

/** In-memory routes of the units a client uses. */
export class RouteTable {
  private readonly store: RoutingStore;
  private readonly entries = new Map<string, Entry>();
  private readonly waiters = new Map<string, Set<Waiter>>();
  private readonly refreshMs: number;
  private readonly stalenessMs: number;
  private readonly hintIntervalMs: number;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  private subscription: RouteSubscription | undefined;
  private refreshing: Promise<void> | undefined;
  /** Units named by messages since the last hinted read. */
  private readonly hinted = new Set<string>();
  private hintTimer: NodeJS.Timeout | undefined;
  private hintReading = false;
  private lastHintReadAt = Number.NEGATIVE_INFINITY;
  private hintReads = 0;
  private closed = false;
  /** Listeners told of every applied change (dual workers, tests). */
  private readonly listeners = new Set<(unit: string, record: RoutingRecord | undefined) => void>();

  constructor(opts: RouteTableOptions) {
    this.store = opts.store;
    this.refreshMs = opts.refreshMs;
    this.stalenessMs = opts.stalenessMs;
    this.hintIntervalMs = opts.hintIntervalMs ?? DEFAULT_HINT_INTERVAL_MS;
    const clock = opts.clock ?? systemClock;
    this.now = () => clock.monotonicMs();
    for (const u of opts.units) this.entries.set(u, { record: null, okAt: Number.NEGATIVE_INFINITY });
  }

  /** Subscribes, loads every unit once (throws if Redis cannot be read), then refreshes on a timer. */
  async start(): Promise<void> {
    this.subscription = await this.store.subscribe((h) => this.onHint(h));
    await this.refresh(true);
    this.timer = setInterval(() => {
      this.refresh(false).catch(() => undefined);
    }, this.refreshMs);
    this.timer.unref();
  }

  /** Stops the timers and the subscription; waiters are woken and see the table closed. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.hintTimer) clearTimeout(this.hintTimer);
    this.hintTimer = undefined;
    await this.subscription?.close();
    this.subscription = undefined;
    for (const set of this.waiters.values()) for (const w of set) w();
    this.waiters.clear();
  }

  /** Milliseconds since the unit's route was last confirmed (without a unit: the stalest unit's). */
  staleForMs(unit?: string): number {
    const now = this.now();
    if (unit !== undefined) return Math.max(0, now - (this.entries.get(unit)?.okAt ?? Number.NEGATIVE_INFINITY));
    let oldest = now;
    for (const e of this.entries.values()) oldest = Math.min(oldest, e.okAt);
    return Math.max(0, now - oldest);
  }

  /** True while the unit's last confirmed route may be used (without a unit: every tracked unit's). */
  isFresh(unit?: string): boolean {
    return this.staleForMs(unit) <= this.stalenessMs;
  }

  /** True when the unit is tracked (its record, or its absence, is being read). */
  knows(unit: string): boolean {
    return this.entries.has(unit);
  }

  /** Why the unit's last read did not confirm its route (an invalid or vanished record), if it did not. */
  problem(unit: string): UnitProblem | undefined {
    return this.entries.get(unit)?.problem;
  }

  /** How many reads messages on the routes channel have caused (tests: a flood must not flood Redis). */
  hintReadCount(): number {
    return this.hintReads;
  }

  /**
   * The unit's record (undefined: no record = source). Throws {@link RoutingUnavailableError} when the
   * unit's route was not confirmed within the staleness bound, or was never (an untracked unit, or one
   * whose record was invalid from the first read).
   */
  lookup(unit: string): RoutingRecord | undefined {
    const e = this.entries.get(unit);
    const staleFor = this.now() - (e?.okAt ?? Number.NEGATIVE_INFINITY);
    if (!e || staleFor > this.stalenessMs) {
      const p = e?.problem;
      throw new RoutingUnavailableError(unit, staleFor, {
        reason: p?.reason ?? 'stale',
        key: this.store.routeKey(unit),
        ...(p?.reason === 'invalid-record' ? { cause: p.error } : {}),
      });
    }
    return e.record ?? undefined;
  }

  /** Starts tracking a unit first seen after start-up (one Redis read; later kept fresh like the rest). */
  async track(unit: string): Promise<void> {
    if (this.entries.has(unit)) return;
    const startedAt = this.now();
    let read: RecordRead;
    try {
      read = await withTimeout(this.store.read(unit), this.refreshMs);
    } catch (err) {
      throw new RoutingUnavailableError(unit, Number.POSITIVE_INFINITY, { cause: err });
    }
    if (this.entries.has(unit)) return;
    // An invalid record is tracked too: lookups fail closed naming it, and the refresh picks up its repair.
    this.entries.set(unit, { record: null, okAt: Number.NEGATIVE_INFINITY });
    this.applyRead(read, startedAt);
  }

  /** Resolves on the next applied change of `unit`, or after `ms` (whichever comes first). */
  waitForChange(unit: string, ms: number): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      let set = this.waiters.get(unit);
      if (!set) this.waiters.set(unit, (set = new Set()));
      const s = set;
      const done = () => {
        clearTimeout(t);
        s.delete(done);
        resolve();
      };
      const t = setTimeout(done, Math.max(0, ms));
      s.add(done);
    });
  }

  /** Registers a listener for applied changes; returns its removal. */
  onChange(fn: (unit: string, record: RoutingRecord | undefined) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /**
   * Reads every tracked unit in one MGET, each judged on its own. A failed read leaves every unit's last
   * confirmed route (and its age); an invalid record leaves only its unit's.
   */
  refresh(throwOnError: boolean): Promise<void> {
    if (this.refreshing) return throwOnError ? this.refreshing : this.refreshing.catch(() => undefined);
    const p = this.readUnits([...this.entries.keys()]).finally(() => {
      this.refreshing = undefined;
    });
    this.refreshing = p;
    return throwOnError ? p : p.catch(() => undefined);
  }

  private async readUnits(units: string[]): Promise<void> {
    const startedAt = this.now();
    const reads = await withTimeout(this.store.readMany(units), Math.max(this.refreshMs, 1000));
    for (const r of reads) this.applyRead(r, startedAt);
  }

  /** A message named a unit: read it again soon, together with any other unit named meanwhile. */
  private onHint(hint: RouteHint): void {
    if (this.closed || !this.entries.has(hint.unit)) return;
    this.hinted.add(hint.unit);
    this.scheduleHintRead();
  }

  private scheduleHintRead(): void {
    if (this.hintTimer || this.hintReading || this.closed || this.hinted.size === 0) return;
    // Leading edge: a lone change is read at once; a burst waits for the interval and is read as one MGET.
    const wait = Math.min(this.hintIntervalMs, Math.max(0, this.lastHintReadAt + this.hintIntervalMs - this.now()));
    this.hintTimer = setTimeout(() => {
      this.hintTimer = undefined;
      void this.readHinted();
    }, wait);
    this.hintTimer.unref();
  }

  private async readHinted(): Promise<void> {
    const units = [...this.hinted];
    this.hinted.clear();
    this.hintReading = true;
    this.lastHintReadAt = this.now();
    this.hintReads++;
    try {
      await this.readUnits(units);
    } catch {
      // Redis unreachable: the timer refresh keeps trying, and staleness tells.
    } finally {
      this.hintReading = false;
      this.scheduleHintRead();
    }
  }

  /**
   * One unit's read, issued at `startedAt`. A record that disappears after it was seen means Redis lost
   * its data: that is not "the move has not begun", so the last route is kept for the staleness bound
   * and the unit then fails closed until its record is written again. An invalid record is treated the
   * same way. After either, the next valid record is taken whatever its epoch (the store was reset or
   * repaired); otherwise an older epoch never undoes a newer one.
   */
  private applyRead(read: RecordRead, startedAt: number): void {
    const e = this.entries.get(read.unit);
    if (!e) return;
    if (read.invalid) {
      e.problem = { reason: 'invalid-record', error: read.invalid };
      return;
    }
    if (!read.record) {
      if (e.record) {
        if (e.problem?.reason !== 'missing-record') e.problem = { reason: 'missing-record' };
        return;
      }
      e.problem = undefined;
      e.okAt = Math.max(e.okAt, startedAt);
      return;
    }
    const afterGap = e.problem !== undefined;
    e.problem = undefined;
    e.okAt = Math.max(e.okAt, startedAt);
    const cur = e.record;
    if (cur && !afterGap && read.record.epoch <= cur.epoch) return;
    if (cur && afterGap && read.record.epoch === cur.epoch && JSON.stringify(read.record) === JSON.stringify(cur)) return;
    e.record = read.record;
    for (const l of this.listeners) l(read.unit, read.record);
    const set = this.waiters.get(read.unit);
    if (set) for (const w of [...set]) w();
  }
}

/** Rejects when `p` does not settle within `ms`. */
export function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}
