/**
 * Typed errors of the routing library. Callers branch on the class (and `retryable`), never on text.
 */

/** Base class of every routing error. */
export class RoutingError extends Error {
  /** True when the same call may succeed if retried later (no work was started). */
  readonly retryable: boolean = false;
}

/** A start refused before anything was started, so the same call may succeed if retried later. */
export abstract class NothingStartedError extends RoutingError {
  override readonly retryable = true;
  constructor(
    readonly unit: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * A start waited for a `hold` route to resolve (drain-and-switch) longer than the configured bound.
 * Nothing was started: retry the start later.
 */
export class RouteHeldTimeoutError extends NothingStartedError {
  override readonly name = 'RouteHeldTimeoutError';
  constructor(
    unit: string,
    readonly waitedMs: number,
  ) {
    super(
      unit,
      `starts of ${unit} are held (drain-and-switch) and the route did not resolve within ${waitedMs} ms; nothing was started, retry later`,
    );
  }
}

/** Why a unit's routes cannot be used: Redis not read lately, its record invalid, or its record gone. */
export type UnavailableReason = 'stale' | 'invalid-record' | 'missing-record';

/**
 * Routes are unknown or too stale to use: Redis unreachable for longer than the staleness bound, or the
 * unit's own record invalid (or gone) for that long. The client fails closed rather than guess a side.
 * Nothing was started: retry later. `reason` says which, for callers that branch on it.
 */
export class RoutingUnavailableError extends NothingStartedError {
  override readonly name = 'RoutingUnavailableError';
  readonly reason: UnavailableReason;
  constructor(
    unit: string,
    readonly staleForMs: number,
    options?: { cause?: unknown; reason?: UnavailableReason; key?: string },
  ) {
    super(unit, unavailableMessage(unit, staleForMs, options), options);
    this.reason = options?.reason ?? 'stale';
  }
}

/** The commands that show and rewrite a unit's record, as an error names them. */
export function repairHint(unit: string): string {
  return `inspect it with \`cutover route show ${unit}\` and rewrite it from the unit's workflow with \`cutover route repair ${unit}\``;
}

function unavailableMessage(unit: string, staleForMs: number, o?: { cause?: unknown; reason?: UnavailableReason; key?: string }): string {
  const since = Number.isFinite(staleForMs) ? `last confirmed ${Math.round(staleForMs)} ms ago` : 'never confirmed';
  const closed = 'failing closed, nothing was started';
  switch (o?.reason) {
    case 'invalid-record': {
      const problem = o.cause instanceof RoutingRecordInvalidError ? ` (${o.cause.problem})` : '';
      return (
        `routes for ${unit} are unavailable: its routing record ${o.key ?? ''} is invalid${problem}, ${since}; ` +
        `${closed} — ${repairHint(unit)}`
      );
    }
    case 'missing-record':
      return (
        `routes for ${unit} are unavailable: its routing record ${o.key ?? ''} disappeared (Redis lost its data?), ${since}; ` +
        `${closed} — ${repairHint(unit)}`
      );
    default: {
      const when = Number.isFinite(staleForMs) ? `last refreshed ${Math.round(staleForMs)} ms ago` : 'never read';
      return `routes for ${unit} are unavailable (${when}); ${closed} — check Redis and retry`;
    }
  }
}

/** Bad input to the routing API (a route change, a client option): names the field and the fix. */
export class RoutingInputError extends RoutingError {
  override readonly name = 'RoutingInputError';
  constructor(
    readonly field: string,
    readonly hint: string,
  ) {
    super(`${field}: ${hint}`);
  }
}

/**
 * A routing record in Redis does not have the expected shape or values (written by something else, or
 * damaged). Only its own unit is affected; the message names the commands that show and repair it.
 */
export class RoutingRecordInvalidError extends RoutingError {
  override readonly name = 'RoutingRecordInvalidError';
  constructor(
    readonly key: string,
    readonly problem: string,
    /** The unit whose record it is, when known. */
    readonly unit?: string,
  ) {
    super(`routing record ${key} is invalid (${problem}); ${unit ? repairHint(unit) : 'fix or delete it with the cutover CLI'}`);
  }
}

/**
 * A signal or update reached a workflow ID whose run cutover is handing to the other cluster (handoff
 * record `moving`), and the new run did not exist within `handoffHoldMs`. The call was not delivered to
 * any run: retry it later (it then reaches the new run, or fails as the ID's state says).
 */
export class HandoffHeldTimeoutError extends RoutingError {
  override readonly name = 'HandoffHeldTimeoutError';
  override readonly retryable = true;
  constructor(
    readonly workflowId: string,
    readonly waitedMs: number,
    options?: { cause?: unknown },
  ) {
    super(
      `workflow ${workflowId} is being handed to the other cluster and its new run did not start within ${waitedMs} ms; ` +
        'the call was not delivered, retry later',
      options,
    );
  }
}
