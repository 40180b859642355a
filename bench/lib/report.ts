/**
 * The header every benchmark section starts with: the exact command, the machine and the versions
 * (machineInfo from stats.ts plus the temporal CLI that runs the dev servers).
 */
import { cliVersion, resolveTemporalCli } from '../../src/stack/temporal-cli';
import { machineInfo } from './stats';

/** `temporal --version` of the CLI the local stack runs (e.g. `1.5.1`). */
export async function temporalCliVersion(): Promise<string> {
  try {
    return cliVersion(await resolveTemporalCli()) ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** `Command: … · machine: … · versions …` for a section of docs/benchmarks.md. */
export async function headerLine(command: string): Promise<string> {
  const m = machineInfo();
  const cli = await temporalCliVersion();
  return (
    `Command: \`${command}\` · machine: ${m.nproc} cores (${m.cpu}), ${m.memory} · ` +
    `Node ${m.node}, Temporal SDK ${m.temporalSdk}, temporal CLI ${cli} (dev servers of the local stack), ioredis ${m.ioredis}, Redis ${m.redis} · ` +
    `load average at the end: ${m.loadavg}`
  );
}
