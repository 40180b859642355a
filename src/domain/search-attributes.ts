/**
 * Search attributes that make cutover's workflows findable in the Temporal UI
 * (e.g. `CutoverPhase="draining"`). Registered on the control namespace at worker start-up and
 * pre-registered by the local stack. `TenantId` is the application's tenant attribute used by the
 * `{ searchAttribute: TenantId }` tenant selector.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const CutoverKind = defineSearchAttributeKey('CutoverKind', SearchAttributeType.KEYWORD);
export const CutoverPhase = defineSearchAttributeKey('CutoverPhase', SearchAttributeType.KEYWORD);
export const CutoverUnit = defineSearchAttributeKey('CutoverUnit', SearchAttributeType.KEYWORD);
export const CutoverCampaign = defineSearchAttributeKey('CutoverCampaign', SearchAttributeType.KEYWORD);
export const CutoverRing = defineSearchAttributeKey('CutoverRing', SearchAttributeType.KEYWORD);
export const TenantId = defineSearchAttributeKey('TenantId', SearchAttributeType.KEYWORD);

/** The attributes cutover's own workflows carry. */
export const CUTOVER_SEARCH_ATTRIBUTES = [CutoverKind, CutoverPhase, CutoverUnit, CutoverCampaign, CutoverRing] as const;
/** Everything the local stack pre-registers in every namespace. */
export const STACK_SEARCH_ATTRIBUTES = [...CUTOVER_SEARCH_ATTRIBUTES, TenantId] as const;
