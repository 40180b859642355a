/**
 * Routing records in Redis (docs/design.md, "Routing records and other keys in Redis").
 *
 * Layout: `${keyPrefix}route:${unit}` holds the record as JSON; every change is published on
 * `${keyPrefix}routes` (the full record, or `{ unit, deleted: true }`). The epoch check and the write
 * happen in one Lua script, so two writers holding the same epoch can never both win (fencing), and
 * the publish is part of the same atomic step. Subscribers take a message only as a hint naming the
 * unit to read again: anyone who can publish on the channel could forge one, so only what is read
 * from the key (and validated) is ever used.
 *
 * A unit with no record is routed to the source: the migration has not begun (by design — creating
 * the record is the first act of the `provisioned` phase).
 *
 * Placement records (`${keyPrefix}placement:${namespace}:${workflowId}`, with a TTL) say on which
 * cluster a workflow ID was started, so that other client instances find its runs.
 *
 * A sweep marker (`${keyPrefix}sweep:${unit}`) says that every run of the unit open on either cluster
 * at a route's epoch has a placement (the entity workflow's placement sweep): while it names the epoch
 * a client routes by, a start whose claim finds no placement needs no look at the other cluster.
 *
 * A handoff record (`${keyPrefix}handoff:${namespace}:${workflowId}`) says that cutover is moving a
 * running workflow to the other cluster (straggler policy `handoff`): while it reads `moving`, the run
 * on `from` may have closed and the one on `to` not begun, so routed clients hold the ID's signals and
 * updates instead of failing them; once `done`, a handle bound to the old run follows the new one.
 */
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { systemClock, type RoutingClock } from './clock';
import { RoutingInputError, RoutingRecordInvalidError } from './errors';
import type { CasResult, Route, RouteChange, RoutingRecord, Side } from './types';

/** Options of {@link RoutingStore}. */
export interface RoutingStoreOptions {
  /** A connected (or connecting) ioredis client; the store never closes it. */
  redis: Redis;
  /** The plan's `redis.keyPrefix`, e.g. `cutover:`. */
  keyPrefix: string;
  /** The wall clock placements' claim times are written and judged on (shared with other hosts); default `Date.now`. */
  clock?: Pick<RoutingClock, 'wallMs'>;
}

/** A message on the routes channel, as subscribers take it: the unit whose record to read again. */
export interface RouteHint {
  unit: string;
}

/**
 * A unit's record as read: absent (`raw` null), valid (`record`), or present but invalid (`invalid`,
 * naming the problem and the commands that repair it). Only that unit is affected by an invalid one.
 */
export interface RecordRead {
  unit: string;
  raw: string | null;
  record?: RoutingRecord;
  invalid?: RoutingRecordInvalidError;
}

/** A placement as read: absent, valid, or present but invalid (never trusted: the caller looks for the run). */
export type PlacementRead =
  { state: 'absent' } | { state: 'valid'; placement: PlacementRecord; raw: string } | { state: 'invalid'; problem: string; raw: string };

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

/** A running workflow being handed to the other cluster (straggler policy `handoff`). */
export interface HandoffRecord {
  from: Side;
  to: Side;
  /** The run that stops on `from`. */
  fromRunId: string;
  /** The run started on `to` with the state the old one returned (set once started). */
  toRunId?: string;
  /** `moving` from before the run is asked to stop until the run on `to` exists; then `done`. */
  state: 'moving' | 'done';
  /** Epoch ms of the last change. */
  at: number;
}

const handoffSchema = z.object({
  from: z.enum(['source', 'target']),
  to: z.enum(['source', 'target']),
  fromRunId: z.string().min(1).max(200),
  toRunId: z.string().min(1).max(200).optional(),
  state: z.enum(['moving', 'done']),
  at: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
});

