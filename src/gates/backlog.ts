/**
 * Schedule-to-start provider: do the target's workers keep up? For each of the unit's task queues on the
 * target, DescribeTaskQueue with `reportStats` gives the backlog of workflow tasks and of activity tasks:
 * its approximate count and the age of its oldest task. The age of the oldest waiting task is the
 * schedule-to-start latency of the task that has waited longest, so it bounds what workers make tasks wait.
 * A workflow task queue that no worker polls on the target fails too: its tasks would wait forever.
 * Judging is pure; describing the queues is the caller's (an activity with a target connection).
 */
import type { Measurement } from './types';

/** The plan's schedule-to-start gate (durations in ms). */
export interface BacklogLimits {
  /** Oldest task in any backlog may have waited at most this long. */
  maxBacklogAge: number;
  /** Tasks in any one backlog tolerated (absent: not checked). */
  maxBacklogCount?: number;
}

/** What the server said of one task queue and task type. */
export type QueueStats = {
  taskQueue: string;
  type: 'workflow' | 'activity';
  backlogCount: number;
  backlogAgeMs: number;
  /** Tasks per second added and dispatched (the server's 30-second averages). */
  addRate: number;
  dispatchRate: number;
  pollers: number;
};

/** The gate's evidence (plain JSON). */
export type BacklogEvidence = {
  maxBacklogAgeMs: number;
  maxBacklogCount: number | null;
  queues: QueueStats[];
};

/** Judges the queues' stats. Value: the oldest backlog age seen (ms). No queue at all is no data: failed. Pure. */
export function judgeBacklog(limits: BacklogLimits, queues: QueueStats[]): Measurement & { evidence: BacklogEvidence } {
  const evidence: BacklogEvidence = { maxBacklogAgeMs: limits.maxBacklogAge, maxBacklogCount: limits.maxBacklogCount ?? null, queues };
  if (queues.length === 0) {
    return { result: 'failed', message: 'no data: the unit lists no task queue to describe on the target', evidence };
  }
  const oldest = Math.max(...queues.map((q) => q.backlogAgeMs));
  const problems: string[] = [];
  for (const q of queues) {
    const at = `${q.taskQueue} (${q.type})`;
    if (q.type === 'workflow' && q.pollers === 0) problems.push(`${at}: no worker polls it on the target`);
    if (q.backlogAgeMs > limits.maxBacklogAge)
      problems.push(`${at}: oldest task waited ${q.backlogAgeMs} ms, above ${limits.maxBacklogAge} ms`);
    if (limits.maxBacklogCount !== undefined && q.backlogCount > limits.maxBacklogCount)
      problems.push(`${at}: ${q.backlogCount} tasks waiting, above ${limits.maxBacklogCount}`);
  }
  const what = queues
    .map((q) => `${q.taskQueue} (${q.type}): ${q.backlogCount} waiting, oldest ${q.backlogAgeMs} ms, ${q.pollers} poller(s)`)
    .join('; ');
  if (problems.length > 0)
    return { result: 'failed', value: oldest, message: `workers on the target fall behind: ${problems.join('; ')}`, evidence };
  return { result: 'successful', value: oldest, message: what, evidence };
}

/** Describes one task queue and type on the target (the activity gives it a connection). */
export type DescribeQueue = (taskQueue: string, type: 'workflow' | 'activity') => Promise<QueueStats>;

/** Measures the gate over the queues; a describe fault is an `error` measurement. */
export async function measureBacklog(limits: BacklogLimits, taskQueues: readonly string[], describe: DescribeQueue): Promise<Measurement> {
  let queues: QueueStats[];
  try {
    queues = await Promise.all(taskQueues.flatMap((q) => [describe(q, 'workflow'), describe(q, 'activity')]));
  } catch (err) {
    return { result: 'error', message: `describing the task queues on the target failed: ${(err as Error).message}` };
  }
  return judgeBacklog(limits, queues);
}
