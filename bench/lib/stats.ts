/** Small statistics and reporting helpers shared by the benchmarks. */
import { execSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** The p-th percentile (0..100) of a sample, nearest-rank; NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] as number;
}

/** n, p50, p99 and mean of a sample. */
export function summarize(values: readonly number[]): { n: number; p50: number; p99: number; mean: number } {
  const mean = values.length === 0 ? Number.NaN : values.reduce((a, b) => a + b, 0) / values.length;
  return { n: values.length, p50: percentile(values, 50), p99: percentile(values, 99), mean };
}

/** Rounds for display and JSON (keeps 3 significant decimals). */
export function round(v: number, digits = 3): number {
  return Number.isFinite(v) ? Number(v.toFixed(digits)) : v;
}

/** The machine and versions, for the benchmark report. */
export function machineInfo(): Record<string, string> {
  const pkg = (name: string): string => {
    try {
      return (JSON.parse(fs.readFileSync(require.resolve(`${name}/package.json`), 'utf8')) as { version: string }).version;
    } catch {
      return 'unknown';
    }
  };
  let redis = 'unknown';
  try {
    redis = execSync('redis-server --version', { encoding: 'utf8' }).trim().split(' ')[2] ?? 'unknown';
  } catch {
    // not on PATH
  }
  return {
    nproc: String(os.cpus().length),
    memory: `${Math.round(os.totalmem() / 2 ** 30)} GiB`,
    cpu: os.cpus()[0]?.model ?? 'unknown',
    node: process.version,
    temporalSdk: pkg('@temporalio/client'),
    ioredis: pkg('ioredis'),
    redis,
    loadavg: os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' '),
  };
}

/** A markdown table from rows of cells. */
export function markdownTable(header: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** Writes bench/results/<name>.json (flat keys). */
export function writeResults(root: string, name: string, results: Record<string, number | string>): string {
  const file = path.join(root, 'bench', 'results', `${name}.json`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  return file;
}