/** A stored handoff record, or undefined when absent or invalid (an invalid one is never followed). */
export function parseHandoff(json: string | null | undefined): HandoffRecord | undefined {
  if (typeof json !== 'string') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return undefined;
  }
  const parsed = handoffSchema.safeParse(value);
  if (!parsed.success || parsed.data.from === parsed.data.to) return undefined;
  if (parsed.data.state === 'done' && !parsed.data.toRunId) return undefined;
  return parsed.data;
}

/**
 * The placement sweep's marker: every run of the unit open on either cluster once clients could only
 * route by the record at `epoch` has a placement, kept at least until `validUntil` (epoch ms).
 */
export interface SweepMarker {
  epoch: number;
  /** When the sweep listed the runs (epoch ms). */
  at: number;
  /** Until when the placements it wrote (and every placement written while the marker holds) live. */
  validUntil: number;
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

const epochSchema = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER);

const forcedSchema = z.object({
  by: z.string().min(1),
  reason: z.string().min(1),
  at: z.string().datetime({ offset: true }),
  signer: z.object({ name: z.string().min(1), publicKey: z.string(), body: z.string(), sig: z.string() }).optional(),
});

const recordSchema = z
  .object({
    unit: z.string().min(1),
    route: routeSchema,
    epoch: epochSchema,
    sourceWorkersMayStop: z.boolean(),
    changedBy: z.string(),
    reason: z.string().optional(),
    changedAt: z.string().datetime({ offset: true }),
    restoredFrom: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
    forced: forcedSchema.optional(),
  })
  .refine((r) => r.restoredFrom === undefined || r.restoredFrom < r.epoch, {
    path: ['restoredFrom'],
    message: 'must be lower than epoch',
  })
  // Forcing is a way back only: a forced mark on any other route is not a record cutover wrote.
  .refine((r) => r.forced === undefined || (r.route.kind === 'side' && r.route.side === 'source' && !r.sourceWorkersMayStop), {
    path: ['forced'],
    message: 'only a route all on the source, with source workers running, may be forced',
  });

/** How far in the future a placement's claim time may lie (clock skew between hosts) before it is invalid. */
export const PLACEMENT_MAX_FUTURE_MS = 3_600_000;

/** The definition of a placement (exported for the test that holds the start path's plain checks to it). */
export const placementSchema = z.object({
  side: z.enum(['source', 'target']),
  epoch: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  at: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
  pending: z.boolean().optional(),
});

/** The definition of a sweep marker. */
export const sweepSchema = z.object({
  epoch: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
  at: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
  validUntil: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
});

// Placements and sweep markers are read and written on every start of a moving unit: a valid value is
// recognised by plain checks (what the schemas accept, no less), and only a value they refuse goes through
// the schema, for its message. The schemas stay the definition; test/unit/routing-logic.test.ts holds the checks to them.
const isWhole = (v: unknown, min: number): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= min;

/** The placement as the schema would return it, when plainly valid; undefined: let the schema judge. */
function plainPlacement(value: unknown): PlacementRecord | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const v = value as Record<string, unknown>;
  if ((v.side !== 'source' && v.side !== 'target') || !isWhole(v.epoch, 0) || !isWhole(v.at, 1)) return undefined;
  if (v.pending === undefined) return 'pending' in v ? undefined : { side: v.side, epoch: v.epoch, at: v.at };
  return typeof v.pending === 'boolean' ? { side: v.side, epoch: v.epoch, at: v.at, pending: v.pending } : undefined;
}

/** The last marker parsed, by its stored text: every claim of a swept unit reads the same one. */
let lastSweep: { json: string; marker: SweepMarker | undefined } | undefined;

/** A stored sweep marker, or undefined when absent or invalid (an invalid marker is never trusted). */
export function parseSweep(json: string | null | undefined): SweepMarker | undefined {
  if (typeof json !== 'string') return undefined;
  if (lastSweep?.json === json) return lastSweep.marker ? { ...lastSweep.marker } : undefined;
  let marker: SweepMarker | undefined;
  try {
    const parsed = sweepSchema.safeParse(JSON.parse(json));
    marker = parsed.success && parsed.data.validUntil > parsed.data.at ? parsed.data : undefined;
  } catch {
    marker = undefined;
  }
  lastSweep = { json, marker };
  return marker ? { ...marker } : undefined;
}

