/**
 * The campaign's activities on the control cluster: start (or resume) the entity workflows of a
 * batch, read their status, and send them commands. Built by a factory over the control cluster's
 * client (STYLE example 8). Entity workflows are started as independent workflows, not children:
 * they outlive a campaign that is paused, cancelled or continued-as-new.
 */
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { CampaignUnit } from '../campaign/types';
import type { UnitView } from '../campaign/driver';
import type { UnitStatus } from '../workflows/migration-types';
import { unitStartOptions } from '../workflows/unit-input';
import * as unitMessages from '../workflows/unit-migration.messages';

/** Status queries in flight at once (each is a workflow task on the cutover worker). */
const UNIT_VIEW_CONCURRENCY = 16;

/** Dependencies: a client on the control namespace. */
export interface CampaignActivityDeps {
  control: Client;
}

/** The campaign's view of an entity's status (small: the campaign keeps it in its state). */
export function toUnitView(unit: string, workflowId: string, s: UnitStatus): UnitView {
  return {
    unit,
    workflowId,
    phase: s.phase,
    paused: s.paused,
    route: { ...(s.route.side ? { side: s.route.side } : {}), ...(s.route.percent !== undefined ? { percent: s.route.percent } : {}), ...(s.route.hold ? { hold: true } : {}), epoch: s.route.epoch },
    ...(s.waitingFor !== undefined ? { waitingFor: s.waitingFor } : {}),
    historyLength: s.history.length,
    ...(s.failure ? { failure: `${s.failure.type} in ${s.failure.step}: ${s.failure.message}` } : {}),
    ...(s.history[0] ? { startedAt: s.history[0].at } : {}),
  };
}

/** Builds the campaign activities. */
export function createCampaignActivities(deps: CampaignActivityDeps) {
  const client = deps.control;
  return {
    /**
     * Starts each unit's entity workflow, or attaches to it when it is running: never two runs of a
     * unit at once. The campaign asks for a start only when the unit has no workflow, or its last run
     * was rolled back before the campaign began (a drill): that closed run may be followed by a new one.
     */
    async startUnits(args: { units: CampaignUnit[]; taskQueue: string }): Promise<{ unit: string; started: boolean }[]> {
      return Promise.all(
        args.units.map(async (u) => {
          const options = { ...unitStartOptions(u.input, args.taskQueue), workflowId: u.workflowId, workflowIdReusePolicy: 'ALLOW_DUPLICATE' as const };
          try {
            await client.workflow.start(u.workflowType, options);
            return { unit: u.unit, started: true };
          } catch (err) {
            if (err instanceof WorkflowExecutionAlreadyStartedError) return { unit: u.unit, started: false };
            throw err;
          }
        }),
      );
    },

    /**
     * The status of each unit's entity workflow (`missing` when it does not exist, `unknown` when its
     * query failed this time). Bounded concurrency, and each unit settles on its own: one slow query
     * must not fail the round for a whole batch.
     */
    async unitViews(args: { units: { unit: string; workflowId: string }[] }): Promise<UnitView[]> {
      const out: UnitView[] = new Array(args.units.length);
      let next = 0;
      let failures = 0;
      let lastError: unknown;
      const worker = async () => {
        for (let i = next++; i < args.units.length; i = next++) {
          const { unit, workflowId } = args.units[i]!;
          try {
            out[i] = toUnitView(unit, workflowId, await client.workflow.getHandle(workflowId).query(unitMessages.status));
          } catch (err) {
            if (err instanceof WorkflowNotFoundError) out[i] = { unit, workflowId, missing: true };
            else {
              failures++;
              lastError = err;
              out[i] = { unit, workflowId, unknown: true };
            }
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(UNIT_VIEW_CONCURRENCY, args.units.length) }, worker));
      // Nothing answered: the control cluster or the worker is down — an infrastructure fault, retried.
      if (args.units.length > 0 && failures === args.units.length) throw lastError;
      return out;
    },

    /** Sends `advance` or `rollback` to entity workflows; the entity ignores a command ID it has seen. */
    async commandUnits(args: { commands: { workflowId: string; command: 'advance' | 'rollback'; commandId: string; actor: string; reason?: string }[] }): Promise<void> {
      await Promise.all(
        args.commands.map((c) =>
          client.workflow.getHandle(c.workflowId).signal(unitMessages[c.command], { actor: c.actor, commandId: c.commandId, ...(c.reason ? { reason: c.reason } : {}) }),
        ),
      );
    },
  };
}

/** The campaign activities' type, for `proxyActivities` (import type only). */
export type CampaignActivities = ReturnType<typeof createCampaignActivities>;
