/**
 * The client-side cache of routing records: loaded once, pushed by pub/sub, refreshed on a timer
 * (pub/sub can lose messages). The hot path (`lookup`) is a Map read — no Redis round trip per start.
 *
 * Freshness: the table is fresh while the last successful refresh is younger than `stalenessMs`.
 * Past that, lookups throw {@link RoutingUnavailableError}: the client fails closed instead of
 * guessing, and never splits a unit between a stale and a fresh view for longer than that bound.
 */
import { RoutingUnavailableError } from './errors';
import type { RouteEvent, RouteSubscription, RoutingStore } from './store';
import type { RoutingRecord } from './types';

/** Options of {@link RouteTable}. */
export interface RouteTableOptions {
  store: RoutingStore;
  /** Units to load and keep fresh from the start; others are added on first use. */
  units: readonly string[];
  /** Timer refresh period (ms). */
  refreshMs: number;
  /** How long the last known routes stay usable without a successful refresh (ms). */
  stalenessMs: number;
  /** Clock (ms); injectable for unit tests. */
  now?: () => number;
}

type Waiter = () => void;

/** In-memory routes of the units a client uses. */
export class RouteTable {
  private readonly store: RoutingStore;
  private readonly records = new Map<string, RoutingRecord | null>();
  /** Units whose record vanished without a deletion message (Redis lost its data), and since when. */
  private readonly vanished = new Map<string, number>();
  private readonly waiters = new Map<string, Set<Waiter>>();
  private readonly refreshMs: number;
  private readonly stalenessMs: number;
  private readonly now: () => number;
  private freshAt = Number.NEGATIVE_INFINITY;
  private timer: NodeJS.Timeout | undefined;
  private subscription: RouteSubscription | undefined;
  private refreshing: Promise<void> | undefined;
  private closed = false;
  /** Listeners told of every applied change (dual workers, tests). */
  private readonly listeners = new Set<(unit: string, record: RoutingRecord | undefined) => void>();

  constructor(opts: RouteTableOptions) {
    this.store = opts.store;
    this.refreshMs = opts.refreshMs;
    this.stalenessMs = opts.stalenessMs;
    this.now = opts.now ?? Date.now;
    for (const u of opts.units) this.records.set(u, null);
  }

  /** Subscribes, loads every unit once (throws if Redis cannot be read), then refreshes on a timer. */
  async start(): Promise<void> {
    this.subscription = await this.store.subscribe((e) => this.onEvent(e));
    await this.refresh(true);
    this.timer = setInterval(() => {
      this.refresh(false).catch(() => undefined);
    }, this.refreshMs);
    this.timer.unref();
  }

  /** Stops the timer and the subscription; waiters are woken and see the table closed. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.subscription?.close();
    this.subscription = undefined;
    for (const set of this.waiters.values()) for (const w of set) w();
    this.waiters.clear();
  }

  /** Milliseconds since the last successful refresh. */
  staleForMs(): number {
    return Math.max(0, this.now() - this.freshAt);
  }

  /** True while the last known routes may be used. */
  isFresh(): boolean {
    return this.now() - this.freshAt <= this.stalenessMs;
  }

  /** True when the unit is tracked (its record, or its absence, is known). */
  knows(unit: string): boolean {
    return this.records.has(unit);
  }

  /**
   * The unit's record (undefined: no record = source). Throws {@link RoutingUnavailableError} when
   * the table is stale. The unit must be tracked (see {@link track}).
   */
  lookup(unit: string): RoutingRecord | undefined {
    const now = this.now();
    if (now - this.freshAt > this.stalenessMs) throw new RoutingUnavailableError(unit, this.staleForMs());
    const since = this.vanished.get(unit);
    if (since !== undefined && now - since > this.stalenessMs) throw new RoutingUnavailableError(unit, now - since);
    return this.records.get(unit) ?? undefined;
  }

  /** Starts tracking a unit first seen after start-up (one Redis read; later kept fresh like the rest). */
  async track(unit: string): Promise<void> {
    if (this.records.has(unit)) return;
    let record: RoutingRecord | undefined;
    try {
      record = await withTimeout(this.store.get(unit), this.refreshMs);
    } catch (err) {
      throw new RoutingUnavailableError(unit, this.staleForMs(), { cause: err });
    }
    if (!this.records.has(unit)) this.apply(unit, record);
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

  /** Reads every tracked unit in one MGET. A failure leaves the last known routes (and their age). */
  refresh(throwOnError: boolean): Promise<void> {
    if (this.refreshing) return throwOnError ? this.refreshing : this.refreshing.catch(() => undefined);
    const units = [...this.records.keys()];
    const startedAt = this.now();
    const p = (async () => {
      try {
        const records = await withTimeout(this.store.getMany(units), Math.max(this.refreshMs, 1000));
        units.forEach((u, i) => this.applySnapshot(u, records[i]));
        // Fresh as of when the read was issued: a change published before then is in it.
        this.freshAt = Math.max(this.freshAt, startedAt);
      } finally {
        this.refreshing = undefined;
      }
    })();
    this.refreshing = p;
    return throwOnError ? p : p.catch(() => undefined);
  }

  private onEvent(event: RouteEvent): void {
    if (!this.records.has(event.unit)) return;
    if ('deleted' in event) {
      this.vanished.delete(event.unit);
      this.apply(event.unit, undefined);
      return;
    }
    if (this.vanished.delete(event.unit)) this.records.set(event.unit, null); // restored after a data loss
    this.apply(event.unit, event.record);
  }

  /**
   * A refresh result. A record that disappears without a deletion message means Redis lost its data:
   * that is not "the move has not begun", so the last known route is kept for the staleness bound and
   * the unit then fails closed until its record is written again (whatever its epoch: the store was reset).
   */
  private applySnapshot(unit: string, record: RoutingRecord | undefined): void {
    const cur = this.records.get(unit);
    if (!record && cur) {
      if (!this.vanished.has(unit)) this.vanished.set(unit, this.now());
      return;
    }
    if (record && this.vanished.has(unit)) {
      this.vanished.delete(unit);
      if (cur && record.epoch <= cur.epoch) this.records.set(unit, null); // accept the restored record
    }
    this.apply(unit, record);
  }

  /** Applies a record unless it is older than the one held (a late refresh must not undo a push). */
  private apply(unit: string, record: RoutingRecord | undefined): void {
    const cur = this.records.get(unit);
    if (record && cur && record.epoch < cur.epoch) return;
    if (record && cur && record.epoch === cur.epoch) return;
    if (!record && !cur) {
      this.records.set(unit, null);
      return;
    }
    this.records.set(unit, record ?? null);
    for (const l of this.listeners) l(unit, record);
    const set = this.waiters.get(unit);
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
