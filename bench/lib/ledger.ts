/**
 * The ledger of a cutover under load: every start an application issued (intended send time, outcome,
 * the route epoch and cluster decided), the timeline of what happened to the system meanwhile (route
 * changes, operator signals, faults), and the checks against both clusters once the run has drained.
 * Used by `npm run bench:cutover` (a two-minute version of it is to become an integration test).
 *
 * Times are milliseconds on `performance.now()` (monotonic) since the ledger's origin.
 */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Side } from '../../src/routing/types';
import { mapPool } from './pool';
import { percentile } from './stats';

/** How a start ended for the application: acknowledged, refused, or given up on with its fate unknown. */
export type Outcome = 'ok' | 'failed' | 'unknown';

/** One start the application issued. */
export interface LedgerEntry {
  workflowId: string;
  /** The unit the start belongs to (its routing record's name). */
  unit: string;
  /** When the open loop meant to send it (latency counts from here: no coordinated omission). */
  intendedMs: number;
  /** When the call returned or was given up on (undefined while in flight). */
  endMs?: number;
  outcome?: Outcome;
  /** The route's epoch when the start was sent (0: no record). */
  epoch?: number;
  /** The cluster the routed client placed the start on (acknowledged starts). */
  decided?: Side;
  error?: string;
}

/** Something that happened to the system during the run. */
export interface TimelineEvent {
  atMs: number;
  /** `route`: a client saw a new route; `signal`: an operator command; `fault`/`healed`: injected and over. */
  kind: 'route' | 'signal' | 'fault' | 'healed' | 'phase' | 'note';
  unit?: string;
  detail: string;
  /** For `route`: the record's epoch and the side it sends everything to (`mixed` while at a percentage). */
  epoch?: number;
  side?: Side | 'mixed';
  /** For `signal`: the command (e.g. rollback). */
  command?: string;
}

export class Ledger {
  readonly entries: LedgerEntry[] = [];
  readonly timeline: TimelineEvent[] = [];
  readonly origin = performance.now();

  /** `onNote` sees each timeline event as it is recorded except route changes (a run's log). */
  constructor(private readonly onNote?: (e: TimelineEvent) => void) {}

  now(): number {
    return performance.now() - this.origin;
  }

  note(e: Omit<TimelineEvent, 'atMs'> & { atMs?: number }): TimelineEvent {
    const ev = { ...e, atMs: e.atMs ?? this.now() };
    this.timeline.push(ev);
    if (ev.kind !== 'route') this.onNote?.(ev);
    return ev;
  }
}

/** What one start through the routed client reports back to the driver. */
export interface StartResult {
  decided: Side;
  epoch: number;
}

export interface OpenLoopOptions {
  ratePerSec: number;
  /** Issues start number `seq`, intended at `intendedMs`; `give up` (the application's own timeout) is the driver's. */
  next: (seq: number) => { workflowId: string; unit: string; start: () => Promise<StartResult> };
  /**
   * How long the application waits for a start before giving up on it (its fate then unknown). A start
   * that does not return in time is recorded `unknown` even if it succeeds later.
   */
  giveUpMs: () => number;
}

/**
 * An open-loop driver: start `seq` is due at `seq / rate` seconds and is sent then, however many are in
 * flight; its latency is counted from that intended time, so a stall shows in the latencies instead of
 * silently lowering the rate.
 */
export class OpenLoop {
  private seq = 0;
  private stopped = false;
  private readonly inflight = new Set<Promise<void>>();
  private loop: Promise<void> | undefined;

  constructor(
    private readonly ledger: Ledger,
    private readonly opts: OpenLoopOptions,
  ) {}

  start(): void {
    const t0 = this.ledger.now();
    const interval = 1000 / this.opts.ratePerSec;
    this.loop = (async () => {
      while (!this.stopped) {
        const due = Math.floor((this.ledger.now() - t0) / interval);
        while (this.seq <= due && !this.stopped) this.issue(t0 + this.seq * interval);
        await new Promise((r) => setTimeout(r, Math.max(1, Math.min(20, interval))));
      }
    })();
  }

