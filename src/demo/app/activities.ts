/** Activities of the sample application: deterministic stand-ins for real work. */
export async function scanItems(account: string, items: number): Promise<number> {
  return (account.length * 7 + items) % 5;
}

export async function chargeCard(paymentId: string, amountCents: number): Promise<string> {
  return `${paymentId}:${amountCents}:ok`;
}

export async function summarize(namespace: string): Promise<string> {
  return `report for ${namespace}`;
}
