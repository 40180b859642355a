/**
 * The campaign's activities on the control cluster: start (or resume) the entity workflows of a
 * batch, read their status, and send them commands. Built by a factory over the control cluster's
 * client, so tests pass their own. Entity workflows are started as independent workflows, not children:
 * they outlive a campaign that is paused, cancelled or continued-as-new.
 */
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { campaignUnit, type CampaignEntities } from '../campaign/units';
import { unitViewOf, type UnitView } from '../campaign/driver';
import { UNIT_VIEW_MEMO } from '../domain/constants';
import type { ForwardPhase } from '../domain/migration';
import { unitStartOptions } from '../domain/unit-input';
import type { OperatorSecret } from '../operators/keys';
import * as unitMessages from '../workflows/unit-migration.messages';

/** Describes in flight at once (a query, the fallback, is a workflow task on the cutover worker). */
const UNIT_VIEW_CONCURRENCY = 16;

/** A unit view as an entity publishes it in its memo (phase and route at least). */
function isViewMemo(v: unknown): v is Omit<UnitView, 'unit' | 'workflowId'> {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  return typeof o.phase === 'string' && typeof o.route === 'object' && o.route !== null;
}

/** Dependencies: a client on the control namespace, and the worker's controller key (plans with operators). */
export interface CampaignActivityDeps {
  control: Client;
  /** Signs the commands a campaign sends to its units; without it they go unsigned (refused by units of a plan with operators). */
  signer?: OperatorSecret;
  now?: () => number;
}

/** How long a campaign's signed command to a unit stays valid: long enough for a unit whose worker was down a while. */
const CONTROLLER_SIGNATURE_TTL_MS = 12 * 3_600_000;

/** Builds the campaign activities. */
export function createCampaignActivities(deps: CampaignActivityDeps) {
  const client = deps.control;
  const now = deps.now ?? Date.now;
  /** A command's payload, signed by the worker's key for the campaign (bound to the unit's workflow ID, not a run). */
  function signed(
    campaign: string | undefined,
    c: { workflowId: string; command: string; commandId: string; actor: string; reason?: string; until?: ForwardPhase },
  ): unitMessages.SafeOperatorCommand {
    const plain = {
      actor: c.actor,
      commandId: c.commandId,
      ...(c.reason ? { reason: c.reason } : {}),
      ...(c.until ? { until: c.until } : {}),
    };
    if (!deps.signer || campaign === undefined) return plain;
    const issuedAt = now();
    const args = { campaign, ...(c.reason ? { reason: c.reason } : {}), ...(c.until ? { until: c.until } : {}) };
    const signature = deps.signer.sign({
      command: c.command,
      commandId: c.commandId,
      workflowId: c.workflowId,
      args,
      issuedAt,
      expiresAt: issuedAt + CONTROLLER_SIGNATURE_TTL_MS,
    });
    return { ...plain, signature };
  }
  return {
    /**
     * Starts each unit's entity workflow, or attaches to it when it is running: never two runs of a
     * unit at once. The campaign asks for a start only when the unit has no workflow, or its last run
     * was rolled back before the campaign began (a drill): that closed run may be followed by a new one.
     */
    async startUnits(args: {
      entities: CampaignEntities;
      units: { unit: string; ring: string }[];
      taskQueue: string;
    }): Promise<{ unit: string; started: boolean }[]> {
      return Promise.all(
        args.units.map(async ({ unit, ring }) => {
          const u = campaignUnit(args.entities, ring, unit);
          const options = {
            ...unitStartOptions(u.input, args.taskQueue),
            workflowId: u.workflowId,
            workflowIdReusePolicy: 'ALLOW_DUPLICATE' as const,
          };
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
     * The status of each unit's entity workflow (`missing` when it does not exist, `unknown` when it
     * could not be read this time), from the view the entity keeps in its memo: a describe the server
     * answers alone, where a `status` query makes the (uncached) worker replay the run. Bounded
     * concurrency, and each unit settles on its own: one slow read must not fail a whole batch's round.
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
            const handle = client.workflow.getHandle(workflowId);
            const memo = (await handle.describe()).memo?.[UNIT_VIEW_MEMO];
            // The memo is written with the run's workflow tasks; a run that has not written it yet
            // (just started, or recorded before it existed) is queried.
            out[i] = isViewMemo(memo)
              ? { ...memo, unit, workflowId }
              : unitViewOf(unit, workflowId, await handle.query(unitMessages.status));
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

    /**
     * Sends `advance` or `rollback` to entity workflows; the entity ignores a command ID it has seen.
     * An entity that closed since the campaign looked (a standing `advance … until completed` ran to
     * the end) needs no command: the campaign's next look sees where it ended.
     */
    async commandUnits(args: {
      /** The campaign sending them: its worker signs each command for this campaign (plans with operators). */
      campaign?: string;
      commands: {
        workflowId: string;
        command: 'advance' | 'rollback';
        commandId: string;
        actor: string;
        reason?: string;
        until?: ForwardPhase;
      }[];
    }): Promise<void> {
      await Promise.all(
        args.commands.map((c) =>
          client.workflow
            .getHandle(c.workflowId)
            .signal(unitMessages[c.command], signed(args.campaign, c))
            .catch((err: unknown) => {
              if (!(err instanceof WorkflowNotFoundError)) throw err;
            }),
        ),
      );
    },
  };
}

/** The campaign activities' type, for `proxyActivities` (import type only). */
export type CampaignActivities = ReturnType<typeof createCampaignActivities>;
