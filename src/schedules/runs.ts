/**
 * The runs a schedule started on one cluster, found through visibility by the attributes the
 * scheduler stamps on them (`TemporalScheduledById`, `TemporalScheduledStartTime` = the nominal time).
 * Visibility is eventually consistent: a run started a moment ago may be missing.
 */
import type { ScheduleEndpoint } from './types';

export interface ScheduledRun {
  workflowId: string;
  /** Nominal (scheduled) time of the run, ms. */
  nominalMs: number;
  status: string;
}

/** Every run (open or closed) the schedule started in the endpoint's namespace. */
export async function listScheduledRuns(ep: ScheduleEndpoint, scheduleId: string): Promise<ScheduledRun[]> {
  const out: ScheduledRun[] = [];
  const query = `TemporalScheduledById = '${scheduleId.replace(/'/g, "\\'")}'`;
  // Through the raw service so the endpoint's namespace is used whatever the client's default.
  let nextPageToken: Uint8Array | undefined;
  do {
    const res = await ep.client.workflowService.listWorkflowExecutions({ namespace: ep.namespace, query, pageSize: 1000, nextPageToken });
    for (const e of res.executions ?? []) {
      const field = e.searchAttributes?.indexedFields?.TemporalScheduledStartTime;
      let nominalMs: number | undefined;
      if (field?.data) {
        const v: unknown = JSON.parse(Buffer.from(field.data).toString('utf8'));
        if (typeof v === 'string') nominalMs = Date.parse(v);
      }
      if (nominalMs === undefined || Number.isNaN(nominalMs)) continue;
      out.push({ workflowId: e.execution?.workflowId ?? '', nominalMs, status: String(e.status ?? '') });
    }
    nextPageToken = res.nextPageToken?.length ? res.nextPageToken : undefined;
  } while (nextPageToken);
  return out;
}

/** Nominal times run on both sides (double fires), sorted. */
export function duplicateFires(a: ScheduledRun[], b: ScheduledRun[]): number[] {
  const sec = (t: number) => Math.floor(t / 1000);
  const inA = new Set(a.map((r) => sec(r.nominalMs)));
  const dup = new Set<number>();
  for (const r of b) if (inA.has(sec(r.nominalMs))) dup.add(sec(r.nominalMs) * 1000);
  // The same nominal time twice on one side is a double fire too.
  for (const side of [a, b]) {
    const seen = new Set<number>();
    for (const r of side) {
      if (seen.has(sec(r.nominalMs))) dup.add(sec(r.nominalMs) * 1000);
      seen.add(sec(r.nominalMs));
    }
  }
  return [...dup].sort((x, y) => x - y);
}

/** Nominal times in `expected` that ran on neither side (lost fires), sorted. */
export function lostFires(expected: number[], runs: ScheduledRun[]): number[] {
  const ran = new Set(runs.map((r) => Math.floor(r.nominalMs / 1000)));
  return expected.filter((t) => !ran.has(Math.floor(t / 1000))).sort((x, y) => x - y);
}