/** Entries the route log of a unit keeps (the newest; older ones are trimmed). */
export const ROUTE_LOG_MAX = 10_000;

// The end of the scripts that write a route: store `rec` at KEYS[1], append the write to the unit's
// route log KEYS[2] (the epoch it replaced, the new one, the record), announce it on the channel
// ARGV[channelArg] and return {1, json}. `cur` is the value it replaced (nil when absent).
const writeAndPublish = (channelArg: number): string => `local s = cjson.encode(rec)
local before = 0
if cur then
  local okd, prev = pcall(cjson.decode, cur)
  if okd and type(prev) == 'table' and tonumber(prev.epoch) then before = tonumber(prev.epoch) end
end
redis.call('SET', KEYS[1], s)
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ${ROUTE_LOG_MAX}, '*', 'before', tostring(before), 'after', tostring(rec.epoch), 'record', s)
redis.call('PUBLISH', ARGV[${channelArg}], s)
return {1, s}
`;

// CAS: KEYS[1] route key; ARGV[1] expected epoch (0 = absent); ARGV[2] record JSON without epoch;
// ARGV[3] channel. Returns {1, newJson} or {0, currentJson|nil}. An omitted sourceWorkersMayStop
// keeps the current value. A current value that is not a JSON object is a conflict (the caller's parse
// then names the invalid record), never a script error.
const CAS_SCRIPT = `
local cur = redis.call('GET', KEYS[1])
local old = nil
local curEpoch = 0
if cur then
  local decoded, value = pcall(cjson.decode, cur)
  if not decoded or type(value) ~= 'table' then return {0, cur} end
  old = value
  curEpoch = tonumber(old.epoch)
end
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

// Restore: write a record at the epoch given, only if the key still holds exactly the value the caller
// read (ARGV[1] '1': must be absent; else ARGV[2] the raw value). ARGV[3] record JSON; ARGV[4] channel.
// Compared as raw strings, so a record that does not parse can be replaced, and nothing that changed since.
const RESTORE_SCRIPT = `
local cur = redis.call('GET', KEYS[1])
if ARGV[1] == '1' then
  if cur then return {0, cur} end
elseif cur ~= ARGV[2] then
  return {0, cur}
end
local rec = cjson.decode(ARGV[3])
${writeAndPublish(4)}`;

// Claim a placement: set it when absent (with a TTL) and return nil, else return the existing value.
const CLAIM_SCRIPT = `
local cur = redis.call('GET', KEYS[1])
if cur then return cur end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false
`;

// The same, and the unit's sweep marker in the same round trip (KEYS[2]). While a marker holds, the
// claim lives at least until its validUntil (ARGV[3] is the caller's wall time), so no placement
// written under a sweep expires before the sweep's promise does, whatever TTL a client was given.
const CLAIM_WITH_SWEEP_SCRIPT = `
local sweep = redis.call('GET', KEYS[2])
local cur = redis.call('GET', KEYS[1])
if cur then return {cur, sweep} end
local ttl = tonumber(ARGV[2])
if sweep then
  local ok, m = pcall(cjson.decode, sweep)
  if ok and type(m) == 'table' and type(m.validUntil) == 'number' then
    local left = m.validUntil - tonumber(ARGV[3])
    if left > ttl then ttl = left end
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
return {false, sweep}
`;

// Seed placements for runs found open (the sweep): a placement is written only where none is (a
// client's own claim is newer knowledge), and an existing one is kept at least ARGV[1] ms more.
// KEYS are placement keys; ARGV[2..] their values, in order.
const SEED_SCRIPT = `
local ttl = tonumber(ARGV[1])
local seeded = 0
for i, key in ipairs(KEYS) do
  if redis.call('SET', key, ARGV[i + 1], 'PX', ttl, 'NX') then
    seeded = seeded + 1
  else
    local left = redis.call('PTTL', key)
    if left >= 0 and left < ttl then redis.call('PEXPIRE', key, ttl) end
  end
