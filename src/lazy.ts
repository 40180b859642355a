/**
 * Loads a module when a command needs it rather than when the CLI starts. `require`, not `import()`:
 * under tsx an `import()` is an ES-module import, which does not resolve extensionless TypeScript
 * sources. The caller passes its own `require` so the path is resolved from the caller's file.
 */
export function lazy<T>(req: NodeJS.Require, id: string): T {
  return req(id) as T;
}
