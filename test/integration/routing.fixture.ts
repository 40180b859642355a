/**
 * The shared setup of the routing suites: SDK and native connections to both clusters of the test stack,
 * a client per side on the suite's namespace, a Redis connection, the routing test workflows' bundle,
 * and fresh key prefixes whose keys are removed after each test. `useRoutingRig` registers the mocha
 * hooks; the fields are set once `before` has run.
 */
import { Client, Connection, WorkflowNotFoundError } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { Redis } from 'ioredis';
import { RoutingStore } from '../../src/routing/store';
import type { Side } from '../../src/routing/types';
import { testStack, uniqueId, workflowBundle } from '../harness';

const SIDES = ['source', 'target'] as const;

export interface RoutingRig {
  conns: Record<Side, Connection>;
  natives: Record<Side, NativeConnection>;
  sdk: Record<Side, Client>;
  redis: Redis;
  workflowBundle: { code: string };
  /** Run after each test, last first. */
  cleanups: (() => Promise<unknown>)[];
  /** A fresh key prefix with its store; its keys are removed after the test. */
  freshStore(): RoutingStore;
  /** Which clusters hold the workflow ID, and with which status. */
  where(workflowId: string): Promise<Partial<Record<Side, string>>>;
}

export function useRoutingRig(namespace: string, prefix: string): RoutingRig {
  const rig = { cleanups: [] as (() => Promise<unknown>)[] } as RoutingRig;
  before(async function () {
    this.timeout(120_000);
    const s = testStack();
    rig.conns = {
      source: await Connection.connect({ address: s.source.address }),
      target: await Connection.connect({ address: s.target.address }),
    };
    rig.natives = {
      source: await NativeConnection.connect({ address: s.source.address }),
      target: await NativeConnection.connect({ address: s.target.address }),
    };
    rig.sdk = {
      source: new Client({ connection: rig.conns.source, namespace }),
      target: new Client({ connection: rig.conns.target, namespace }),
    };
    rig.redis = new Redis(s.redisUrl, { maxRetriesPerRequest: 1 });
    rig.redis.on('error', () => undefined);
    rig.workflowBundle = {
      code: (await workflowBundle({ workflowsPath: require.resolve('../workflows/routing-test-workflows') })).code,
    };
  });
  afterEach(async () => {
    while (rig.cleanups.length > 0)
      await rig.cleanups
        .pop()?.()
        .catch(() => undefined);
  });
  after(async () => {
    rig.redis?.disconnect();
    await Promise.all(SIDES.map((side) => rig.conns?.[side]?.close()));
    await Promise.all(SIDES.map((side) => rig.natives?.[side]?.close()));
  });
  rig.where = async (workflowId) => {
    const out: Partial<Record<Side, string>> = {};
    await Promise.all(
      SIDES.map(async (side) => {
        try {
          out[side] = (await rig.sdk[side].workflow.getHandle(workflowId).describe()).status.name;
        } catch (err) {
          if (!(err instanceof WorkflowNotFoundError)) throw err;
        }
      }),
    );
    return out;
  };
  rig.freshStore = () => {
    const keyPrefix = `${uniqueId(prefix)}:`;
    rig.cleanups.push(async () => {
      const keys = await rig.redis.keys(`${keyPrefix}*`);
      if (keys.length > 0) await rig.redis.del(...keys);
    });
    return new RoutingStore({ redis: rig.redis, keyPrefix });
  };
  return rig;
}