end
return seeded
`;

// Write the sweep marker only while the unit's record still holds the epoch the sweep was made at.
const MARK_SWEEP_SCRIPT = `
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local ok, rec = pcall(cjson.decode, raw)
if not ok or type(rec) ~= 'table' or rec.epoch ~= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return 1
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
  if (change.restoredFrom !== undefined && !(Number.isSafeInteger(change.restoredFrom) && change.restoredFrom >= 0)) {
    throw new RoutingInputError(`${field}.restoredFrom`, "must be the entity workflow's epoch (a whole number ≥ 0) when given");
  }
  if (change.forced !== undefined) {
    const parsed = forcedSchema.safeParse(change.forced);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new RoutingInputError(
        `${field}.forced${issue && issue.path.length > 0 ? `.${issue.path.join('.')}` : ''}`,
        'a forced mark is { by: <who>, reason: <why>, at: <ISO 8601 time>, signer?: { name, publicKey, body, sig } }',
      );
    }
    if (change.route.kind !== 'side' || change.route.side !== 'source' || change.sourceWorkersMayStop === true) {
      throw new RoutingInputError(
        `${field}.forced`,
        "only a route all on the source may be forced: { kind: 'side', side: 'source' }, sourceWorkersMayStop false",
      );
    }
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

/** The first problem zod found, as `path: message`. */
function firstIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  return `${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`;
}

/**
 * Parses a stored record; throws {@link RoutingRecordInvalidError} when it is not one, or (with `unit`)
 * when it names another unit than its key does.
 */
export function parseRecord(key: string, json: string, unit?: string): RoutingRecord {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw new RoutingRecordInvalidError(key, 'not JSON', unit);
  }
  const parsed = recordSchema.safeParse(value);
  if (!parsed.success) throw new RoutingRecordInvalidError(key, firstIssue(parsed.error), unit);
  if (unit !== undefined && parsed.data.unit !== unit) {
    throw new RoutingRecordInvalidError(key, `unit: names ${JSON.stringify(parsed.data.unit)}, but the key is ${unit}'s`, unit);
  }
  return parsed.data as RoutingRecord;
}

/** Reads a raw value as {@link RecordRead}: never throws, so one bad record cannot hide the others. */
export function readRecord(key: string, unit: string, raw: string | null): RecordRead {
  if (raw === null) return { unit, raw };
  try {
    return { unit, raw, record: parseRecord(key, raw, unit) };
  } catch (err) {
    if (err instanceof RoutingRecordInvalidError) return { unit, raw, invalid: err };
    throw err;
  }
}

