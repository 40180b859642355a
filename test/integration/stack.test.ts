import * as assert from 'node:assert/strict';
import { Client, Connection } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import Redis from 'ioredis';
import { testStack, uniqueId, workflowBundle, type Side } from '../harness';
import { until } from '../harness/wait';
import { trivial } from '../workflows/stack-workflows';

const workflowsPath = require.resolve('../workflows/stack-workflows');

/** Runs one workflow to completion on a cluster through its own worker; returns the workflow ID. */
async function runOnce(side: Side, connection: Connection): Promise<{ workflowId: string; result: string }> {
  const s = testStack();
  const { NativeConnection } = await import('@temporalio/worker');
  const native = await NativeConnection.connect({ address: s[side].address });
  const taskQueue = uniqueId(`stack-${side}`);
  const workflowId = uniqueId(`wf-${side}`);
  try {
    const worker = await Worker.create({
      connection: native,
      namespace: 'default',
      taskQueue,
      workflowBundle: await workflowBundle({ workflowsPath }),
    });
    const client = new Client({ connection, namespace: 'default' });
    const result = await worker.runUntil(client.workflow.execute(trivial, { taskQueue, workflowId, args: [side] }));
    return { workflowId, result };
  } finally {
    await native.close();
  }
}

describe('test stack (real dev servers and Redis)', function () {
  const conns: Partial<Record<Side, Connection>> = {};
  const conn = async (side: Side) => (conns[side] ??= await Connection.connect({ address: testStack()[side].address }));

  after(async () => {
    await Promise.all(Object.values(conns).map((c) => c?.close()));
  });

  for (const side of ['source', 'target'] as const) {
    it(`runs a workflow to completion on the ${side} cluster through its own worker`, async function () {
      const { result } = await runOnce(side, await conn(side));
      assert.equal(result, `hello ${side}`);
    });
  }

  it('keeps the clusters independent: a run started on one is not visible on the other', async function () {
    const { workflowId } = await runOnce('source', await conn('source'));
    const onSource = new Client({ connection: await conn('source'), namespace: 'default' });
    const onTarget = new Client({ connection: await conn('target'), namespace: 'default' });
    const d = await onSource.workflow.getHandle(workflowId).describe();
    assert.equal(d.status.name, 'COMPLETED');
    await assert.rejects(onTarget.workflow.getHandle(workflowId).describe(), (err: Error) => err.name === 'WorkflowNotFoundError');
  });

  it('registers the namespaces and search attributes of the design on both clusters', async function () {
    for (const side of ['source', 'target'] as const) {
      const c = await conn(side);
      for (const namespace of testStack().namespaces) {
        const sa = await c.operatorService.listSearchAttributes({ namespace });
        for (const name of ['CutoverKind', 'CutoverPhase', 'CutoverUnit', 'CutoverCampaign', 'CutoverRing', 'TenantId']) {
          assert.ok(sa.customAttributes?.[name] !== undefined, `${side}/${namespace} lacks ${name}`);
        }
      }
    }
  });

  it('keeps a completed run across a SIGKILL and restart of its cluster', async function () {
    this.timeout(120_000);
    const s = testStack();
    const { workflowId } = await runOnce('target', await conn('target'));
    await s.kill('target');
    // The old connection's channel is dead with its server; a fresh one proves the restarted server.
    await conns.target?.close();
    delete conns.target;
    await s.restart('target');
    const client = new Client({ connection: await conn('target'), namespace: 'default' });
    const history = await client.workflow.getHandle(workflowId).fetchHistory();
    const last = history.events?.[history.events.length - 1];
    assert.ok(last?.workflowExecutionCompletedEventAttributes, 'the last event of the history is the completion');
    assert.equal((await client.workflow.getHandle(workflowId).describe()).status.name, 'COMPLETED');
  });

  it('round-trips through its Redis, and survives a Redis kill and restart', async function () {
    const s = testStack();
    const key = uniqueId('stack-key');
    const redis = new Redis(s.redisUrl, { maxRetriesPerRequest: 1 });
    redis.on('error', () => undefined); // the kill below makes it complain until it reconnects
    try {
      await redis.set(key, 'v1');
      assert.equal(await redis.get(key), 'v1');
      await s.killRedis();
      await assert.rejects(redis.get(key));
      await s.restartRedis();
      // Persistence is off: the restarted Redis is empty, and the client reconnects by itself.
      await redis.set(key, 'v2');
      assert.equal(await redis.get(key), 'v2');
      await redis.del(key);
    } finally {
      redis.disconnect();
    }
  });
});

describe('test stack: Prometheus', function () {
  it('scrapes both clusters (a real Prometheus, queried over its HTTP API)', async function () {
    const s = testStack();
    type Up = { metric: { cluster: string }; value: [number, string] }[];
    let last: Up = [];
    const up = await until(
      'Prometheus to see both clusters up',
      async () => {
        const r = await fetch(`${s.prometheusUrl}/api/v1/query?query=${encodeURIComponent('up{job="temporal"}')}`);
        last = ((await r.json()) as { data: { result: Up } }).data.result;
        return last.length === 2 && last.every((u) => u.value[1] === '1') && last;
      },
      { timeoutMs: 30_000, everyMs: 250, detail: () => JSON.stringify(last) },
    );
    assert.deepEqual(up.map((u) => u.metric.cluster).sort(), [s.source.name, s.target.name].sort());
    assert.ok(
      up.every((u) => u.value[1] === '1'),
      JSON.stringify(up),
    );
  });
});