  private issue(intendedMs: number): void {
    const { workflowId, unit, start } = this.opts.next(this.seq++);
    const e: LedgerEntry = { workflowId, unit, intendedMs };
    this.ledger.entries.push(e);
    const giveUp = this.opts.giveUpMs();
    let timer: NodeJS.Timeout | undefined;
    const p = Promise.race([
      start().then(
        (r) => {
          if (e.outcome) return;
          Object.assign(e, { outcome: 'ok', decided: r.decided, epoch: r.epoch, endMs: this.ledger.now() });
        },
        (err: unknown) => {
          if (e.outcome) return;
          Object.assign(e, { outcome: 'failed', endMs: this.ledger.now(), error: err instanceof Error ? err.message : String(err) });
        },
      ),
      new Promise<void>((r) => {
        timer = setTimeout(() => {
          // The application stopped waiting; the call itself carries on (and may start the run).
          if (!e.outcome) Object.assign(e, { outcome: 'unknown', endMs: this.ledger.now() });
          r();
        }, giveUp);
      }),
    ]).finally(() => clearTimeout(timer));
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p));
  }

  /** Starts issued so far. */
  get issued(): number {
    return this.seq;
  }

  /** Stops issuing; resolves once every start in flight has an outcome. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
    await Promise.all([...this.inflight]);
  }
}

/** Where the ledger's starts are, once the run has drained. */
export interface Reconciliation {
  issued: number;
  acked: number;
  failed: number;
  unknown: number;
  /** Acknowledged and on neither cluster. */
  lost: string[];
  /** On both clusters (any outcome). */
  duplicated: string[];
  /** Acknowledged, on one cluster, but not the one the routed client said it placed it on. */
  misrouted: string[];
  /** Still running on a cluster after the drain. */
  stranded: string[];
  /** Unknown outcomes whose fate the clusters settle: ran exactly once, or never started. */
  unknownResolved: number;
  unknownRan: number;
  /** Refused starts that ran anyway (the application would retry them as new work). */
  failedButRan: string[];
  onSource: number;
  onTarget: number;
}

type Found = { side: Side; running: boolean }[];

/** Describes one workflow ID on both clusters. */
async function findOn(clients: Record<Side, Client>, id: string): Promise<Found> {
  const out: Found = [];
  for (const side of ['source', 'target'] as const) {
    try {
      const d = await clients[side].workflow.getHandle(id).describe();
      out.push({ side, running: d.status.name === 'RUNNING' });
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
    }
  }
  return out;
}

/** What one side's visibility listed: per workflow ID, its runs and whether one is still running. */
type Listed = Map<string, { runs: number; running: boolean }>;

async function listSide(client: Client, query: string): Promise<Listed> {
  const out: Listed = new Map();
  for await (const w of client.workflow.list({ query, pageSize: 1000 })) {
    const seen = out.get(w.workflowId) ?? { runs: 0, running: false };
    seen.runs++;
    seen.running ||= w.status.name === 'RUNNING';
    out.set(w.workflowId, seen);
  }
  return out;
}

/** How `reconcileLedger` read the clusters: listed runs, and the describes it still needed. */
export interface ReconcileReads {
  listedRuns: number;
  describes: number;
}

/**
 * Checks every start of the ledger on both clusters (clients per unit, bound to the unit's namespace on
 * each side). Run it after the drain: a run still open then counts as stranded.
 *
 * With `listQuery` (a visibility query that matches every start of the unit on either side, e.g. its task
 * queue), each unit is listed once per side instead of described once per start: 100,000 starts are a
 * hundred pages, not 200,000 calls. Visibility lags, so what the listing cannot vouch for is described
 * after all: an ID listed nowhere (lost, or not visible yet) and an ID listed as running (stranded, or
 * closed since). A workflow ID listed with two runs on one cluster is duplicated too.
 */
