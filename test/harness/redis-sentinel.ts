/**
 * A real Redis Sentinel setup for the tests: a master, one replica and three sentinels, all from the
 * machine's `redis-server` (`redis-server <conf> --sentinel` is Sentinel; Debian's `redis-sentinel` is the
 * same binary). Each process has its own free port and its own directory under the stack's run
 * directory, and is stopped by PID. Failure detection is fast (1 s) so a test can fail the master over
 * in seconds; quorum 2 of 3, as in production.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Redis } from 'ioredis';
import type { RedisSentinelConfig } from '../../src/config/types';
import { freePort } from '../../src/stack/ports';
import { spawnLogged, stopProcess, tail, type SpawnedProcess } from '../../src/stack/processes';
import { RedisServer } from '../../src/stack/redis';
import { until } from './wait';

/** How long the sentinels wait before they call a silent master down (their `down-after-milliseconds`). */
export const SENTINEL_DOWN_AFTER_MS = 1_000;

export interface RedisSentinelOptions {
  /** The master's and replica's `requirepass` (and `masterauth`); the sentinels authenticate with it. */
  password?: string;
  /** The sentinels' own `requirepass` (clients pass it as the sentinel password). */
  sentinelPassword?: string;
}

/** A running master, replica and three sentinels. */
export class RedisSentinelSet {
  readonly masterName = `cutover-${randomBytes(3).toString('hex')}`;
  private readonly nodes: RedisServer[] = [];
  private readonly sentinels: { port: number; proc: SpawnedProcess; logFile: string }[] = [];

  private constructor(
    private readonly dir: string,
    private readonly opts: RedisSentinelOptions,
  ) {}

  /** Starts the set in `dir` and waits until the sentinels know each other and the replica is in sync. */
  static async start(dir: string, opts: RedisSentinelOptions = {}): Promise<RedisSentinelSet> {
    const set = new RedisSentinelSet(dir, opts);
    try {
      await set.launch();
    } catch (err) {
      await set.stop();
      throw err;
    }
    return set;
  }

