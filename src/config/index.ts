/** The plan file: schema, loading, validation (docs/design.md, "Plan file"). */
export * from './types';
export * from './defaults';
export { DURATION_FORMS, formatDuration, parseDuration } from './duration';
export { FILE_PATH, formatIssues, formatPath, PlanError, ROOT_PATH } from './issues';
export { loadPlan, parsePlan, resolvePlanPaths, validatePlanFile, validatePlanText } from './load';
export { gateKind, namespaceOfUnit, planUnits, ringOfUnit } from './units';
export { validatePlan } from './validate';
export { planWarnings } from './warnings';