export async function reconcileLedger(
  ledger: Ledger,
  clientsFor: (unit: string) => Record<Side, Client>,
  onProgress?: (done: number) => void,
  listQuery?: (unit: string) => string | undefined,
): Promise<Reconciliation & { reads: ReconcileReads }> {
  const r: Reconciliation & { reads: ReconcileReads } = {
    issued: ledger.entries.length,
    acked: 0,
    failed: 0,
    unknown: 0,
    lost: [],
    duplicated: [],
    misrouted: [],
    stranded: [],
    unknownResolved: 0,
    unknownRan: 0,
    failedButRan: [],
    onSource: 0,
    onTarget: 0,
    reads: { listedRuns: 0, describes: 0 },
  };
  // Each unit's listing of both sides, when it has a query.
  const listings = new Map<string, Record<Side, Listed>>();
  for (const unit of new Set(ledger.entries.map((e) => e.unit))) {
    const query = listQuery?.(unit);
    if (!query) continue;
    const clients = clientsFor(unit);
    const sides = { source: await listSide(clients.source, query), target: await listSide(clients.target, query) };
    for (const l of Object.values(sides)) for (const v of l.values()) r.reads.listedRuns += v.runs;
    listings.set(unit, sides);
  }
  const twice = new Set<string>();
  const fromListing = (e: LedgerEntry): Found | undefined => {
    const sides = listings.get(e.unit);
    if (!sides) return undefined;
    const on: Found = [];
    for (const side of ['source', 'target'] as const) {
      const l = sides[side].get(e.workflowId);
      if (!l) continue;
      if (l.runs > 1) twice.add(e.workflowId);
      on.push({ side, running: l.running });
    }
    // Nowhere, or running: visibility may not have caught up; a describe settles it.
    return on.length === 0 || on.some((x) => x.running) ? undefined : on;
  };
  const found = await mapPool(
    ledger.entries,
    16,
    async (e) => {
      const listed = fromListing(e);
      if (listed) return listed;
      r.reads.describes += 2;
      return findOn(clientsFor(e.unit), e.workflowId);
    },
    onProgress,
  );
  ledger.entries.forEach((e, i) => {
    const f = found[i]!;
    if (!f.ok) throw new Error(`reconcile: could not describe ${e.workflowId}: ${String(f.error)}`);
    const on = f.value;
    if (on.some((x) => x.side === 'source')) r.onSource++;
    if (on.some((x) => x.side === 'target')) r.onTarget++;
    if (on.length > 1 || twice.has(e.workflowId)) r.duplicated.push(e.workflowId);
    if (on.some((x) => x.running)) r.stranded.push(e.workflowId);
    if (e.outcome === 'ok') {
      r.acked++;
      if (on.length === 0) r.lost.push(e.workflowId);
      else if (on.length === 1 && on[0]!.side !== e.decided) r.misrouted.push(e.workflowId);
    } else if (e.outcome === 'unknown') {
      r.unknown++;
      // Settled by the clusters: it ran on exactly one, or on none (never started). Both are answers.
      if (on.length <= 1) r.unknownResolved++;
      if (on.length === 1) r.unknownRan++;
    } else {
      r.failed++;
      if (on.length > 0) r.failedButRan.push(e.workflowId);
    }
  });
  return r;
}

/** Availability and latency around the route changes, and how long each rollback took to reach every client. */
export interface FlipFigures {
  /** Route changes looked at (each a window of ±windowMs/2). */
  changes: number;
  /** Acknowledged share of the starts intended inside the windows (and outside every injected fault). */
  flipAvailability: number;
  /** Starts inside the windows left out because a fault was injected at their intended time (it refuses them by design). */
  flipStartsInFaults: number;
  /** p99 latency (from intended time) inside the windows / outside them. */
  p99Inflation: number;
  flipP99Ms: number;
  baseP99Ms: number;
  /** Per rollback: ms from the operator's signal until no routed client sent a new start of the unit to the target. */
  rollbackMs: number[];
}

/** Latency of an acknowledged start, from its intended send time. */
const latencyOf = (e: LedgerEntry) => (e.endMs ?? e.intendedMs) - e.intendedMs;