/** The unit a message of the routes channel names; undefined when it names none (ignored). */
export function parseHint(message: string): RouteHint | undefined {
  try {
    const value = JSON.parse(message) as { unit?: unknown } | null;
    return value && typeof value.unit === 'string' && value.unit !== '' ? { unit: value.unit } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Parses a stored placement at `nowMs`: a side other than source or target, an epoch or claim time that is
 * not a whole number, or a claim time further ahead than {@link PLACEMENT_MAX_FUTURE_MS} (which would make
 * other clients follow it blindly as "in flight") make it invalid.
 */
export function parsePlacement(json: string, nowMs: number): PlacementRead {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return { state: 'invalid', problem: 'not JSON', raw: json };
  }
  return checkPlacement(value, json, nowMs);
}

function checkPlacement(value: unknown, json: string, nowMs: number): PlacementRead {
  let placement = plainPlacement(value);
  if (!placement) {
    const parsed = placementSchema.safeParse(value);
    if (!parsed.success) return { state: 'invalid', problem: firstIssue(parsed.error), raw: json };
    placement = parsed.data;
  }
  if (placement.at > nowMs + PLACEMENT_MAX_FUTURE_MS) {
    // Past the last date a Date can hold, the figure itself is the message (toISOString would throw).
    const when = placement.at <= 8.64e15 ? new Date(placement.at).toISOString() : String(placement.at);
    return { state: 'invalid', problem: `at: ${when} is in the future`, raw: json };
  }
  return { state: 'valid', placement, raw: json };
}

/** Validates a placement before it is written; throws {@link RoutingInputError} naming the field. */
export function validatePlacement(placement: PlacementRecord, nowMs: number): void {
  // A plainly valid record that is not in the future needs no JSON round trip (the start path writes two).
  const plain = plainPlacement(placement);
  if (plain && plain.at <= nowMs + PLACEMENT_MAX_FUTURE_MS) return;
  const read = parsePlacement(JSON.stringify(placement), nowMs);
  if (read.state === 'invalid') {
    throw new RoutingInputError(
      `placement.${read.problem.split(':')[0]}`,
      `${read.problem}; a placement is ` +
        "{ side: 'source' | 'target', epoch: <integer ≥ 0>, at: <epoch ms, not in the future>, pending?: boolean }",
    );
  }
}

/** An epoch still legible in a stored value that is not a valid record (0 when none), so a rewrite goes above it. */
export function salvageEpoch(raw: string | null): number {
  if (raw === null) return 0;
  try {
    const epoch = (JSON.parse(raw) as { epoch?: unknown } | null)?.epoch;
    return typeof epoch === 'number' && Number.isSafeInteger(epoch) && epoch > 0 ? epoch : 0;
  } catch {
    return 0;
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
  private readonly clock: Pick<RoutingClock, 'wallMs'>;

  constructor(opts: RoutingStoreOptions) {
    if (!opts || !opts.redis) throw new RoutingInputError('redis', 'pass an ioredis client (new Redis(url))');
    if (typeof opts.keyPrefix !== 'string') throw new RoutingInputError('keyPrefix', "pass the plan's redis.keyPrefix, e.g. 'cutover:'");
    this.redis = opts.redis;
    this.keyPrefix = opts.keyPrefix;
    this.channel = `${opts.keyPrefix}routes`;
    this.clock = opts.clock ?? systemClock;
  }

  /** The unit's route log: every write of its record (a stream; `cutover audit` shows it). */
  routeLogKey(unit: string): string {
    return `${this.keyPrefix}route-log:${unit}`;
  }

  /** The unit's route log, oldest first: each write's epochs before and after, and the record written. */
  async routeLog(unit: string): Promise<{ id: string; before: number; after: number; record?: RoutingRecord; raw: string }[]> {
    const entries = await this.redis.xrange(this.routeLogKey(unit), '-', '+');
    return entries.map(([id, fields]) => {
      const get = (k: string) => fields[fields.indexOf(k) + 1] ?? '';
      const raw = get('record');
      return {
        id,
        before: Number(get('before')),
        after: Number(get('after')),
        record: readRecord(this.routeKey(unit), unit, raw).record,
        raw,
      };
    });
  }

  /** The highest epoch the unit's route log names (the newest entry's, before or after; 0 when the log is empty). */
  async lastLoggedEpoch(unit: string): Promise<number> {
    const [last] = await this.redis.xrevrange(this.routeLogKey(unit), '+', '-', 'COUNT', 1);
    if (!last) return 0;
    const fields = last[1];
    const num = (k: string) => {
      const i = fields.indexOf(k);
      const n = i >= 0 ? Number(fields[i + 1]) : 0;
      return Number.isSafeInteger(n) && n > 0 ? n : 0;
    };
    return Math.max(num('before'), num('after'));
  }

  /** Redis key of a unit's routing record. */
  routeKey(unit: string): string {
    return `${this.keyPrefix}route:${unit}`;
  }

  /** Redis key of a unit's placement-sweep marker. */
  sweepKey(unit: string): string {
    return `${this.keyPrefix}sweep:${unit}`;
  }

  /** Redis key of a workflow ID's placement. */
  placementKey(namespace: string, workflowId: string): string {
    return `${this.keyPrefix}placement:${namespace}:${workflowId}`;
  }

  /** The unit's record; undefined when absent (= routed to the source: the move has not begun). Throws when invalid. */
  async get(unit: string): Promise<RoutingRecord | undefined> {
    const key = this.routeKey(unit);
    const json = await this.redis.get(key);
    return json === null ? undefined : parseRecord(key, json, unit);
  }

  /** Several records in one round trip, in the order of `units`. Throws when any is invalid (see {@link readMany}). */
  async getMany(units: readonly string[]): Promise<(RoutingRecord | undefined)[]> {
    return (await this.readMany(units)).map((r) => {
      if (r.invalid) throw r.invalid;
      return r.record;
    });
  }

  /** The unit's record as read: absent, valid or invalid (never throws for a bad value). */
  async read(unit: string): Promise<RecordRead> {
    const key = this.routeKey(unit);
    return readRecord(key, unit, await this.redis.get(key));
  }

  /** Several units' records in one round trip, each judged on its own: one invalid record affects only its unit. */
  async readMany(units: readonly string[]): Promise<RecordRead[]> {
    if (units.length === 0) return [];
    const keys = units.map((u) => this.routeKey(u));
    const values = await this.redis.mget(...keys);
    return units.map((u, i) => readRecord(keys[i] as string, u, values[i] ?? null));
  }

  /** Creates the record at epoch 1 when absent, else returns the existing one (idempotent). */
  async ensure(unit: string, initial: RouteChange): Promise<RoutingRecord> {
    validateUnit(unit);
    validateRouteChange(initial, 'initial');
    const key = this.routeKey(unit);
    const [, json] = (await this.script(ENSURE_SCRIPT, [key, this.routeLogKey(unit)], [this.body(unit, initial), this.channel])) as [
      number,
      string,
    ];
    return parseRecord(key, json, unit);
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
    const res = (await this.script(
      CAS_SCRIPT,
      [key, this.routeLogKey(unit)],
      [String(expectedEpoch), this.body(unit, change), this.channel],
    )) as [number, string?];
    if (res[0] === 1) return { ok: true, record: parseRecord(key, res[1] as string, unit) };
    return { ok: false, current: res[1] === undefined || res[1] === null ? undefined : parseRecord(key, res[1], unit) };
  }

  /**
   * Writes the record at `epoch` only if the key still holds exactly `expectedRaw` (null: absent), and
   * publishes it — how a missing, invalid or regressed record is rewritten from the unit's entity workflow
   * (src/cockpit/route.ts). The caller picks an epoch above every epoch a client or the workflow may hold.
   */
  async restore(
    unit: string,
    expectedRaw: string | null,
    epoch: number,
    change: RouteChange,
  ): Promise<CasResult & { raw?: string | null }> {
    validateUnit(unit);
    if (!Number.isSafeInteger(epoch) || epoch < 1) throw new RoutingInputError('epoch', 'pass a whole number ≥ 1');
    validateRouteChange(change);
    if (change.restoredFrom !== undefined && change.restoredFrom >= epoch) {
      throw new RoutingInputError('change.restoredFrom', `pass the workflow's epoch, below the epoch written (${epoch})`);
    }
    const key = this.routeKey(unit);
    // The whole record is written (what it replaces may not parse): an omitted flag is false, not "kept".
    const body = JSON.stringify({
      ...(JSON.parse(this.body(unit, change)) as object),
      sourceWorkersMayStop: change.sourceWorkersMayStop ?? false,
      epoch,
    });
    const res = (await this.script(
      RESTORE_SCRIPT,
      [key, this.routeLogKey(unit)],
      [expectedRaw === null ? '1' : '0', expectedRaw ?? '', body, this.channel],
    )) as [number, string | null | undefined];
    if (res[0] === 1) return { ok: true, record: parseRecord(key, res[1] as string, unit) };
    const raw = res[1] ?? null;
    return { ok: false, current: raw === null ? undefined : readRecord(key, unit, raw).record, raw };
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
   * Subscribes to the routes channel on a dedicated connection (a duplicate of the store's) and hands on
   * each message only as a hint: the unit it names. A message is never a record: read the store. ioredis
   * re-subscribes after reconnecting; messages published while disconnected are lost, which is why
   * clients also refresh on a timer.
   */
  async subscribe(onHint: (hint: RouteHint) => void): Promise<RouteSubscription> {
    const sub = this.redis.duplicate();
    sub.on('error', () => undefined); // connection errors surface as staleness, not crashes
    sub.on('message', (channel: string, message: string) => {
      if (channel !== this.channel) return;
      const hint = parseHint(message);
      if (hint) onHint(hint);
    });
    await sub.subscribe(this.channel);
    return {
      close: async () => {
        sub.disconnect();
      },
    };
  }

  /** The placement of a workflow ID as read: absent, valid, or invalid (never to be trusted). */
  async readPlacement(namespace: string, workflowId: string, nowMs = this.clock.wallMs()): Promise<PlacementRead> {
    const json = await this.redis.get(this.placementKey(namespace, workflowId));
    return json === null ? { state: 'absent' } : parsePlacement(json, nowMs);
  }

  /** The placement of a workflow ID; undefined when absent or invalid (an invalid one is never trusted). */
  async getPlacement(namespace: string, workflowId: string): Promise<PlacementRecord | undefined> {
    const read = await this.readPlacement(namespace, workflowId);
    return read.state === 'valid' ? read.placement : undefined;
  }

  /**
   * Claims the placement of a workflow ID for `placement.side` when none is recorded (returns undefined),
   * else returns what is recorded with its raw value (for {@link movePlacement}): valid, or invalid.
   */
  async claimPlacement(
    namespace: string,
    workflowId: string,
    placement: PlacementRecord,
    ttlMs: number,
  ): Promise<Exclude<PlacementRead, { state: 'absent' }> | undefined> {
    validatePlacement(placement, this.clock.wallMs());
    const res = await this.script(CLAIM_SCRIPT, [this.placementKey(namespace, workflowId)], [JSON.stringify(placement), String(ttlMs)]);
    if (typeof res !== 'string') return undefined;
    return parsePlacement(res, this.clock.wallMs()) as Exclude<PlacementRead, { state: 'absent' }>;
  }

  /**
   * {@link claimPlacement}, reading the unit's sweep marker in the same round trip; the claim then lives
   * at least until the marker's `validUntil`. `sweep` is undefined when there is none (or it is invalid).
   */
  async claimPlacementSwept(
    unit: string,
    namespace: string,
    workflowId: string,
    placement: PlacementRecord,
    ttlMs: number,
  ): Promise<{ claim: Exclude<PlacementRead, { state: 'absent' }> | undefined; sweep: SweepMarker | undefined }> {
    const now = this.clock.wallMs();
    validatePlacement(placement, now);
    const res = (await this.script(
      CLAIM_WITH_SWEEP_SCRIPT,
      [this.placementKey(namespace, workflowId), this.sweepKey(unit)],
      [JSON.stringify(placement), String(ttlMs), String(now)],
    )) as [string | null, string | null];
    const [cur, sweep] = Array.isArray(res) ? res : [null, null];
    return {
      claim: typeof cur === 'string' ? (parsePlacement(cur, now) as Exclude<PlacementRead, { state: 'absent' }>) : undefined,
      sweep: parseSweep(sweep),
    };
  }

  /**
   * Seeds placements for runs found open on a side (the placement sweep): written where none is, kept
   * at least `ttlMs` where one is. Returns how many were written. Batched: one round trip per 500.
   */
  async seedPlacements(
    namespace: string,
    runs: readonly { workflowId: string; side: Side }[],
    epoch: number,
    ttlMs: number,
  ): Promise<number> {
    const at = this.clock.wallMs();
    let seeded = 0;
    for (let i = 0; i < runs.length; i += 500) {
      const batch = runs.slice(i, i + 500);
      const values = batch.map((r) => JSON.stringify({ side: r.side, epoch, at, pending: false } satisfies PlacementRecord));
      seeded += Number(
        await this.script(
          SEED_SCRIPT,
          batch.map((r) => this.placementKey(namespace, r.workflowId)),
          [String(ttlMs), ...values],
        ),
      );
    }
    return seeded;
  }

  /** Writes the unit's sweep marker if its record still holds `marker.epoch`; false when the route moved on. */
  async markSwept(unit: string, marker: SweepMarker): Promise<boolean> {
    validateUnit(unit);
    if (!parseSweep(JSON.stringify(marker)))
      throw new RoutingInputError('marker', 'needs whole-number epoch ≥ 1, at and validUntil > at (epoch ms)');
    const ttl = Math.max(1, marker.validUntil - this.clock.wallMs());
    const res = await this.script(
      MARK_SWEEP_SCRIPT,
      [this.routeKey(unit), this.sweepKey(unit)],
      [String(marker.epoch), JSON.stringify(marker), String(ttl)],
    );
    return res === 1;
  }

  /** The unit's sweep marker; undefined when absent or invalid. */
  async getSweep(unit: string): Promise<SweepMarker | undefined> {
    return parseSweep(await this.redis.get(this.sweepKey(unit)));
  }

  /** Moves a placement from the value `raw` to `placement`; returns false when someone changed it first. */
  async movePlacement(namespace: string, workflowId: string, raw: string, placement: PlacementRecord, ttlMs: number): Promise<boolean> {
    validatePlacement(placement, this.clock.wallMs());
    const res = await this.script(MOVE_SCRIPT, [this.placementKey(namespace, workflowId)], [raw, JSON.stringify(placement), String(ttlMs)]);
    return res === 1;
  }

  /** Redis key of a workflow ID's handoff record. */
  handoffKey(namespace: string, workflowId: string): string {
    return `${this.keyPrefix}handoff:${namespace}:${workflowId}`;
  }

  /** The workflow ID's handoff record; undefined when absent or invalid. */
  async getHandoff(namespace: string, workflowId: string): Promise<HandoffRecord | undefined> {
    return parseHandoff(await this.redis.get(this.handoffKey(namespace, workflowId)));
  }

  /** Writes a handoff record (only cutover's handoff activity does); throws naming the field when invalid. */
  async setHandoff(namespace: string, workflowId: string, record: HandoffRecord, ttlMs: number): Promise<void> {
    if (!parseHandoff(JSON.stringify(record)))
      throw new RoutingInputError(
        'handoff',
        'needs from ≠ to (source|target), fromRunId, state moving|done (done with toRunId), at (epoch ms)',
      );
    await this.redis.set(this.handoffKey(namespace, workflowId), JSON.stringify(record), 'PX', Math.max(1, Math.floor(ttlMs)));
  }

  /** Removes a workflow ID's handoff record (a handoff that did not happen). */
  async clearHandoff(namespace: string, workflowId: string): Promise<void> {
    await this.redis.del(this.handoffKey(namespace, workflowId));
  }

  /** Records a placement unconditionally (after a start whose side is certain). */
  async setPlacement(namespace: string, workflowId: string, placement: PlacementRecord, ttlMs: number): Promise<void> {
    validatePlacement(placement, this.clock.wallMs());
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
      restoredFrom: change.restoredFrom,
      forced: change.forced,
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

function validateUnit(unit: string): void {
  if (typeof unit !== 'string' || !/^(namespace\/[^/]+|tenant\/[^/]+\/[^/]+)$/.test(unit)) {
    throw new RoutingInputError('unit', "use 'namespace/<ns>' or 'tenant/<ns>/<tenant>' (see unitName in src/domain/ids.ts)");
  }
}
