/**
 * Routing records in Redis (docs/design.md, "Routing records and other keys in Redis").
 *
 * Layout: `${keyPrefix}route:${unit}` holds the record as JSON; every change is published on
 * `${keyPrefix}routes` (the full record, or `{ unit, deleted: true }`). The epoch check and the write
 * happen in one Lua script, so two writers holding the same epoch can never both win (fencing), and
 * the publish is part of the same atomic step, so subscribers never see a change that did not happen.
 *
 * A unit with no record is routed to the source: the migration has not begun (by design — creating
 * the record is the first act of the `provisioned` phase).
 *
 * Placement records (`${keyPrefix}placement:${namespace}:${workflowId}`, with a TTL) say on which
 * cluster a workflow ID was started, so that other client instances find its runs.
 */
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { RoutingInputError, RoutingRecordInvalidError } from './errors';
import type { CasResult, Route, RouteChange, RoutingRecord, Side } from './types';

/** Options of {@link RoutingStore}. */
export interface RoutingStoreOptions {
  /** A connected (or connecting) ioredis client; the store never closes it. */
  redis: Redis;
  /** The plan's `redis.keyPrefix`, e.g. `cutover:`. */
  keyPrefix: string;
}

/** A message on the routes channel. */
export type RouteEvent = { unit: string; record: RoutingRecord } | { unit: string; deleted: true };

/** Where a workflow ID was started, as recorded in Redis. */
export interface PlacementRecord {
  side: Side;
  /** Epoch of the route under which the side was decided. */
  epoch: number;
  /** Epoch milliseconds of the claim. */
  at: number;
  /** True from the claim until the start on `side` is acknowledged (or refused): a start may be in flight. */
  pending?: boolean;
}

/** A live subscription to the routes channel; `close()` disconnects its dedicated connection. */
export interface RouteSubscription {
  close(): Promise<void>;
}

const routeSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('side'), side: z.enum(['source', 'target']) }),
  z.object({ kind: z.literal('hold') }),
  z.object({ kind: z.literal('percent'), basisPoints: z.number().int().min(0).max(10_000) }),
]);

const recordSchema = z.object({
  unit: z.string().min(1),
  route: routeSchema,
  epoch: z.number().int().min(1),
  sourceWorkersMayStop: z.boolean(),
  changedBy: z.string(),
  reason: z.string().optional(),
  changedAt: z.string(),
});

const placementSchema = z.object({
  side: z.enum(['source', 'target']),
  epoch: z.number().int().min(0),
  at: z.number(),
  pending: z.boolean().optional(),
});

// The end of the scripts that write a route: store `rec` at KEYS[1], announce it on the channel
// ARGV[channelArg] and return {1, json}.
const writeAndPublish = (channelArg: number): string => `local s = cjson.encode(rec)
redis.call('SET', KEYS[1], s)
redis.call('PUBLISH', ARGV[${channelArg}], s)
return {1, s}
`;

// CAS: KEYS[1] route key; ARGV[1] expected epoch (0 = absent); ARGV[2] record JSON without epoch;
// ARGV[3] channel. Returns {1, newJson} or {0, currentJson|nil}. An omitted sourceWorkersMayStop
// keeps the current value.
const CAS_SCRIPT = `
local cur = redis.call('GET', KEYS[1])
local old = nil
local curEpoch = 0
if cur then old = cjson.decode(cur); curEpoch = tonumber(old.epoch) end
if curEpoch ~= tonumber(ARGV[1]) then return {0, cur} end
local rec = cjson.decode(ARGV[2])
rec.epoch = curEpoch + 1
if rec.sourceWorkersMayStop == nil then
  if old and old.sourceWorkersMayStop == true then rec.sourceWorkersMayStop = true else rec.sourceWorkersMayStop = false end
end
${writeAndPublish(3)}`;

// Ensure: create at epoch 1 when absent, else return the existing record.
const ENSURE_SCRIPT = `
local cur = redis.call('GET', KEYS[1])
if cur then return {0, cur} end
local rec = cjson.decode(ARGV[1])
rec.epoch = 1
if rec.sourceWorkersMayStop == nil then rec.sourceWorkersMayStop = false end
${writeAndPublish(2)}`;

const DELETE_SCRIPT = `
local n = redis.call('DEL', KEYS[1])
if n == 1 then redis.call('PUBLISH', ARGV[1], ARGV[2]) end
return n
`;

// Claim a placement: set it when absent (with a TTL) and return nil, else return the existing value.
const CLAIM_SCRIPT = `
local cur = redis.call('GET', KEYS[1])
if cur then return cur end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false
`;

// Move a placement only if it still holds the value the caller saw; else return the current value.
const MOVE_SCRIPT = `
local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]); return 1 end
if cur then return cur end
return 0
`;

