/**
 * How the route watch changes an entity's state (pure: no Temporal imports; the time arrives as an
 * argument): what a check or a restore found, the adoption of a record forced to the source, and the
 * reason of the route audit record that follows. Decisions are in route-watch.ts.
 */
import { unitName } from '../domain/ids';
import type { ForcedMark, MigrationState, RouteSeen, RouteView, RouteWatch, UnitMigrationInput } from '../domain/migration';
import { verifySigned } from '../operators/signing';
import type { RestoreWhy } from './route-watch';
import { markCompensation, note } from './unit-state';

/** The command name a forced route is signed under (`cutover route <unit> source --force`). */
export const FORCE_COMMAND = 'route-force';

/** A new watch, begun at `now` with the route the unit holds. */
export function newRouteWatch(state: MigrationState, now: number, atWaits = false): RouteWatch {
  return { since: now, seenEpoch: state.route.epoch, restores: 0, ...(atWaits ? { atWaits: true as const } : {}) };
}

/** Records an epoch the workflow wrote or read (a restore goes above every one). */
export function sawEpoch(w: RouteWatch, epoch: number): void {
  w.seenEpoch = Math.max(w.seenEpoch, epoch);
}

/** The record read was consistent, or ahead of the workflow (left alone; noted once per epoch). */
export function applyRouteSeen(state: MigrationState, verdict: 'consistent' | 'ahead', at: string): void {
  const w = state.routeWatch;
  const rec = w?.seen?.record;
  if (!w) return;
  w.seen = undefined;
  if (!rec) return;
  sawEpoch(w, rec.view.epoch);
  if (verdict === 'ahead' && w.aheadNoted !== rec.view.epoch) {
    w.aheadNoted = rec.view.epoch;
    note(
      state,
      at,
      `routing record at epoch ${rec.view.epoch} is ahead of the workflow's ${state.route.epoch} (written by ${rec.changedBy}, ` +
        `${rec.changedAt}): left alone; \`cutover route show\` compares them`,
      'cutover',
      { epoch: rec.view.epoch, changedBy: rec.changedBy },
    );
  }
}

/** A restore was written: the unit's route is now the restored record (same route, higher epoch). */
export function applyRestored(state: MigrationState, why: RestoreWhy, view: RouteView, now: number, at: string): void {
  const w = state.routeWatch;
  if (!w) return;
  const from = state.route.epoch;
  state.route = view;
  sawEpoch(w, view.epoch);
  w.restores++;
  w.checkedAt = now;
  w.error = undefined;
  w.seen = undefined;
  // Clients may have routed by what was there (or failed closed) until now: drains wait their staleness bound from here.
  state.routeChangedAt = now;
  w.auditNext = { reason: `restored: ${why}`, ...(w.forced ? { forced: markOf(w.forced) } : {}) };
  note(state, at, `routing record ${why}: restored at epoch ${view.epoch} from the workflow's route (epoch ${from})`, 'cutover', {
    why,
    epoch: view.epoch,
    restoredFrom: from,
  });
}

/** A route change or check read the record back; the planner judges it next. */
export function applySeen(state: MigrationState, seen: RouteSeen): void {
  if (state.routeWatch) state.routeWatch.seen = seen;
}

/** A read or restore failed (Redis unreachable): tried again at the next check; the unit carries on. */
export function applyWatchError(state: MigrationState, message: string, now: number): void {
  const w = state.routeWatch;
  if (!w) return;
  w.error = message.slice(0, 300);
  w.checkedAt = now;
  w.seen = undefined;
}

/** The forced mark without the epoch it was found at. */
function markOf(f: ForcedMark & { epoch?: number }): ForcedMark {
  const { epoch: _, ...mark } = f;
  return mark;
}

/**
 * Who a forced mark says signed it, checked against the plan's operators: the signed body must be a
 * `route-force` of this unit's workflow, by the mark's author, with its reason. A forced route is a way
 * back to the source (like a rollback, a safe direction), so it is adopted either way; the outcome is
 * recorded. Expiry is not checked: the workflow may come back long after the operator forced it.
 */
export function forcedSignature(
  f: ForcedMark,
  input: UnitMigrationInput,
  workflowId: string,
): { signedBy: string } | { problem: string } | Record<string, never> {
  const operators = input.operators ?? [];
  if (!f.signer) return operators.length > 0 ? { problem: 'unsigned (a way back to the source: adopted)' } : {};
  const v = verifySigned({ signature: { body: f.signer.body, sig: f.signer.sig } }, operators, {
    command: FORCE_COMMAND,
    workflowId,
    runIds: [],
    runOptional: true,
    now: 0,
    roles: ['operator'],
  });
  if (!v.ok) return { problem: v.reason };
  const args = v.body.args;
  if (v.body.by !== f.by || args.reason !== f.reason || args.unit !== unitName(input.unit))
    return { problem: 'the signature covers another forced route (its author, unit or reason differ)' };
  return { signedBy: v.body.by };
}

/**
 * Adopts the record an operator forced to the source: it becomes the unit's route (never written over),
 * recorded with who, why and their signature, and the unit rolls back from where it is — its rollback
 * finds the route already on the source and leaves it. A unit already rolling back carries on.
 */
export function adoptForced(state: MigrationState, input: UnitMigrationInput, workflowId: string, now: number, at: string): void {
  const w = state.routeWatch;
  const rec = w?.seen?.record;
  const f = rec?.forced;
  if (!w || !rec || !f) return;
  const epoch = rec.view.epoch;
  state.route = { ...rec.view };
  w.forced = { ...f, epoch };
  sawEpoch(w, epoch);
  // The record stays in `seen`: judged again at once, it is written again above a higher epoch clients may hold.
  state.routeChangedAt = now;
  w.auditNext = { reason: `forced to the source by ${f.by}: ${f.reason}`, forced: f };
  const sig = forcedSignature(f, input, workflowId);
  const signed = 'signedBy' in sig ? `, signed by ${sig.signedBy}` : 'problem' in sig ? `; signature: ${sig.problem}` : '';
  note(state, at, `route forced to the source by ${f.by} (${f.at}): ${f.reason}; adopted at epoch ${epoch}${signed}`, f.by, {
    epoch,
    forcedAt: f.at,
    ...('signedBy' in sig ? { signedBy: sig.signedBy } : {}),
    ...('problem' in sig ? { signature: sig.problem } : {}),
  });
  // A rollback under way has nothing left to do for the route.
  if (state.phase === 'rolling-back') markCompensation(state, 'route back');
  // A completed unit that is still reversible rolls back too: the break-glass already sent its starts to the source.
  const reversible = state.phase === 'completed' && !!state.reversible && !state.reversible.finalized;
  const ending = state.phase === 'rolling-back' || state.phase === 'rolled-back' || (state.phase === 'completed' && !reversible);
  if (!ending && !state.rollback) {
    state.rollback = {
      command: 'rollback',
      actor: f.by,
      commandId: `forced-${epoch}`,
      reason: `route forced to the source: ${f.reason}`,
      from: state.phase,
      at,
    };
  }
}

/** The reason (and forced mark) of the route audit record being written, taken once. */
export function takeRouteAudit(state: MigrationState): { reason: string; forced?: ForcedMark } | undefined {
  const w = state.routeWatch;
  const next = w?.auditNext;
  if (w) w.auditNext = undefined;
  return next;
}
