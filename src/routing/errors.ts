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

/**
 * Routes are unknown or too stale to use (Redis unreachable for longer than the staleness bound).
 * The client fails closed rather than guess a side. Nothing was started: retry later.
 */
export class RoutingUnavailableError extends NothingStartedError {
  override readonly name = 'RoutingUnavailableError';
  constructor(
    unit: string,
    readonly staleForMs: number,
    options?: { cause?: unknown },
  ) {
    super(
      unit,
      `routes for ${unit} are unavailable (last refreshed ${staleForMs} ms ago); ` +
        'failing closed, nothing was started — check Redis and retry',
      options,
    );
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

/** A routing record in Redis does not have the expected shape (written by something else). */
export class RoutingRecordInvalidError extends RoutingError {
  override readonly name = 'RoutingRecordInvalidError';
  constructor(
    readonly key: string,
    readonly problem: string,
  ) {
    super(`routing record ${key} is invalid (${problem}); fix or delete it with the cutover CLI`);
  }
}