/** Validates a requested change; throws {@link RoutingInputError} naming the field and the fix. */
export function validateRouteChange(change: RouteChange, field = 'change'): void {
  if (!change || typeof change !== 'object')
    throw new RoutingInputError(field, 'expected an object { route, actor, reason?, sourceWorkersMayStop? }');
  validateRoute(change.route, `${field}.route`);
  if (typeof change.actor !== 'string' || change.actor.trim() === '') {
    throw new RoutingInputError(`${field}.actor`, 'say who makes the change (a non-empty string, e.g. the operator or workflow ID)');
  }
  if (change.reason !== undefined && typeof change.reason !== 'string')
    throw new RoutingInputError(`${field}.reason`, 'must be a string when given');
  if (change.sourceWorkersMayStop !== undefined && typeof change.sourceWorkersMayStop !== 'boolean') {
    throw new RoutingInputError(`${field}.sourceWorkersMayStop`, 'must be true or false when given');
  }
}

/** Validates a route; throws {@link RoutingInputError} naming the field and the fix. */
export function validateRoute(route: Route, field = 'route'): void {
  const parsed = routeSchema.safeParse(route);
  if (parsed.success) return;
  const issue = parsed.error.issues[0];
  const at = issue && issue.path.length > 0 ? `${field}.${issue.path.join('.')}` : field;
  throw new RoutingInputError(
    at,
    "use { kind: 'side', side: 'source' | 'target' }, { kind: 'hold' } or { kind: 'percent', basisPoints: <integer 0..10000> }",
  );
}

