/**
 * The routing record contract (docs/design.md): one record per unit in Redis, under the
 * plan's key prefix. Pure types, shared by the routing library, the entity workflows' activities,
 * the schedules switch and the CLI.
 */

import type { ForcedMark, Side } from '../domain/migration';

export type { ForcedMark, Side };

/**
 * A unit's route: everything on one side; `hold` (drain-and-switch: starts wait until it resolves);
 * or a share on the target in basis points (0..10000), chosen by a stable hash of the workflow ID.
 */
export type Route = { kind: 'side'; side: Side } | { kind: 'hold' } | { kind: 'percent'; basisPoints: number };

/** The record as stored. `epoch` grows by one on every change; writers compare-and-set on it. */
export interface RoutingRecord {
  /** Unit name: `namespace/<ns>` or `tenant/<ns>/<tenant>`. */
  unit: string;
  route: Route;
  epoch: number;
  /** True once the source side's workers may stop (after the drain). */
  sourceWorkersMayStop: boolean;
  /** Who made the last change, why, and when (ISO 8601). */
  changedBy: string;
  reason?: string;
  changedAt: string;
  /**
   * Set on a record rewritten from the unit's entity workflow (`cutover route repair`) at a higher epoch
   * than the workflow holds: the workflow epoch whose route it restates. The workflow's next change,
   * made from that epoch, is then accepted (src/activities/routing.ts) instead of being a conflict.
   */
  restoredFrom?: number;
  /**
   * Set on a record written by `cutover route <unit> source --force` (only ever with the route on the
   * source): who forced it, why, when, and their signature. The unit's workflow adopts it and rolls back.
   */
  forced?: ForcedMark;
}

/** A requested change: the new route (and optionally the workers flag), with its author. */
export interface RouteChange {
  route: Route;
  sourceWorkersMayStop?: boolean;
  actor: string;
  reason?: string;
  /** See {@link RoutingRecord.restoredFrom}. */
  restoredFrom?: number;
  /** See {@link RoutingRecord.forced}: only with the route on the source. */
  forced?: ForcedMark;
}

/** Result of a compare-and-set: either the new record, or the current one that made it lose. */
export type CasResult = { ok: true; record: RoutingRecord } | { ok: false; current: RoutingRecord | undefined };
