/**
 * The local stack's codec server: `cutover codec-server --plan <plan> --origin <each UI>` as a child
 * process, so it outlives `cutover dev up` like the clusters do and `dev down` stops it by PID.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CodecServerConfig } from '../config/types';
import { checkListen } from '../security/codec-server';
import { PROJECT_ROOT } from './paths';
import { spawnLogged, stopProcess, tail, type SpawnedProcess } from './processes';

/** The line the command prints once it listens (after its description of what it enforces). */
const READY_LINE = 'UI codec endpoint: ';

/**
 * The URL a browser and the UI reach the codec server at: its `listen` address, with a wildcard
 * address (`0.0.0.0`, `::`) replaced by loopback, since a browser cannot call a wildcard.
 */
export function codecEndpointOf(settings: Pick<CodecServerConfig, 'listen'>): string {
  const { host, port } = checkListen(settings.listen);
  const shown = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '[::1]' : host.includes(':') ? `[${host}]` : host;
  return `http://${shown}:${port}`;
}

/**
 * Starts `cutover codec-server` on the plan's settings with `origins` added, and resolves once it
 * listens. The child inherits this environment: the codec keys and the token come from it.
 */
export async function startCodecServerProcess(opts: {
  planPath: string;
  origins: string[];
  /** `--listen`, in place of the plan's `codec.server.listen`. */
  listen?: string;
  logFile: string;
  detached: boolean;
  /** The child's environment, where its keys and token come from (default this process's). */
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}): Promise<SpawnedProcess & { url: string }> {
  const cli = path.join(PROJECT_ROOT, 'bin', 'cutover.js');
  const args = [cli, 'codec-server', '--plan', path.resolve(opts.planPath), ...opts.origins.flatMap((o) => ['--origin', o])];
  if (opts.listen !== undefined) args.push('--listen', opts.listen);
  fs.writeFileSync(opts.logFile, '');
  const spawned = spawnLogged(process.execPath, args, {
    logFile: opts.logFile,
    cwd: PROJECT_ROOT,
    env: opts.env ?? process.env,
    detached: opts.detached,
  });
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  for (let wait = 50; ; wait = Math.min(wait * 2, 500)) {
    const { child } = spawned;
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`the codec server exited (${child.signalCode ?? `code ${child.exitCode}`}) during start-up:\n${tail(opts.logFile)}`);
    }
    const line = fs
      .readFileSync(opts.logFile, 'utf8')
      .split('\n')
      .find((l) => l.startsWith(READY_LINE));
    if (line) return { ...spawned, url: line.slice(READY_LINE.length).trim() };
    if (Date.now() > deadline) {
      await stopProcess(spawned);
      throw new Error(`the codec server did not start in time:\n${tail(opts.logFile)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, wait));
  }
}
