import assert from 'node:assert/strict';
import { Client, Connection, isGrpcServiceError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import {
  CLUSTER_UNAVAILABLE,
  clusterUnavailableIn,
  LateConnection,
  RECONNECT_INITIAL_MS,
  RECONNECT_MAX_MS,
  reconnectDelayMs,
} from '../../src/clusters/late-connection';
import { freePort } from '../../src/stack/ports';

describe('late connection: a cluster the worker has not reached yet', () => {
  it('reconnect pauses double from 1 s up to 30 s, jittered within the upper half', () => {
    const low = () => 0;
    const high = () => 1;
    assert.equal(reconnectDelayMs(1, high), RECONNECT_INITIAL_MS);
    assert.equal(reconnectDelayMs(1, low), RECONNECT_INITIAL_MS / 2);
    assert.equal(reconnectDelayMs(2, high), 2 * RECONNECT_INITIAL_MS);
    assert.equal(reconnectDelayMs(6, high), RECONNECT_MAX_MS);
    for (const attempt of [7, 50, 1e6]) {
      assert.equal(reconnectDelayMs(attempt, high), RECONNECT_MAX_MS);
      assert.equal(reconnectDelayMs(attempt, low), RECONNECT_MAX_MS / 2);
    }
  });

  it("refuses every call with a retryable ClusterUnavailable naming the cluster, also through an SDK client's wrapper", async () => {
    const late = new LateConnection('cloud', '10.0.0.9:7233', 'cannot reach cluster cloud at 10.0.0.9:7233: connection refused');
    assert.equal(late.connected, false);
    const direct = await late.workflowService.getSystemInfo({}).catch((e: unknown) => e);
    assert.ok(direct instanceof ApplicationFailure);
    assert.equal(direct.type, CLUSTER_UNAVAILABLE);
    assert.equal(direct.nonRetryable, false);
    assert.match(direct.message, /^cluster cloud \(10\.0\.0\.9:7233\) is not connected .*connection refused; .*retried/);
    await assert.rejects(late.operatorService.listSearchAttributes({ namespace: 'payments' }), ApplicationFailure);
    await assert.rejects(late.ensureConnected(), ApplicationFailure);

    // The SDK's clients wrap what a service call throws; the worker and the gates unwrap it by its type.
    late.setReason('still refused');
    assert.equal(late.why, 'still refused');
    const wrapped = await new Client({ connection: late, namespace: 'payments' }).workflow.count('').catch((e: unknown) => e);
    assert.ok(!(wrapped instanceof ApplicationFailure));
    const found = clusterUnavailableIn(wrapped);
    assert.equal(found?.type, CLUSTER_UNAVAILABLE);
    assert.match(found!.message, /still refused/);
    assert.equal(clusterUnavailableIn(new Error('other')), undefined);
  });

  it('forwards every call to the real connection once connected', async function () {
    this.timeout(10_000);
    const late = new LateConnection('cloud', 'x', 'down');
    // A real connection to a port nothing listens on: the call reaches gRPC, which fails it (deadline or UNAVAILABLE).
    const conn = Connection.lazy({ address: `127.0.0.1:${await freePort()}` });
    try {
      late.connect(conn);
      assert.equal(late.connected, true);
      const err = await late.withDeadline(Date.now() + 500, () => late.workflowService.getSystemInfo({})).catch((e: unknown) => e);
      assert.ok(isGrpcServiceError(err), String(err));
      assert.equal(clusterUnavailableIn(err), undefined);
    } finally {
      await late.close();
    }
  });
});
