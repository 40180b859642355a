/**
 * Shared shapes of the schedules module: endpoints, selectors, reports. Pure types.
 */
import type { Client } from '@temporalio/client';
import type { Side } from '../domain/migration';
import type { RawDescribe } from './raw';

export type { Side };

/** One side of a schedule move: a client of that cluster and the namespace there. */
export interface ScheduleEndpoint {
  client: Client;
  namespace: string;
}

/** An endpoint that also knows which side of the migration it is. */
export interface SidedEndpoint extends ScheduleEndpoint {
  side: Side;
}

/**
 * Which schedules belong to a unit: a whole namespace, the schedule-ID prefix of a tenant
 * (`{ workflowIdPrefix: "{tenant}-" }` selectors), a Keyword search attribute on the schedule
 * (`{ searchAttribute: TenantId }` selectors), or an explicit list (no visibility lag).
 */
export type ScheduleSelector =
  | { kind: 'namespace' }
  | { kind: 'idPrefix'; prefix: string }
  | { kind: 'searchAttribute'; name: string; value: string }
  | { kind: 'ids'; ids: string[] };

/** What `copySchedules` did with one schedule. */
export type CopyOutcome =
  /** Created on the destination, paused. */
  | 'created'
  /** Already there and equal in meaning: nothing to do. */
  | 'unchanged'
  /** Already there, paused, and different: rewritten from the origin, still paused. */
  | 'updated'
  /** Already there, active, and different: left alone (an active schedule is never overwritten). */
  | 'conflict'
  /** Gone from the origin between listing and describing. */
  | 'vanished'
  | 'failed';

/** One difference in meaning between two schedules. */
export interface ScheduleDiff {
  kind: 'spec' | 'action' | 'policy' | 'memo' | 'searchAttributes';
  /** Dotted path of the field, e.g. `spec.calendars`, `action.input`, `policies.overlap`. */
  path: string;
  a: unknown;
  b: unknown;
}

export interface CopyItem {
  scheduleId: string;
  outcome: CopyOutcome;
  diffs?: ScheduleDiff[];
  error?: string;
  /**
   * The destination's schedule as this copy created or found it, with its conflict token (`created`
   * and `unchanged` only). A switch that follows passes it as `toKnown` and need not describe that side.
   */
  destination?: RawDescribe;
}

/** Result of `copySchedules`: one line per selected schedule plus counts. */
export interface CopyReport {
  from: string;
  to: string;
  items: CopyItem[];
  counts: Record<CopyOutcome, number>;
}