/** Parses a stored record; throws {@link RoutingRecordInvalidError} when it is not one. */
export function parseRecord(key: string, json: string): RoutingRecord {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw new RoutingRecordInvalidError(key, 'not JSON');
  }
  const parsed = recordSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new RoutingRecordInvalidError(key, `${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data as RoutingRecord;
}

/** Parses a message of the routes channel; undefined when it is not one (ignored by subscribers). */
export function parseEvent(json: string): RouteEvent | undefined {
  try {
    const value = JSON.parse(json) as { unit?: unknown; deleted?: unknown };
    if (typeof value.unit !== 'string') return undefined;
    if (value.deleted === true) return { unit: value.unit, deleted: true };
    return { unit: value.unit, record: parseRecord(value.unit, json) };
  } catch {
    return undefined;
  }
}

function escapeGlob(s: string): string {
  return s.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

/** Routing records and placements in Redis. Stateless apart from its script cache. */
export class RoutingStore {
  readonly redis: Redis;
  readonly keyPrefix: string;
  /** The pub/sub channel of route changes. */
  readonly channel: string;
  private readonly shas = new Map<string, string>();

  constructor(opts: RoutingStoreOptions) {
    if (!opts || !opts.redis) throw new RoutingInputError('redis', 'pass an ioredis client (new Redis(url))');
    if (typeof opts.keyPrefix !== 'string') throw new RoutingInputError('keyPrefix', "pass the plan's redis.keyPrefix, e.g. 'cutover:'");
    this.redis = opts.redis;
    this.keyPrefix = opts.keyPrefix;
    this.channel = `${opts.keyPrefix}routes`;
  }

  /** Redis key of a unit's routing record. */
  routeKey(unit: string): string {
    return `${this.keyPrefix}route:${unit}`;
  }

  /** Redis key of a workflow ID's placement. */
  placementKey(namespace: string, workflowId: string): string {
    return `${this.keyPrefix}placement:${namespace}:${workflowId}`;
  }

  /** The unit's record; undefined when absent (= routed to the source: the move has not begun). */
  async get(unit: string): Promise<RoutingRecord | undefined> {
    const key = this.routeKey(unit);
    const json = await this.redis.get(key);
    return json === null ? undefined : parseRecord(key, json);
  }

  /** Several records in one round trip, in the order of `units`. */
  async getMany(units: readonly string[]): Promise<(RoutingRecord | undefined)[]> {
    if (units.length === 0) return [];
    const keys = units.map((u) => this.routeKey(u));
    const values = await this.redis.mget(...keys);
    return values.map((json, i) => (json === null ? undefined : parseRecord(keys[i] as string, json)));
  }

  /** Creates the record at epoch 1 when absent, else returns the existing one (idempotent). */
  async ensure(unit: string, initial: RouteChange): Promise<RoutingRecord> {
    validateUnit(unit);
    validateRouteChange(initial, 'initial');
    const key = this.routeKey(unit);
    const [, json] = (await this.script(ENSURE_SCRIPT, [key], [this.body(unit, initial), this.channel])) as [number, string];
    return parseRecord(key, json);
  }

  /**
   * Writes `change` only if the record is still at `expectedEpoch` (0 = the record must be absent).
   * On success the epoch grows by one and the new record is published.
   */
  async compareAndSet(unit: string, expectedEpoch: number, change: RouteChange): Promise<CasResult> {
    validateUnit(unit);
    if (!Number.isInteger(expectedEpoch) || expectedEpoch < 0) {
      throw new RoutingInputError('expectedEpoch', 'pass the epoch of the record you read (an integer ≥ 0; 0 when the record is absent)');
    }
    validateRouteChange(change);
    const key = this.routeKey(unit);
    const res = (await this.script(CAS_SCRIPT, [key], [String(expectedEpoch), this.body(unit, change), this.channel])) as [number, string?];
    if (res[0] === 1) return { ok: true, record: parseRecord(key, res[1] as string) };
    return { ok: false, current: res[1] === undefined || res[1] === null ? undefined : parseRecord(key, res[1]) };
  }

  /** Every routing record under the prefix (SCAN, so it never blocks Redis). */
  async list(): Promise<RoutingRecord[]> {
    const out: RoutingRecord[] = [];
    const pattern = `${escapeGlob(this.keyPrefix)}route:*`;
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) {
        const values = await this.redis.mget(...keys);
        values.forEach((json, i) => {
          if (json !== null) out.push(parseRecord(keys[i] as string, json));
        });
      }
    } while (cursor !== '0');
    return out.sort((a, b) => a.unit.localeCompare(b.unit));
  }

  /** Removes the record (tests, rollback cleanup) and publishes the deletion. True if it existed. */
  async delete(unit: string): Promise<boolean> {
    const n = await this.script(DELETE_SCRIPT, [this.routeKey(unit)], [this.channel, JSON.stringify({ unit, deleted: true })]);
    return n === 1;
  }

  /**
   * Subscribes to route changes on a dedicated connection (a duplicate of the store's). ioredis
   * re-subscribes after reconnecting; messages published while disconnected are lost, which is
   * why clients also refresh on a timer.
   */
  async subscribe(onEvent: (event: RouteEvent) => void): Promise<RouteSubscription> {
    const sub = this.redis.duplicate();
    sub.on('error', () => undefined); // connection errors surface as staleness, not crashes
    sub.on('message', (channel: string, message: string) => {
      if (channel !== this.channel) return;
      const event = parseEvent(message);
      if (event) onEvent(event);
    });
    await sub.subscribe(this.channel);
    return {
      close: async () => {
        sub.disconnect();
      },
    };
  }

  /** The placement of a workflow ID, if recorded. */
  async getPlacement(namespace: string, workflowId: string): Promise<PlacementRecord | undefined> {
    const json = await this.redis.get(this.placementKey(namespace, workflowId));
    return json === null ? undefined : parsePlacement(json);
  }

  /**
   * Claims the placement of a workflow ID for `side` when none is recorded (returns undefined), else
   * returns the existing placement and its raw value (for {@link movePlacement}).
   */
  async claimPlacement(
    namespace: string,
    workflowId: string,
    placement: PlacementRecord,
    ttlMs: number,
  ): Promise<{ existing: PlacementRecord; raw: string } | undefined> {
    const res = await this.script(CLAIM_SCRIPT, [this.placementKey(namespace, workflowId)], [JSON.stringify(placement), String(ttlMs)]);
    if (typeof res !== 'string') return undefined;
    const existing = parsePlacement(res);
    return existing ? { existing, raw: res } : undefined;
  }

  /** Moves a placement from the value `raw` to `placement`; returns false when someone changed it first. */
  async movePlacement(namespace: string, workflowId: string, raw: string, placement: PlacementRecord, ttlMs: number): Promise<boolean> {
    const res = await this.script(MOVE_SCRIPT, [this.placementKey(namespace, workflowId)], [raw, JSON.stringify(placement), String(ttlMs)]);
    return res === 1;
  }

  /** Records a placement unconditionally (after a start whose side is certain). */
  async setPlacement(namespace: string, workflowId: string, placement: PlacementRecord, ttlMs: number): Promise<void> {
    await this.redis.set(this.placementKey(namespace, workflowId), JSON.stringify(placement), 'PX', ttlMs);
  }

  private body(unit: string, change: RouteChange): string {
    return JSON.stringify({
      unit,
      route: change.route,
      sourceWorkersMayStop: change.sourceWorkersMayStop,
      changedBy: change.actor,
      reason: change.reason,
      changedAt: new Date().toISOString(),
    });
  }

  /** EVALSHA with a fallback to EVAL (first use, or after Redis restarted and lost its script cache). */
  private async script(source: string, keys: string[], args: string[]): Promise<unknown> {
    let sha = this.shas.get(source);
    if (sha) {
      try {
        return await this.redis.evalsha(sha, keys.length, ...keys, ...args);
      } catch (err) {
        if (!String((err as Error)?.message).startsWith('NOSCRIPT')) throw err;
      }
    }
    sha = (await this.redis.script('LOAD', source)) as string;
    this.shas.set(source, sha);
    return await this.redis.evalsha(sha, keys.length, ...keys, ...args);
  }
}

function parsePlacement(json: string): PlacementRecord | undefined {
  try {
    const parsed = placementSchema.safeParse(JSON.parse(json));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

function validateUnit(unit: string): void {
  if (typeof unit !== 'string' || !/^(namespace\/[^/]+|tenant\/[^/]+\/[^/]+)$/.test(unit)) {
    throw new RoutingInputError('unit', "use 'namespace/<ns>' or 'tenant/<ns>/<tenant>' (see unitName in src/domain/ids.ts)");
  }
}
