/**
 * The benchmarks page, docs/benchmarks.md: each run replaces its own section (the command, the machine,
 * the date and the figures), so the page shows the current results; earlier runs stay in git.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cliVersion, resolveTemporalCli } from '../../src/stack/temporal-cli';
import { machineInfo } from './stats';

/** The page, relative to the repository's root. */
export const BENCHMARKS_DOC = path.join('docs', 'benchmarks.md');

const PAGE_HEAD = '# Benchmarks\n\nEach `npm run bench:<name>` replaces its own section below; figures are measured, never copied.\n';

/** The comments that delimit the section a run owns; `key` names the run's results file (`campaign-10000x300`). */
export function sectionMarkers(key: string): { begin: string; end: string } {
  if (!/^[a-z][a-z0-9-]*$/.test(key)) throw new Error(`benchmark section key "${key}": use lower-case letters, digits and "-"`);
  return { begin: `<!-- bench:${key} begin -->`, end: `<!-- bench:${key} end -->` };
}

/**
 * `doc` with the section of `key` replaced by `body`. A key not on the page yet goes after the last
 * section of its benchmark (the part of the key before the first "-"), else at the end under a heading.
 * Everything outside the markers (the hand-written explanations) is kept as it is.
 */
export function replaceBenchmarkSection(doc: string, key: string, body: string): string {
  const { begin, end } = sectionMarkers(key);
  const block = `${begin}\n\n${body.trim()}\n\n${end}`;
  const from = doc.indexOf(begin);
  const to = from < 0 ? -1 : doc.indexOf(end, from);
  if (from >= 0 && to < 0) throw new Error(`docs/benchmarks.md: "${begin}" has no "${end}"; restore the end marker`);
  if (from >= 0) return doc.slice(0, from) + block + doc.slice(to + end.length);
  const bench = key.split('-')[0]!;
  const ends = [...doc.matchAll(new RegExp(`<!-- bench:${bench}(-[a-z0-9-]+)? end -->`, 'g'))];
  const last = ends[ends.length - 1];
  if (last?.index !== undefined) {
    const at = last.index + last[0].length;
    return `${doc.slice(0, at)}\n\n${block}${doc.slice(at)}`;
  }
  const head = doc.trim() === '' ? PAGE_HEAD : doc.trimEnd() + '\n';
  return `${head}\n## ${bench[0]!.toUpperCase()}${bench.slice(1)}\n\n${block}\n`;
}

/** Replaces the section of `key` in docs/benchmarks.md (creating the page when absent); returns the file's path. */
export function writeBenchmarkDoc(root: string, key: string, body: string): string {
  const file = path.join(root, BENCHMARKS_DOC);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const doc = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  fs.writeFileSync(file, replaceBenchmarkSection(doc, key, body));
  return file;
}

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
    `Node ${m.node}, Temporal SDK ${m.temporalSdk}, temporal CLI ${cli} (dev servers of the local stack), ` +
    `ioredis ${m.ioredis}, Redis ${m.redis} · ` +
    `load average at the end: ${m.loadavg}`
  );
}
