/**
 * The failure converter of cutover's data converter. The SDK loads it by module path, from its named
 * export `failureConverter`: in the worker and clients with `require`, and inside the workflow sandbox
 * through the bundle, so it imports nothing but `@temporalio/common` (lint holds it to the sandbox's rules).
 *
 * `encodeCommonAttributes` moves each failure's message and stack trace out of the plain-text failure
 * fields into a payload, which the payload codec then encrypts: error messages quote unit names, tenant
 * IDs and gate values, and would otherwise be the one part of a history left in the clear.
 */
import { DefaultFailureConverter } from '@temporalio/common';

export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
