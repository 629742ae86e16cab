/**
 * Which Node executable runs a replica. The runtimes kinvey-cli can name
 * (`flex-runtime-node6|8|10|12`) all run on the Node that runs flexd; other names map to
 * executables configured at `serve` (`--runtime name=/path/to/node`).
 */
export const KINVEY_RUNTIMES = ['flex-runtime-node6', 'flex-runtime-node8', 'flex-runtime-node10', 'flex-runtime-node12'] as const;

export function nodeForRuntime(runtime: string | null, configured: Record<string, string> = {}): string {
  if (runtime && configured[runtime]) return configured[runtime];
  return process.execPath;
}

export function isKnownRuntime(runtime: string, configured: Record<string, string> = {}): boolean {
  return (KINVEY_RUNTIMES as readonly string[]).includes(runtime) || runtime in configured;
}
