/**
 * Our own readiness loop (not `createLocal`'s fixed 5 s window, too short on a loaded machine): connect, then
 * describe every namespace the caller needs, until all answer or the deadline passes.
 */
import { Connection } from '@temporalio/client';
import { type ClusterAccess, connectionOptions } from './connect';

export interface WaitReadyOptions {
  address: string;
  namespaces: string[];
  /** The cluster's credentials (TLS, API key), built into options like every other connection; default: plaintext. */
  cluster?: ClusterAccess;
  timeoutMs?: number;
  /** Called between attempts; throw from it to abort (e.g. the server process died). */
  check?: () => void;
}

/** Resolves once the frontend answers and every namespace is described; throws with the last error. */
export async function waitForCluster(opts: WaitReadyOptions): Promise<void> {
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  let lastError: unknown;
  let delay = 50;
  while (Date.now() < deadline) {
    opts.check?.();
    let conn: Connection | undefined;
    try {
      const options = connectionOptions('local', opts.cluster ?? { address: opts.address });
      conn = await Connection.connect({ ...options, address: opts.address, connectTimeout: '2s' });
      for (const namespace of opts.namespaces) {
        await conn.workflowService.describeNamespace({ namespace });
      }
      return;
    } catch (err) {
      lastError = err;
    } finally {
      await conn?.close().catch(() => undefined);
    }
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 500);
  }
  throw new Error(
    `cluster at ${opts.address} not ready after ${opts.timeoutMs ?? 60_000} ms: ${String((lastError as Error)?.message ?? lastError)}`,
  );
}
