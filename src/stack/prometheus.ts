/**
 * A real Prometheus (found or built by prometheus-binary.ts) for the local stack: scrapes every
 * cluster's metrics endpoint each second, plus application/worker targets registered at run time
 * (config rewritten and hot-reloaded through the lifecycle endpoint, so a new target is scraped within seconds).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { freePort } from './ports';
import { findPrometheusTool, PrometheusUnavailableError, resolvePrometheusTool } from './prometheus-binary';
import { killGroup, spawnLogged, stopProcess, tail, type SpawnedProcess } from './processes';
import type { ProgressFn } from './types';

/** How often the clusters' own metrics are scraped (applications' every second). */
export const CLUSTER_SCRAPE_INTERVAL = '10s';

export { PrometheusUnavailableError };

/** True when a `prometheus` is at hand without building one (environment path, PATH or the project cache). */
export function prometheusInstalled(): boolean {
  return findPrometheusTool('prometheus') !== undefined;
}

export interface ScrapeTarget {
  /** `host:port` */
  address: string;
  /** Value of the `cluster` (or `app`) label. */
  name: string;
}

export class PrometheusServer {
  private proc: SpawnedProcess | undefined;
  private port: number | undefined;
  private readonly apps: ScrapeTarget[] = [];
  readonly logFile: string;
  private readonly configFile: string;

  constructor(
    private readonly opts: { runDir: string; clusters: ScrapeTarget[]; port?: number; detached?: boolean; onProgress?: ProgressFn },
  ) {
    this.logFile = path.join(opts.runDir, 'prometheus.log');
    this.configFile = path.join(opts.runDir, 'prometheus.yml');
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** Whether this Prometheus serves its web UI (a build from the Go module has no UI assets, only the API). */
  hasUi = false;

  get url(): string {
    if (!this.port) throw new Error('prometheus has not been started');
    return `http://127.0.0.1:${this.port}`;
  }

  private writeConfig(): void {
    const staticConfigs = (label: 'cluster' | 'app', targets: ScrapeTarget[]) =>
      targets.map((t) => ({ targets: [t.address], labels: { [label]: t.name } }));
    // A Temporal server's /metrics is ~20 MB (about 40,000 series, mostly histograms): read every second,
    // it kept a fifth of a core busy in Prometheus and as much in each server. Every 10 s still gives a
    // `rate(...[1m])` six points. Applications' metrics are small, and gates count them: every second.
    const scrapeConfigs: Record<string, unknown>[] = [
      {
        job_name: 'temporal',
        metrics_path: '/metrics',
        scrape_interval: CLUSTER_SCRAPE_INTERVAL,
        static_configs: staticConfigs('cluster', this.opts.clusters),
      },
    ];
    if (this.apps.length)
      scrapeConfigs.push({ job_name: 'apps', metrics_path: '/metrics', static_configs: staticConfigs('app', this.apps) });
    fs.writeFileSync(
      this.configFile,
      stringify({ global: { scrape_interval: '1s', evaluation_interval: '1s' }, scrape_configs: scrapeConfigs }),
    );
  }

  async start(): Promise<void> {
    const bin = await resolvePrometheusTool('prometheus', { onProgress: this.opts.onProgress });
    fs.mkdirSync(this.opts.runDir, { recursive: true });
    this.port ??= this.opts.port ?? (await freePort());
    this.writeConfig();
    const proc = spawnLogged(
      bin,
      [
        `--config.file=${this.configFile}`,
        `--storage.tsdb.path=${path.join(this.opts.runDir, 'prometheus-data')}`,
        `--web.listen-address=127.0.0.1:${this.port}`,
        '--web.enable-lifecycle',
        '--log.level=warn',
      ],
      { logFile: this.logFile, detached: this.opts.detached },
    );
    this.proc = proc;
    let exited = false;
    void proc.exited.then(() => (exited = true));
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      if (exited) throw new PrometheusUnavailableError(`prometheus exited during start-up:\n${tail(this.logFile)}`);
      try {
        if ((await fetch(`${this.url}/-/ready`)).ok) {
          this.hasUi = (await fetch(`${this.url}/graph`).catch(() => undefined))?.ok ?? false;
          return;
        }
      } catch {
        /* not listening yet */
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    killGroup(proc.pid, 'SIGKILL');
    throw new PrometheusUnavailableError(`prometheus not ready after 30 s:\n${tail(this.logFile)}`);
  }

  /** Adds an application target (e.g. a worker's metrics endpoint) and reloads the configuration. */
  async addScrapeTarget(target: ScrapeTarget): Promise<void> {
    if (this.apps.some((t) => t.address === target.address)) return;
    this.apps.push(target);
    this.writeConfig();
    const r = await fetch(`${this.url}/-/reload`, { method: 'POST' });
    if (!r.ok) throw new PrometheusUnavailableError(`prometheus refused the reload (${r.status}): ${await r.text()}`);
  }

  async stop(): Promise<void> {
    await stopProcess(this.proc, 5000);
  }
}