  private async launch(): Promise<void> {
    const pw = this.opts.password;
    const node = async (name: string, args: string[] = []) => {
      const runDir = path.join(this.dir, name);
      fs.mkdirSync(runDir, { recursive: true });
      const server = new RedisServer({ runDir, name, password: pw, args });
      this.nodes.push(server);
      await server.start();
      return server;
    };
    const master = await node('master');
    await node('replica', ['--replicaof', '127.0.0.1', String(master.listenPort)]);
    for (let i = 1; i <= 3; i++) {
      const runDir = path.join(this.dir, `sentinel-${i}`);
      fs.mkdirSync(runDir, { recursive: true });
      const port = await freePort();
      const sp = this.opts.sentinelPassword;
      // Sentinel rewrites its configuration file (what it learns, its epoch): each one has its own.
      const conf = path.join(runDir, 'sentinel.conf');
      fs.writeFileSync(
        conf,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          `dir ${runDir}`,
          `sentinel monitor ${this.masterName} 127.0.0.1 ${master.listenPort} 2`,
          `sentinel down-after-milliseconds ${this.masterName} ${SENTINEL_DOWN_AFTER_MS}`,
          `sentinel failover-timeout ${this.masterName} 10000`,
          `sentinel parallel-syncs ${this.masterName} 1`,
          ...(pw ? [`sentinel auth-pass ${this.masterName} ${pw}`] : []),
          // Sentinels talk to each other too: with a password of their own, they present it to each other.
          ...(sp ? [`requirepass ${sp}`, `sentinel sentinel-pass ${sp}`] : []),
          '',
        ].join('\n'),
      );
      const logFile = path.join(runDir, 'sentinel.log');
      const proc = spawnLogged('redis-server', [conf, '--sentinel'], { logFile });
      this.sentinels.push({ port, proc, logFile });
    }
    await until(
      'the sentinels to know each other and the replica, and the replica to be in sync',
      async () => {
        for (const s of this.sentinels) {
          if (s.proc.child.exitCode !== null) throw new Error(`sentinel on port ${s.port} exited:\n${tail(s.logFile)}`);
        }
        const states = await Promise.all(
          this.sentinels.map((s) => this.onSentinel(s.port, (r) => r.call('SENTINEL', 'MASTER', this.masterName))),
        );
        const ready = states.every((flat) => {
          const m = pairs(flat as string[]);
          return m['num-other-sentinels'] === '2' && m['num-slaves'] === '1' && m.flags === 'master';
        });
        if (!ready) return false;
        const info = await this.onNode(this.nodes[1]!.listenPort, (r) => r.info('replication'));
        return /master_link_status:up/.test(info);
      },
      { timeoutMs: 20_000, everyMs: 100 },
    );
  }

  /** The plan's `redis.sentinel` for this set (the password variables are the caller's to name). */
  config(extra: Partial<RedisSentinelConfig> = {}): RedisSentinelConfig {
    return { masterName: this.masterName, addresses: this.sentinels.map((s) => `127.0.0.1:${s.port}`), ...extra };
  }

  /** The port of the master, as every sentinel names it (undefined while they disagree). */
  async masterPort(): Promise<number | undefined> {
    const answers = await Promise.all(
      this.sentinels.map((s) => this.onSentinel(s.port, (r) => r.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', this.masterName))),
    );
    const ports = new Set(answers.map((a) => Number((a as string[])[1])));
    return ports.size === 1 ? [...ports][0] : undefined;
  }

  /** Ports of the master and the replica (whatever their roles now). */
  nodePorts(): number[] {
    return this.nodes.map((n) => n.listenPort);
  }

  /** SIGKILLs the current master (by PID) and returns its port. */
  async killMaster(): Promise<number> {
    const port = await this.masterPort();
    const node = this.nodes.find((n) => n.listenPort === port);
    if (!node) throw new Error(`the sentinels name no master of this set (port ${port})`);
    await node.kill();
    return port!;
  }

  /**
   * Waits (bounded) until every sentinel names another master than `oldPort` and that node says it is
   * master; returns its port.
   */
  async failedOverFrom(oldPort: number, timeoutMs = 20_000): Promise<number> {
    return await until(
      `the sentinels to promote a new master in place of port ${oldPort}`,
      async () => {
        const port = await this.masterPort();
        if (port === undefined || port === oldPort) return false;
        const info = await this.onNode(port, (r) => r.info('replication'));
        return /role:master/.test(info) && port;
      },
      { timeoutMs, everyMs: 100 },
    );
  }

  /** Runs `fn` on a short-lived connection to the data node on `port` (with the set's password). */
  async onNode<T>(port: number, fn: (r: Redis) => Promise<T>): Promise<T> {
    return await this.once({ port, password: this.opts.password }, fn);
  }

  private async onSentinel<T>(port: number, fn: (r: Redis) => Promise<T>): Promise<T> {
    return await this.once({ port, password: this.opts.sentinelPassword }, fn);
  }

  private async once<T>(o: { port: number; password?: string }, fn: (r: Redis) => Promise<T>): Promise<T> {
    const r = new Redis({
      host: '127.0.0.1',
      port: o.port,
      password: o.password,
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      connectTimeout: 1_000,
    });
    r.on('error', () => undefined);
    try {
      await r.connect();
      return await fn(r);
    } finally {
      r.disconnect();
    }
  }

  /** Stops every process of the set (SIGTERM, then SIGKILL) by PID. */
  async stop(): Promise<void> {
    await Promise.all([...this.sentinels.map((s) => stopProcess(s.proc, 2000)), ...this.nodes.map((n) => n.stop())]);
  }
}

/** `[k1, v1, k2, v2, …]` (how Sentinel answers) as a record. */
function pairs(flat: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[flat[i]!] = flat[i + 1]!;
  return out;
}
