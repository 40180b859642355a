/**
 * Command-line flags of the benchmarks: `--name value`, `--name=value` and bare `--flag`. A bad or
 * unknown flag ends the run with exit code 2 and a message naming the flag and the fix.
 */

/** One accepted flag: how it reads and what it means (the usage text). */
export interface FlagSpec {
  kind: 'boolean' | 'int' | 'ints';
  help: string;
  /** Smallest allowed value (int, ints). */
  min?: number;
}

export class BenchArgsError extends Error {
  override name = 'BenchArgsError';
}

export type ParsedFlags = Record<string, boolean | number | number[] | undefined>;

/** Parses `argv` against the specs; throws `BenchArgsError` naming the flag and the fix. */
export function parseFlags(argv: readonly string[], specs: Record<string, FlagSpec>, usage: string): ParsedFlags {
  const out: ParsedFlags = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) throw new BenchArgsError(`${arg}: unexpected argument; flags start with --\n${usage}`);
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const spec = specs[name];
    if (!spec) throw new BenchArgsError(`--${name}: unknown flag\n${usage}`);
    if (spec.kind === 'boolean') {
      if (eq >= 0) throw new BenchArgsError(`--${name}: takes no value; write --${name} alone`);
      out[name] = true;
      continue;
    }
    const value = eq >= 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined || value.startsWith('--'))
      throw new BenchArgsError(`--${name}: needs a value, e.g. --${name} ${spec.kind === 'ints' ? '1000,10000' : '16'}`);
    const nums = value.split(',').map((v) => Number(v.trim()));
    const min = spec.min ?? 1;
    if (nums.some((n) => !Number.isInteger(n) || n < min))
      throw new BenchArgsError(
        `--${name}: "${value}" is not ${spec.kind === 'ints' ? 'a comma-separated list of whole numbers' : 'a whole number'} ≥ ${min}`,
      );
    if (spec.kind === 'int' && nums.length !== 1) throw new BenchArgsError(`--${name}: takes one number, got "${value}"`);
    out[name] = spec.kind === 'int' ? nums[0] : nums;
  }
  return out;
}

/** Usage text from the specs. */
export function usageOf(command: string, specs: Record<string, FlagSpec>): string {
  const lines = Object.entries(specs).map(([n, s]) => `  --${n}${s.kind === 'boolean' ? '' : ' <n>'}  ${s.help}`);
  return `usage: ${command} [flags]\n${lines.join('\n')}`;
}

/** Runs a benchmark's `main`: exit 0 when done, 2 on bad flags (the message names the flag), 1 on failure. */
export function runBench(name: string, main: () => Promise<void>): void {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      if (err instanceof BenchArgsError) {
        process.stderr.write(`[${name}] ${err.message}\n`);
        process.exit(2);
      }
      process.stderr.write(`[${name}] failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
}
