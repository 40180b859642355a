/**
 * Where commands other than `validate` and `start` find the plan (docs/design.md, "CLI"): `--plan`, else
 * `$CUTOVER_PLAN`, else `./cutover.yaml`, else the plan of the stack `cutover dev up` started here.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readDevState } from '../stack/dev';

export class PlanNotFoundError extends Error {
  override name = 'PlanNotFoundError';
}

export function resolvePlanPath(flag: string | undefined, cwd = process.cwd()): string {
  if (flag) return flag;
  if (process.env.CUTOVER_PLAN) return process.env.CUTOVER_PLAN;
  const local = path.join(cwd, 'cutover.yaml');
  if (fs.existsSync(local)) return local;
  const state = readDevState(cwd);
  if (state && fs.existsSync(state.planPath)) return state.planPath;
  throw new PlanNotFoundError(
    'no plan given: pass --plan <file>, set CUTOVER_PLAN, put a cutover.yaml here, or run `cutover dev up` first',
  );
}
