/**
 * One `temporal server start-dev` process: its own SQLite file in the run directory (so it can be
 * killed and restarted on its data), fixed gRPC/HTTP/metrics ports, the namespaces and search
 * attributes it needs registered at launch, headless unless asked for a UI.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { waitForCluster } from '../clusters/readiness';
import { freePort } from './ports';
import { killGroup, spawnLogged, stopProcess, tail, type SpawnedProcess } from './processes';
import type { ClusterEndpoint, ClusterProcess } from './types';

export interface DevServerOptions {
  name: string;
  cli: string;
  runDir: string;
  /** gRPC port; a free one when omitted. */
  port?: number;
  namespaces: string[];
  searchAttributes: Record<string, string>;
  ui?: boolean;
  /** The UI's remote codec endpoint (`--ui-codec-endpoint`): the UI decodes payloads through it. */
  codecEndpoint?: string;
  /** Survive the process that started it (`cutover dev up`). */
  detached?: boolean;
  /** Extra `--dynamic-config-value K=JSON` entries. */
  dynamicConfig?: Record<string, unknown>;
  readyTimeoutMs?: number;
}

/** Dynamic config every cutover dev server gets: no version check (no internet), updates on. */
const BASE_DYNAMIC_CONFIG: Record<string, unknown> = {
  'frontend.enableServerVersionCheck': false,
  'frontend.enableUpdateWorkflowExecution': true,
  'frontend.enableUpdateWorkflowExecutionAsyncAccepted': true,
};

export class DevServer implements ClusterProcess {
  private proc: SpawnedProcess | undefined;
  private ports: { grpc: number; http: number; metrics: number; ui?: number } | undefined;
  readonly logFile: string;
  readonly dbFile: string;

  constructor(private readonly opts: DevServerOptions) {
    this.logFile = path.join(opts.runDir, `${opts.name}.log`);
    this.dbFile = path.join(opts.runDir, `${opts.name}.sqlite`);
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  get endpoint(): ClusterEndpoint {
    if (!this.ports) throw new Error(`cluster ${this.opts.name} has not been started`);
    return {
      name: this.opts.name,
      kind: 'dev',
      address: `127.0.0.1:${this.ports.grpc}`,
      metricsUrl: `http://127.0.0.1:${this.ports.metrics}/metrics`,
      uiUrl: this.ports.ui ? `http://127.0.0.1:${this.ports.ui}` : undefined,
    };
  }

  private async allocatePorts(): Promise<void> {
    if (this.ports) return; // a restart keeps its ports: clients reconnect to the same address
    this.ports = {
      grpc: this.opts.port ?? (await freePort()),
      http: await freePort(),
      metrics: await freePort(),
      ui: this.opts.ui ? await freePort() : undefined,
    };
  }

  private args(): string[] {
    const p = this.ports!;
    const args = [
      'server',
      'start-dev',
      '--ip',
      '127.0.0.1',
      '--port',
      String(p.grpc),
      '--http-port',
      String(p.http),
      '--metrics-port',
      String(p.metrics),
      '--db-filename',
      this.dbFile,
      // WAL + synchronous=OFF: a killed process (not a crashed OS) loses nothing, and starts are faster.
      '--sqlite-pragma',
      'journal_mode=WAL',
      '--sqlite-pragma',
      'synchronous=OFF',
      '--log-level',
      'warn',
    ];
    args.push(...(p.ui ? ['--ui-port', String(p.ui)] : ['--headless']));
    if (p.ui && this.opts.codecEndpoint) args.push('--ui-codec-endpoint', this.opts.codecEndpoint);
    for (const ns of this.opts.namespaces.filter((n) => n !== 'default')) args.push('--namespace', ns);
    for (const [name, type] of Object.entries(this.opts.searchAttributes)) args.push('--search-attribute', `${name}=${type}`);
    for (const [k, v] of Object.entries({ ...BASE_DYNAMIC_CONFIG, ...this.opts.dynamicConfig })) {
      args.push('--dynamic-config-value', `${k}=${JSON.stringify(v)}`);
    }
    return args;
  }

  async start(): Promise<void> {
    fs.mkdirSync(this.opts.runDir, { recursive: true });
    // A free port can be taken by someone else between our probe and the server's bind: retry with
    // new ports, but only when the caller did not fix the gRPC port.
    for (let attempt = 1; ; attempt++) {
      await this.allocatePorts();
      try {
        await this.launch();
        return;
      } catch (err) {
        const portClash = /address already in use|port .* in use|bind/i.test(tail(this.logFile, 5));
        if (!portClash || this.opts.port !== undefined || attempt >= 3) throw err;
        this.ports = undefined;
      }
    }
  }

  private async launch(): Promise<void> {
    const proc = spawnLogged(this.opts.cli, this.args(), {
      logFile: this.logFile,
      detached: this.opts.detached,
      env: { ...process.env, TEMPORAL_VERSION_CHECK_DISABLED: '1' },
    });
    this.proc = proc;
    let exited: string | undefined;
    void proc.exited.then((code) => (exited = String(code)));
    try {
      await waitForCluster({
        address: this.endpoint.address,
        namespaces: this.opts.namespaces,
        timeoutMs: this.opts.readyTimeoutMs ?? 60_000,
        check: () => {
          if (exited !== undefined)
            throw new Error(`dev server ${this.opts.name} exited (${exited}) during start-up:\n${tail(this.logFile)}`);
        },
      });
    } catch (err) {
      killGroup(proc.pid, 'SIGKILL');
      await proc.exited;
      throw err;
    }
  }

  async kill(): Promise<void> {
    if (!this.proc) return;
    killGroup(this.proc.pid, 'SIGKILL');
    await this.proc.exited;
  }

  async stop(): Promise<void> {
    await stopProcess(this.proc);
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.launch();
  }
}
