/**
 * Redis for the local stack: `REDIS_URL` when given (we start nothing), else our own `redis-server`
 * on a free port with persistence off, else an error naming the fix.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Redis from 'ioredis';
import { freePort } from './ports';
import { killGroup, spawnLogged, stopProcess, tail, type SpawnedProcess } from './processes';

export class RedisUnavailableError extends Error {
  override name = 'RedisUnavailableError';
}

/** Pings `url` until it answers or `timeoutMs` passes. */
export async function waitForRedis(url: string, timeoutMs = 10_000, check?: () => void): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    check?.();
    const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 500 });
    r.on('error', () => undefined);
    try {
      await r.connect();
      await r.ping();
      return;
    } catch (err) {
      last = err;
    } finally {
      r.disconnect();
    }
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new RedisUnavailableError(`Redis at ${url} did not answer within ${timeoutMs} ms: ${String((last as Error)?.message ?? last)}`);
}

/** Options of {@link RedisServer}. */
export interface RedisServerOptions {
  /** Its working directory (data files) and where its log goes. */
  runDir: string;
  port?: number;
  detached?: boolean;
  /** Base name of the log file (default `redis`: `redis.log`). */
  name?: string;
  /** `requirepass`, and `masterauth` (a replica, or a master a failover demotes, authenticates to its master with it). */
  password?: string;
  /** More `redis-server` arguments, e.g. `['--replicaof', '127.0.0.1', '6379']`. */
  args?: string[];
}

/** A `redis-server` process of our own. */
export class RedisServer {
  private proc: SpawnedProcess | undefined;
  readonly logFile: string;

  constructor(private readonly opts: RedisServerOptions) {
    this.logFile = path.join(opts.runDir, `${opts.name ?? 'redis'}.log`);
  }

  private port: number | undefined;

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.listenPort}`;
  }

  /** The port it listens on (chosen by `start()` when not given). */
  get listenPort(): number {
    if (!this.port) throw new Error('redis-server has not been started');
    return this.port;
  }

  async start(): Promise<void> {
    if (spawnSync('redis-server', ['--version']).status !== 0) {
      // Unlike the Temporal and Prometheus binaries, Redis has no Go module to build from: name the fixes.
      throw new RedisUnavailableError(
        'redis-server is not on PATH (cutover cannot build it). Fix one of: install Redis ' +
          '(Debian/Ubuntu, as root: apt-get install -y redis-server; macOS: brew install redis), ' +
          'put a redis-server on PATH, or set REDIS_URL=redis://host:port to use a Redis that is already running ' +
          '(the tests that kill and restart Redis need a redis-server of their own)',
      );
    }
    fs.mkdirSync(this.opts.runDir, { recursive: true });
    this.port ??= this.opts.port ?? (await freePort());
    await this.launch();
  }

  private async launch(): Promise<void> {
    // Persistence off: the stack's Redis is scratch space; a restart after kill() starts empty,
    // which is exactly the "Redis lost its data" case the routing clients must survive.
    const pw = this.opts.password;
    const proc = spawnLogged(
      'redis-server',
      [
        ...['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.opts.runDir],
        ...(pw ? ['--requirepass', pw, '--masterauth', pw] : []),
        ...(this.opts.args ?? []),
      ],
      {
        logFile: this.logFile,
        detached: this.opts.detached,
      },
    );
    this.proc = proc;
    let exited = false;
    void proc.exited.then(() => (exited = true));
    await waitForRedis(pw ? `redis://:${encodeURIComponent(pw)}@127.0.0.1:${this.port}` : this.url, 10_000, () => {
      if (exited) throw new RedisUnavailableError(`redis-server exited during start-up:\n${tail(this.logFile)}`);
    });
  }

  async kill(): Promise<void> {
    if (!this.proc) return;
    killGroup(this.proc.pid, 'SIGKILL');
    await this.proc.exited;
  }

  async stop(): Promise<void> {
    await stopProcess(this.proc, 2000);
  }

  /** Starts again on the same port (empty: persistence is off). */
  async restart(): Promise<void> {
    await this.stop();
    await this.launch();
  }
}
