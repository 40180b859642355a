/**
 * `cutover start <plan> --dry-run [--drill]`: the campaign's steps as data and text, touching nothing.
 * A real start is `startCampaignFromPlan` (./campaign.ts).
 */
import { formatDryRun, planCampaign } from '../campaign/plan';
import type { CampaignPlan } from '../campaign/types';
import type { Plan } from '../config/types';

/** The dry run: the campaign's steps as data and as text; nothing is started or changed. */
export function dryRun(plan: Plan, drill = false): { campaign: CampaignPlan; text: string } {
  const campaign = planCampaign(plan, { drill });
  return { campaign, text: formatDryRun(campaign) };
}
