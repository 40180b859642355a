// Test-only workflows for the stack tests.
export async function trivial(name: string): Promise<string> {
  return `hello ${name}`;
}
