/**
 * Errors of the operators' cockpit. Each names what was wrong and the fix; the CLI maps them to exit
 * codes (bad input → 2, an operation that failed or was refused → 1).
 */

/** Bad input from the operator (an argument, a flag): nothing was sent. Exit code 2. */
export class CockpitInputError extends Error {
  override readonly name = 'CockpitInputError';
  constructor(
    /** The argument or flag at fault, e.g. `<unit>` or `--reason`. */
    readonly field: string,
    message: string,
    /** What to do instead. */
    readonly hint: string,
  ) {
    super(`${field}: ${message} — fix: ${hint}`);
  }
}

/** The unit's (or campaign's) workflow does not exist on the control cluster yet. Exit code 1. */
export class NotStartedError extends Error {
  override readonly name = 'NotStartedError';
  constructor(
    readonly workflowId: string,
    readonly hint: string,
  ) {
    super(`workflow ${workflowId} is not running on the control cluster — fix: ${hint}`);
  }
}

/** The workflow received the command and refused it (recorded in its `status.rejected`). Exit code 1. */
export class CommandRejectedError extends Error {
  override readonly name = 'CommandRejectedError';
  constructor(
    readonly command: string,
    readonly workflowId: string,
    /** The workflow's reason, which names the fix (e.g. "unit is paused; send resume first"). */
    readonly reason: string,
    readonly phase?: string,
  ) {
    super(`${command} refused by ${workflowId}${phase ? ` in phase ${phase}` : ''}: ${reason}`);
  }
}

/** The signal was sent but the workflow did not confirm it in time (no worker polling?). Exit code 1. */
export class CommandUnconfirmedError extends Error {
  override readonly name = 'CommandUnconfirmedError';
  constructor(
    readonly command: string,
    readonly workflowId: string,
    readonly commandId: string,
    readonly waitedMs: number,
  ) {
    super(
      `${command} was sent to ${workflowId} (command ID ${commandId}) but not confirmed within ${Math.round(waitedMs / 1000)} s — ` +
        'fix: check that the cutover worker is running (`cutover worker`), then run `cutover status` (re-sending with ' +
        `--command-id ${commandId} is safe: the workflow ignores a command ID it has seen)`,
    );
  }
}

/** The control cluster could not be reached or did not answer. Exit code 1. */
export class ControlUnavailableError extends Error {
  override readonly name = 'ControlUnavailableError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** `cutover route repair` would not write: the record is ahead of the workflow, or changed meanwhile. Exit code 1. */
export class RouteRepairRefusedError extends Error {
  override readonly name = 'RouteRepairRefusedError';
  constructor(
    readonly unit: string,
    message: string,
  ) {
    super(message);
  }
}
