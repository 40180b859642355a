/** `tenantMigration`: the entity workflow of one tenant inside a namespace (ID `cutover/tenant/<ns>/<tenant>`). */
import type { MigrationState, UnitMigrationInput, UnitStatus } from '../domain/migration';
import { runUnitMigration } from './unit-migration';

/** Moves one tenant; `carried` is set by continue-as-new only. */
export async function tenantMigration(input: UnitMigrationInput, carried?: MigrationState): Promise<UnitStatus> {
  return runUnitMigration('tenant', input, carried);
}
