/** `namespaceMigration`: the entity workflow of a whole namespace (ID `cutover/namespace/<ns>`). */
import type { MigrationState, UnitMigrationInput, UnitStatus } from '../domain/migration';
import { runUnitMigration } from './unit-migration';

/** Moves one namespace; `carried` is set by continue-as-new only. */
export async function namespaceMigration(input: UnitMigrationInput, carried?: MigrationState): Promise<UnitStatus> {
  return runUnitMigration('namespace', input, carried);
}
