/** Test-only workflows started by schedules in the schedules integration tests. */

/** Completes at once: one run per schedule fire, so fires can be counted on each cluster. */
export async function scheduleTick(_input?: unknown): Promise<string> {
  return 'tick';
}
