/**
 * The entity workflow keeps its unit's routing record true (pure decisions: no Temporal imports, the time
 * arrives as an argument). The workflow is the source of truth for the route: while the unit waits, it
 * reads the record back every `routeCheckMs`, and a route change that loses its compare-and-set reads it
 * too. Judged here:
 *   - missing (Redis restarted empty), invalid, or regressed (an epoch below the workflow's, another route
 *     at the same epoch, or an epoch below one clients may hold) → restored above every epoch seen;
 *   - forced to the source by an operator (`cutover route <unit> source --force`) → adopted, never written
 *     over; the unit then rolls back (route-watch-state.ts);
 *   - ahead of the workflow, written by something else → left alone (a route change over it stays a
 *     `RouteConflict`, as before).
 * Table-tested in test/unit/route-watch.test.ts.
 */
import { DEFAULT_ROUTE_CHECK_MS } from '../domain/constants';
import { unitName } from '../domain/ids';
import type { MigrationState, RouteSeen, RouteView, RouteWatch, UnitMigrationInput } from '../domain/migration';

/** Why a record is restored (the audit record's reason is `restored: <why>`). */
export type RestoreWhy = 'missing' | 'regressed' | 'invalid';

/** The route watch's steps: read the record back; write the workflow's route above every epoch seen. */
export type RouteWatchStep = { kind: 'check-route' } | { kind: 'restore-route'; epoch: number; why: RestoreWhy };

/** What the route watch asks the workflow to do next. */
export type RouteWatchAction =
  | { type: 'step'; step: RouteWatchStep }
  /** The record read is consistent (or ahead, left alone); `conflict`: a route change lost to it, the unit fails as before. */
  | { type: 'route-seen'; verdict: 'consistent' | 'ahead'; conflict?: string }
  /** The record was forced to the source by an operator: take it as the unit's route and roll back. */
  | { type: 'adopt-forced' };

/** The record read, judged against the workflow's route. */
export type RouteJudgement =
  { kind: 'consistent' } | { kind: 'ahead' } | { kind: 'forced' } | { kind: 'restore'; why: RestoreWhy; epoch: number };

/** How often the unit reads its record back. */
export function routeCheckMs(input: UnitMigrationInput): number {
  return input.routeCheckMs ?? DEFAULT_ROUTE_CHECK_MS;
}

/** True while the unit watches its record: runs begun with route checks, once the record exists. */
export function watching(state: MigrationState): state is MigrationState & { routeWatch: RouteWatch } {
  return !!state.routeWatch && state.route.epoch > 0;
}

/** When the next check is due (ms). */
export function nextRouteCheck(input: UnitMigrationInput, w: RouteWatch): number {
  return w.checkedAt === undefined ? Number.NEGATIVE_INFINITY : w.checkedAt + routeCheckMs(input);
}

function sameView(a: RouteView, b: RouteView): boolean {
  return (
    a.kind === b.kind &&
    (a.kind !== 'side' || a.side === b.side) &&
    (a.kind !== 'percent' || a.percent === b.percent) &&
    a.sourceWorkersMayStop === b.sourceWorkersMayStop
  );
}

/**
 * A forced mark the unit has not adopted yet, and that speaks to this migration: written above the
 * workflow's epoch, or after the watch began. (A mark found at the workflow's own epoch and older than the
 * watch is an earlier migration's: its record is where this one began.)
 */
export function isNewForced(state: MigrationState, w: RouteWatch, seen: RouteSeen): boolean {
  const rec = seen.record;
  const f = rec?.forced;
  if (!rec || !f) return false;
  if (w.forced && w.forced.at === f.at && w.forced.by === f.by) return false;
  return rec.view.epoch > state.route.epoch || Date.parse(f.at) >= w.since;
}

/** Judges the record read against the workflow's route and every epoch it has seen. Pure. */
export function judgeSeen(state: MigrationState, w: RouteWatch, seen: RouteSeen): RouteJudgement {
  const own = state.route;
  // Above every epoch the workflow or a client may hold: clients never take an older epoch over a newer one.
  const top = Math.max(w.seenEpoch, own.epoch);
  const restore = (why: RestoreWhy, above = top): RouteJudgement => ({ kind: 'restore', why, epoch: Math.max(top, above) + 1 });
  if (seen.invalid) return restore('invalid', seen.invalid.epoch);
  const rec = seen.record;
  if (!rec) return restore('missing');
  if (isNewForced(state, w, seen)) return { kind: 'forced' };
  const epoch = rec.view.epoch;
  const same = sameView(rec.view, own);
  if (epoch < own.epoch) return restore('regressed', epoch);
  if (epoch === own.epoch) return same && epoch >= w.seenEpoch ? { kind: 'consistent' } : restore('regressed');
  // Ahead: a repair restating the workflow's route is consistent; anything else is left alone.
  return rec.restoredFrom === own.epoch && same ? { kind: 'consistent' } : { kind: 'ahead' };
}

/**
 * The route watch's next action, before the phase's own work: act on a record read, or read it when a
 * check is due. Undefined when there is nothing to do (or the run does not watch its record).
 */
export function routeWatchAction(
  input: UnitMigrationInput,
  state: MigrationState,
  now: number,
  opts: { periodic: boolean } = { periodic: true },
): RouteWatchAction | undefined {
  if (!watching(state)) return undefined;
  const w = state.routeWatch;
  const seen = w.seen;
  if (seen) {
    const j = judgeSeen(state, w, seen);
    switch (j.kind) {
      case 'restore':
        return { type: 'step', step: { kind: 'restore-route', epoch: j.epoch, why: j.why } };
      case 'forced':
        return { type: 'adopt-forced' };
      case 'consistent':
        return { type: 'route-seen', verdict: 'consistent' };
      case 'ahead': {
        const r = seen.record!;
        const unit = unitName(input.unit);
        if (seen.from !== 'change') return { type: 'route-seen', verdict: 'ahead' };
        return {
          type: 'route-seen',
          verdict: 'ahead',
          conflict:
            `routing record of ${unit}: expected epoch ${state.route.epoch}, found ${r.view.epoch} written by ${r.changedBy}; ` +
            `another writer changed it — inspect with \`cutover route show ${unit}\` and \`cutover status\``,
        };
      }
    }
  }
  if (opts.periodic && now >= nextRouteCheck(input, w)) return { type: 'step', step: { kind: 'check-route' } };
  return undefined;
}

/** A wait ends by the next check at the latest, so a unit that waits (for a bake, an operator, a resume) keeps checking. */
export function capWait<A extends { type: string; until?: number }>(action: A, input: UnitMigrationInput, state: MigrationState): A {
  if (action.type !== 'wait' || !watching(state)) return action;
  const next = nextRouteCheck(input, state.routeWatch);
  return action.until === undefined || action.until > next ? { ...action, until: next } : action;
}

/** True for the route watch's own actions: they run inside a wait without ending it (views and memo stay as they are). */
export function isRouteWatchAction(action: { type: string; step?: unknown }): boolean {
  if (action.type === 'route-seen' || action.type === 'adopt-forced') return true;
  const kind = action.type === 'step' ? (action.step as { kind?: string } | undefined)?.kind : undefined;
  // The placement sweep too: bookkeeping beside the phase's wait, not a step the views should show.
  return kind === 'check-route' || kind === 'restore-route' || kind === 'sweep-placements';
}
