/**
 * A plan cluster the cutover worker could not reach at start. The worker serves what it can reach and
 * keeps connecting to the others in the background; a {@link LateConnection} stands in for such a
 * cluster's connection in the activities' dependencies. Activities read `connection.workflowService`
 * on every call (and the SDK's clients read it lazily too), so the activities are built once: until the
 * cluster connects each call fails with a retryable `ClusterUnavailable` failure naming the cluster,
 * which the workflows retry; afterwards every call goes to the real connection.
 */
import type { ConnectionLike, ConnectionPlugin, Metadata, OperatorService, WorkflowService } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';

/** Failure type of a call on a cluster the worker has not connected to (retryable: the workflows retry the step). */
export const CLUSTER_UNAVAILABLE = 'ClusterUnavailable';

/** First pause before reconnecting to a cluster that was unreachable. */
export const RECONNECT_INITIAL_MS = 1_000;
/** Longest pause between two reconnect attempts (each attempt may also wait out the connect timeout). */
export const RECONNECT_MAX_MS = 30_000;

/**
 * The pause before reconnect attempt `attempt` (1, 2, …): doubling from {@link RECONNECT_INITIAL_MS}
 * up to {@link RECONNECT_MAX_MS}, the upper half of it drawn at random so that several workers that
 * lost the same cluster do not all knock at once when it comes back.
 */
export function reconnectDelayMs(attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(RECONNECT_MAX_MS, RECONNECT_INITIAL_MS * 2 ** Math.max(0, Math.min(attempt - 1, 30)));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** The `ClusterUnavailable` failure in `err` or its causes (the SDK's clients wrap what a service call threw). */
export function clusterUnavailableIn(err: unknown): ApplicationFailure | undefined {
  let e: unknown = err;
  for (let depth = 0; depth < 6 && e; depth++) {
    if (e instanceof ApplicationFailure && e.type === CLUSTER_UNAVAILABLE) return e;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** A connection that refuses every call, naming its cluster, until {@link LateConnection.connect} gives it the real one. */
export class LateConnection implements ConnectionLike {
  private conn?: ConnectionLike;
  readonly plugins: ConnectionPlugin[] = [];
  private readonly refusing: object;

  constructor(
    readonly cluster: string,
    readonly address: string,
    /** Why it is not connected (the last connect error: what failed and the fix). */
    private reason: string,
  ) {
    // Any method of either service: a promise rejected with the failure ('then' stays undefined, so
    // the service object itself is never taken for a promise).
    this.refusing = new Proxy({}, { get: (_target, prop) => (prop === 'then' ? undefined : () => Promise.reject(this.failure())) });
  }

  /** Why it is not connected (the last connect error). */
  get why(): string {
    return this.reason;
  }

  /** True once the background reconnect has handed over the real connection. */
  get connected(): boolean {
    return this.conn !== undefined;
  }

  /** Records why the last attempt failed (what the next refused call says). */
  setReason(reason: string): void {
    this.reason = reason;
  }

  /** Hands over the real connection: every later call goes to it. */
  connect(conn: ConnectionLike): void {
    this.conn = conn;
  }

  /** What a call made before the cluster connected fails with. */
  failure(): ApplicationFailure {
    return ApplicationFailure.retryable(
      `cluster ${this.cluster} (${this.address}) is not connected to this cutover worker: ${this.reason}; ` +
        'the worker keeps reconnecting in the background, and the step is retried',
      CLUSTER_UNAVAILABLE,
    );
  }

  get workflowService(): WorkflowService {
    return this.conn?.workflowService ?? (this.refusing as WorkflowService);
  }

  get operatorService(): OperatorService {
    return this.conn?.operatorService ?? (this.refusing as OperatorService);
  }

  async ensureConnected(): Promise<void> {
    if (!this.conn) throw this.failure();
    await this.conn.ensureConnected();
  }

  // Scoped call options apply to the real connection; before it exists, `fn`'s calls are refused anyway.
  withDeadline<R>(deadline: number | Date, fn: () => Promise<R>): Promise<R> {
    return this.conn ? this.conn.withDeadline(deadline, fn) : fn();
  }

  withMetadata<R>(metadata: Metadata, fn: () => Promise<R>): Promise<R> {
    return this.conn ? this.conn.withMetadata(metadata, fn) : fn();
  }

  withAbortSignal<R>(abortSignal: AbortSignal, fn: () => Promise<R>): Promise<R> {
    return this.conn ? this.conn.withAbortSignal(abortSignal, fn) : fn();
  }

  /** Closes the real connection, if any (the worker closes it with everything else it opened). */
  async close(): Promise<void> {
    await this.conn?.close();
  }
}
