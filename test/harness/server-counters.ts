/** A server's own request counters, read once they have settled (for tests that count RPCs). */
import { scrapeRequests, sumOps } from '../../bench/lib/server-metrics';
import { until } from './wait';

/**
 * The sum of these operations' frontend request counters in one namespace. A server flushes its
 * counters to the metrics endpoint every second or so, so this reads until two reads 1.5 s apart agree
 * (bounded: 30 s).
 */
export async function settledOps(metricsUrl: string, namespace: string, ops: readonly string[]): Promise<number> {
  let last = -1;
  return until(
    'request counters settle',
    async () => {
      const n = sumOps(await scrapeRequests(metricsUrl), namespace, ops);
      return n === last ? n : ((last = n), undefined);
    },
    { timeoutMs: 30_000, everyMs: 1_500 },
  );
}
