/**
 * Signing what the cockpit sends: the CLI signs a command over its whole content (command, command ID,
 * workflow and run, arguments, expiry) with the operator's key, and sends the signed body beside the
 * plain fields (which a workflow that checks signatures ignores).
 */
import type { OperatorSecret } from '../operators/keys';
import { MAX_SIGNATURE_TTL_MS } from '../operators/signing';
import { CockpitInputError } from './errors';

/** How long a signed command stays valid unless `--expires-in` says otherwise. */
export const DEFAULT_COMMAND_TTL_MS = 10 * 60_000;

/** The payload of a command: plain fields, and the signature when a key is given. */
export function commandPayload(opts: {
  signer?: OperatorSecret;
  actor: string;
  command: string;
  commandId: string;
  workflowId: string;
  runId?: string;
  args: Record<string, unknown>;
  expiresInMs?: number;
  now?: number;
}): Record<string, unknown> {
  const plain = { actor: opts.signer?.name ?? opts.actor, commandId: opts.commandId, ...opts.args };
  if (!opts.signer) return plain;
  const issuedAt = opts.now ?? Date.now();
  const signature = opts.signer.sign({
    command: opts.command,
    commandId: opts.commandId,
    workflowId: opts.workflowId,
    ...(opts.runId ? { runId: opts.runId } : {}),
    args: opts.args,
    issuedAt,
    expiresAt: issuedAt + (opts.expiresInMs ?? DEFAULT_COMMAND_TTL_MS),
  });
  return { ...plain, signature };
}

/** Checks `--actor` against the key: with a key, the key's name is who sends. */
export function actorFor(signer: OperatorSecret | undefined, actor: string | undefined, fallback: string): string {
  if (!signer) return actor ?? fallback;
  if (actor !== undefined && actor !== signer.name)
    throw new CockpitInputError(
      '--actor',
      `"${actor}" differs from the key's operator "${signer.name}" (${signer.file})`,
      'leave --actor out: a signed command is sent by the key its operator holds',
    );
  return signer.name;
}

/** Parses `--expires-in <seconds>`: a positive number of seconds, at most 24 h. */
export function expiresIn(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || n * 1000 > MAX_SIGNATURE_TTL_MS)
    throw new CockpitInputError('--expires-in', `"${value}" is not a number of seconds from 1 to 86400`, 'pass e.g. --expires-in 600');
  return n * 1000;
}
