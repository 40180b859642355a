/**
 * A steady, open-loop application load through the multi-cluster client, and the check that every
 * acknowledged start runs on exactly one cluster: none lost, none duplicated.
 */
import type { Client } from '@temporalio/client';
import type { RoutedClient, RoutedStartOptions } from '../routing';

/** One start the load issues: which client, workflow type, ID, queue and arguments. */
export interface LoadStart {
  client: RoutedClient;
  namespace: string;
  workflowType: string;
  workflowId: string;
  taskQueue: string;
  args: unknown[];
  /** Extra start options: the tenant's search attribute, an explicit tenant. */
  options?: Pick<RoutedStartOptions, 'typedSearchAttributes' | 'tenant'>;
}

export interface LoadOptions {
  /** Starts per second, spread over 10 ticks a second. Open loop: keep it well under the server's knee. */
  rate: number;
  next: (seq: number) => LoadStart;
  /** Bound on starts in flight; past it, a tick's starts wait for the next tick (never dropped). */
  maxInFlight?: number;
}

/** A start the client acknowledged, and where it says it went. */
export interface Accepted {
  namespace: string;
  workflowId: string;
}

export class SteadyLoad {
  readonly accepted: Accepted[] = [];
  /** Starts refused with a retryable error (held too long, routing unavailable) and issued again later. */
  retried = 0;
  /** Starts refused for good (a non-retryable error): never acknowledged, reported as errors. */
  failed = 0;
  /** The last non-retryable error, for the report. */
  lastError: string | undefined;
  private seq = 0;
  private inFlight = 0;
  private readonly backlog: LoadStart[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly pending = new Set<Promise<void>>();

  constructor(private readonly opts: LoadOptions) {}

  start(): void {
    // Ten ticks a second; the fraction of a start a tick owes is carried to the next one, so any rate holds.
    let owed = 0;
    this.timer = setInterval(() => {
      owed += this.opts.rate / 10;
      for (; owed >= 1; owed--) this.backlog.push(this.opts.next(this.seq++));
      this.drainBacklog();
    }, 100);
  }

  private drainBacklog(): void {
    const max = this.opts.maxInFlight ?? 64;
    while (this.backlog.length && this.inFlight < max) {
      const s = this.backlog.shift()!;
      this.inFlight++;
      const p = s.client.workflow
        .start(s.workflowType, { ...s.options, workflowId: s.workflowId, taskQueue: s.taskQueue, args: s.args })
        .then(
          () => void this.accepted.push({ namespace: s.namespace, workflowId: s.workflowId }),
          (err: { retryable?: boolean; message?: string }) => {
            // Typed retryable refusals (hold timeout, Redis unavailable) are issued again: nothing is dropped.
            if (err?.retryable !== false) {
              this.retried++;
              this.backlog.push(s);
            } else {
              this.failed++;
              this.lastError = err.message;
            }
          },
        )
        .finally(() => {
          this.inFlight--;
          this.pending.delete(p);
        });
      this.pending.add(p);
    }
  }

  /** Starts issued and not settled yet (a start may sit in the SDK's retry backoff). */
  get inFlightCount(): number {
    return this.pending.size;
  }

  /**
   * Waits (bounded) until every start already issued settled, issuing nothing more. The SDK retries a
   * failed call on a timer that a closed connection makes throw outside any promise (it crashes the
   * process), so connections are closed only after this.
   */
  async settle(timeoutMs: number): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.backlog.length = 0;
    const deadline = Date.now() + timeoutMs;
    while (this.pending.size && Date.now() < deadline) {
      await Promise.race([...this.pending, new Promise((r) => setTimeout(r, 100))]);
    }
  }

  /** Stops issuing new starts, then waits until the backlog and every start in flight settled. */
  async stop(timeoutMs = 60_000): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    const deadline = Date.now() + timeoutMs;
    while ((this.backlog.length || this.pending.size) && Date.now() < deadline) {
      this.drainBacklog();
      await Promise.race([...this.pending, new Promise((r) => setTimeout(r, 100))]);
    }
  }
}

/** Lost: acknowledged and on neither cluster. Duplicated: on both. */
export interface PlacementReport {
  total: number;
  onSource: number;
  onTarget: number;
  lost: string[];
  duplicated: string[];
}

/** Describes every acknowledged workflow on both clusters of its namespace. */
export async function verifyPlacements(
  accepted: Accepted[],
  clients: Record<string, { source: Client; target: Client }>,
): Promise<PlacementReport> {
  const report: PlacementReport = { total: accepted.length, onSource: 0, onTarget: 0, lost: [], duplicated: [] };
  const exists = async (c: Client, id: string) =>
    c.workflow
      .getHandle(id)
      .describe()
      .then(
        () => true,
        (err: Error) => {
          if (err.name === 'WorkflowNotFoundError') return false;
          throw err;
        },
      );
  // Bounded concurrency: thousands of describes at once would only queue on a 2-core server.
  for (let i = 0; i < accepted.length; i += 32) {
    await Promise.all(
      accepted.slice(i, i + 32).map(async (a) => {
        const c = clients[a.namespace]!;
        const [s, t] = await Promise.all([exists(c.source, a.workflowId), exists(c.target, a.workflowId)]);
        if (s && t) report.duplicated.push(a.workflowId);
        else if (!s && !t) report.lost.push(a.workflowId);
        else if (s) report.onSource++;
        else report.onTarget++;
      }),
    );
  }
  return report;
}
