/**
 * The routing library's clocks. Elapsed time (how long a route has gone unconfirmed, how long a start has
 * been held) is read on a monotonic clock, which a wall-clock step (NTP, a VM resumed, an operator's `date`)
 * never moves: a host whose clock is set back an hour must still fail closed after `stalenessMs`, not an
 * hour later. Times that other hosts read (a placement's claim time) are wall-clock times by nature.
 */

/** The two clocks a routed client reads; injectable so tests can step the wall clock. */
export interface RoutingClock {
  /** Milliseconds on a clock that only moves forward, at a steady rate (`performance.now()`): for elapsed time. */
  monotonicMs(): number;
  /** Milliseconds since the Unix epoch (`Date.now()`): for times shared with other hosts. */
  wallMs(): number;
}

/** The process's clocks. */
export const systemClock: RoutingClock = {
  monotonicMs: () => performance.now(),
  wallMs: () => Date.now(),
};
