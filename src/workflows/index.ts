// Every function exported here is a startable workflow type: nothing else goes here.
export { namespaceMigration } from './namespace-migration';
export { tenantMigration } from './tenant-migration';
export { cutoverProbe } from './probe';
export { campaign } from './campaign';
