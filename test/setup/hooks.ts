// Root hooks: replaced by the stack harness (in progress).
export const mochaHooks = {};