export function flipFigures(ledger: Ledger, windowMs = 10_000): FlipFigures {
  // A route change is the first time a client saw an epoch of a unit; each counts once.
  const seen = new Set<string>();
  const changes = ledger.timeline.filter((t) => {
    if (t.kind !== 'route' || !t.unit) return false;
    const k = `${t.unit}@${t.epoch}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
  const half = windowMs / 2;
  const faults = faultWindows(ledger.timeline);
  const inFault = (e: LedgerEntry) => faults.some(([from, to]) => e.intendedMs >= from && e.intendedMs <= to);
  const near = (e: LedgerEntry) => changes.some((c) => Math.abs(e.intendedMs - c.atMs) <= half);
  // A start refused while a fault was injected says nothing about the route change beside it.
  const nearAll = ledger.entries.filter(near);
  const inWin = nearAll.filter((e) => !inFault(e));
  const outWin = ledger.entries.filter((e) => !near(e));
  const okLat = (es: LedgerEntry[]) => es.filter((e) => e.outcome === 'ok').map(latencyOf);
  const flipP99 = percentile(okLat(inWin), 99);
  const baseP99 = percentile(okLat(outWin), 99);
  const rollbackMs = ledger.timeline
    .filter((t) => t.kind === 'signal' && t.command === 'rollback' && t.unit)
    .map((sig) => {
      // The unit's next command (a move started again) ends the rollback: its later starts to the target are that move's.
      const next = ledger.timeline.find((t) => t.kind === 'signal' && t.unit === sig.unit && t.atMs > sig.atMs)?.atMs ?? Infinity;
      // Starts sent after the signal (an open loop sends at the intended time), acknowledged with a placement.
      const after = ledger.entries.filter(
        (e) => e.unit === sig.unit && e.outcome === 'ok' && e.intendedMs >= sig.atMs && e.intendedMs < next,
      );
      // The moment every client sends new starts to the source: just after the last one still decided for the target.
      const lastTarget = after.filter((e) => e.decided === 'target').map((e) => e.intendedMs);
      const firstSource = after.find((e) => e.decided === 'source')?.intendedMs ?? sig.atMs;
      return Math.max(firstSource, ...lastTarget) - sig.atMs;
    });
  return {
    changes: changes.length,
    flipAvailability: inWin.length === 0 ? 1 : inWin.filter((e) => e.outcome === 'ok').length / inWin.length,
    flipStartsInFaults: nearAll.length - inWin.length,
    p99Inflation: flipP99 / baseP99,
    flipP99Ms: flipP99,
    baseP99Ms: baseP99,
    rollbackMs,
  };
}

/** [injected, over] of each fault in the timeline; one never reported over lasts to the end. */
function faultWindows(timeline: readonly TimelineEvent[]): [number, number][] {
  const out: [number, number][] = [];
  timeline.forEach((t, i) => {
    if (t.kind !== 'fault') return;
    const end = timeline.slice(i + 1).find((u) => (u.kind === 'healed' || u.kind === 'note') && u.detail.includes(t.detail));
    out.push([t.atMs, end?.atMs ?? Infinity]);
  });
  return out;
}

/** A fault of the schedule: injected at `atMs` into the run, healed by its own code; recorded in the timeline. */
export interface Fault {
  name: string;
  /** Injects the fault and heals it; resolves when the system is whole again. */
  run: (ledger: Ledger) => Promise<void>;
}

/**
 * Runs the faults one after another, `gapMs` apart, each recorded (`fault` when injected, `healed` when
 * over, or `note` with the error when it failed to run). Stops early when `stop()` returns true.
 */
export async function runFaults(ledger: Ledger, faults: readonly Fault[], gapMs: number, stop: () => boolean): Promise<string[]> {
  const failures: string[] = [];
  for (const f of faults) {
    if (stop()) break;
    await new Promise((r) => setTimeout(r, gapMs));
    ledger.note({ kind: 'fault', detail: f.name });
    try {
      await f.run(ledger);
      ledger.note({ kind: 'healed', detail: f.name });
    } catch (err) {
      const msg = `${f.name}: ${err instanceof Error ? err.message : String(err)}`;
      failures.push(msg);
      ledger.note({ kind: 'note', detail: `fault failed: ${msg}` });
    }
  }
  return failures;
}
