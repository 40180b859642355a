/**
 * Which schedules belong to a unit. Listing goes through visibility (eventually consistent), so a
 * schedule created a moment ago may be missing from a list; the `ids` selector skips the list.
 */
import type { temporal } from '@temporalio/proto';
import { expandTenantPrefix, TENANT_PLACEHOLDER } from '../domain/tenant-prefix';
import { ScheduleInputError } from './errors';
import type { ScheduleEndpoint, ScheduleSelector } from './types';

import type { TenantSelector } from '../domain/selectors';

export type { TenantSelector };

/**
 * The schedule selector of a unit: the whole namespace, or one tenant — by schedule-ID prefix
 * (the workflow-ID prefix with `{tenant}` filled in) or by a Keyword search attribute on the schedule.
 */
export function selectorForUnit(tenant?: { selector: TenantSelector; id: string }): ScheduleSelector {
  if (!tenant) return { kind: 'namespace' };
  const sel = tenant.selector;
  if ('workflowIdPrefix' in sel) {
    if (!sel.workflowIdPrefix.includes(TENANT_PLACEHOLDER)) {
      throw new ScheduleInputError('tenants.selector.workflowIdPrefix', 'must contain "{tenant}", e.g. "{tenant}-"');
    }
    // Exact only because the plan refuses tenants whose prefixes overlap (`acme-` would also pick `acme-corp-…`).
    return { kind: 'idPrefix', prefix: expandTenantPrefix(sel.workflowIdPrefix, tenant.id) };
  }
  return { kind: 'searchAttribute', name: sel.searchAttribute, value: tenant.id };
}

function keywordValue(p: temporal.api.common.v1.IPayload | undefined): string[] {
  if (!p?.data) return [];
  try {
    const v: unknown = JSON.parse(Buffer.from(p.data).toString('utf8'));
    if (typeof v === 'string') return [v];
    if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string');
  } catch {
    // not JSON: not a Keyword the selector can match
  }
  return [];
}

/** True when a listed (or described) schedule matches the selector. */
export function matchesSelector(
  sel: ScheduleSelector,
  scheduleId: string,
  searchAttributes?: Record<string, temporal.api.common.v1.IPayload> | null,
): boolean {
  switch (sel.kind) {
    case 'namespace':
      return true;
    case 'idPrefix':
      return scheduleId.startsWith(sel.prefix);
    case 'ids':
      return sel.ids.includes(scheduleId);
    case 'searchAttribute':
      return keywordValue(searchAttributes?.[sel.name] ?? undefined).includes(sel.value);
  }
}

/** IDs of the schedules in the endpoint's namespace that the selector picks (sorted). */
export async function listSelected(ep: ScheduleEndpoint, sel: ScheduleSelector): Promise<string[]> {
  if (sel.kind === 'ids') return [...new Set(sel.ids)].sort();
  const ids: string[] = [];
  let nextPageToken: Uint8Array | undefined;
  do {
    const res: temporal.api.workflowservice.v1.IListSchedulesResponse = await ep.client.workflowService.listSchedules({
      namespace: ep.namespace,
      maximumPageSize: 1000,
      nextPageToken,
    });
    for (const s of res.schedules ?? []) {
      if (s.scheduleId && matchesSelector(sel, s.scheduleId, s.searchAttributes?.indexedFields)) ids.push(s.scheduleId);
    }
    nextPageToken = res.nextPageToken?.length ? res.nextPageToken : undefined;
  } while (nextPageToken);
  return [...new Set(ids)].sort();
}
