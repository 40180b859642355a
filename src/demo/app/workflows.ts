/**
 * The sample application the demo moves: short on-demand workflows in two namespaces (payments, and
 * detections with three tenants) plus a scheduled report. Nothing here knows about cutover.
 */
import { proxyActivities, sleep } from '@temporalio/workflow';
import type * as activities from './activities';

const { scanItems, chargeCard, summarize } = proxyActivities<typeof activities>({
  startToCloseTimeout: '10s',
  retry: { maximumAttempts: 5 },
});

/** detections: scan one account of a tenant (workflow ID `<tenant>-<n>`). */
export async function scanAccount(account: string, items: number): Promise<number> {
  let found = 0;
  for (let batch = 0; batch < 2; batch++) {
    found += await scanItems(account, items);
    await sleep(200);
  }
  return found;
}

/** payments: charge a card. */
export async function chargePayment(paymentId: string, amountCents: number): Promise<string> {
  return chargeCard(paymentId, amountCents);
}

/** A scheduled report (one per namespace). */
export async function dailyReport(namespace: string): Promise<string> {
  return summarize(namespace);
}
