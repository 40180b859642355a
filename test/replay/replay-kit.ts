/** Shared by the replay tests: the stored histories of a folder, and their replay on the current workflow code. */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from '@temporalio/worker';
import { CONTROL_BUNDLE_OPTIONS } from '../../src/worker-options';

/** The `.json` histories of `dir`, sorted. */
export function historyFiles(dir: string): string[] {
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort();
}

/** One stored history, parsed. */
export function loadHistory<T = unknown>(dir: string, file: string): T {
  return JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as T;
}

/** Replays every history of `files` with the control worker's bundle; fails naming each that does not replay. */
export async function assertReplays(dir: string, files: string[]): Promise<void> {
  const histories = files.map((f) => ({ workflowId: f.replace(/\.json$/, ''), history: loadHistory(dir, f) }));
  const results: { id: string; error?: unknown }[] = [];
  for await (const r of Worker.runReplayHistories(
    {
      workflowsPath: CONTROL_BUNDLE_OPTIONS.workflowsPath,
      interceptors: { workflowModules: CONTROL_BUNDLE_OPTIONS.workflowInterceptorModules },
    },
    histories,
  )) {
    results.push({ id: r.workflowId, error: r.error });
  }
  assert.equal(results.length, files.length);
  for (const r of results) assert.equal(r.error, undefined, `${r.id}: ${String(r.error)}`);
}
