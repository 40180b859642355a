/**
 * cutover's cluster connections against a real dev server: a client receives a history page larger
 * than gRPC's 4 MiB default, which a connection made with the SDK's defaults does not (see
 * src/clusters/connect.ts; a campaign run at 10,000 tenants has such a page), and a cluster that does
 * not answer is an error naming it.
 */
import * as assert from 'node:assert/strict';
import { Client, Connection } from '@temporalio/client';
import { testStack, uniqueId } from '../harness';
import { ClusterConnectError, connectCluster, connectNativeCluster } from '../../src/clusters/connect';
import { freePort } from '../../src/stack/ports';

const NS = 'payments';
/** Three signals of 1.5 MB: ~4.5 MB of history in one page, over 4 MiB, each payload under the 2 MB blob limit. */
const SIGNALS = 3;
const PAYLOAD_CHARS = 1_500_000;

describe('cluster connections (real dev server)', function () {
  this.timeout(60_000);
  let plain: Connection | undefined;
  let ours: Connection | undefined;

  after(async () => {
    await plain?.close();
    await ours?.close();
  });

  it('fetch a history page over 4 MiB, which the SDK-default connection cannot', async () => {
    const { target } = testStack();
    // The SDK's channel defaults; no retry interceptor, which would retry RESOURCE_EXHAUSTED for ~40 s.
    plain = await Connection.connect({ address: target.address, interceptors: [] });
    ours = await connectCluster('cloud', { address: target.address });
    const client = new Client({ connection: plain, namespace: NS });
    const workflowId = uniqueId('large-history');
    // No worker: the signals stay in history, which is all this test needs.
    const handle = await client.workflow.signalWithStart('largeHistoryUnpolled', {
      taskQueue: uniqueId('large-history-q'),
      workflowId,
      signal: 'blob',
      signalArgs: ['a'.repeat(PAYLOAD_CHARS)],
    });
    try {
      for (let i = 1; i < SIGNALS; i++) await handle.signal('blob', String.fromCharCode(97 + i).repeat(PAYLOAD_CHARS));
      const description = await handle.describe();
      assert.ok(
        (description.historySize ?? 0) > 4 * 2 ** 20,
        `history is ${description.historySize} bytes; the test needs more than 4 MiB`,
      );

      await assert.rejects(
        handle.fetchHistory(),
        /RESOURCE_EXHAUSTED|larger than max/,
        'the SDK-default connection was expected to refuse the page',
      );

      const history = await new Client({ connection: ours, namespace: NS }).workflow.getHandle(workflowId).fetchHistory();
      const signals = (history.events ?? []).filter((e) => e.workflowExecutionSignaledEventAttributes);
      assert.equal(signals.length, SIGNALS);
    } finally {
      await handle.terminate('test done').catch(() => undefined);
    }
  });

  it('a cluster that does not answer is an error naming it, its address and the fix', async () => {
    const address = `127.0.0.1:${await freePort()}`;
    await assert.rejects(
      connectNativeCluster('legacy', { address }),
      (e: unknown) =>
        e instanceof ClusterConnectError &&
        e.cluster === 'legacy' &&
        e.message.startsWith(`cannot reach cluster legacy at ${address}: `) &&
        e.message.includes('correct clusters.legacy.address'),
    );
  });
});
