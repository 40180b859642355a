// `cutover/workflow`: what an application's workflow code imports (sandbox-safe).
export { handoffable, type Handoff, HANDED_OFF_MEMO, HANDOFF_QUERY, HANDOFF_SIGNAL, type HandoffQueryAnswer } from './workflow';
