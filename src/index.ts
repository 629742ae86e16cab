/**
 * flexd's public surface: the embedding API (SPEC §7, docs/embedding.md). Everything else is
 * internal. The types come from public.ts, which reaches no dependency's types.
 */
import { createRuntime as create } from './runtime.ts';
import type { Runtime, RuntimeOptions } from './public.ts';

/**
 * Starts a flexd runtime in this process: the same one `flexd serve` runs, quiet unless given
 * a logger (`logger`, or `log: 'stderr'`).
 *
 * @example
 * const rt = await createRuntime({ dataDir: tmp, port: 0 });
 * await rt.deployDirectory('./my-service', { service: 'orders', environment: 'Development', secret: 's3cret' });
 * await fetch(`${rt.url}/flex/orders/Development/healthcheck`);
 * await rt.close();
 */
export const createRuntime: (options?: RuntimeOptions) => Promise<Runtime> = create;
export type {
  DeployDirectoryOptions, DeployJob, EnvironmentStatus, FlexdErrorShape, LogFormat, Logger, LogLine, LogsQuery, ReplicaStatus, Runtime,
  RuntimeOptions, SetVariablesOptions, Target, VersionInfo, Watcher, WatchOptions, WatchOutcome,
} from './public.ts';
/** Every error the runtime's calls reject with: `err instanceof FlexdError`, then branch on `err.code` (docs/errors.md). */
export { FlexdError } from './errors.ts';
export { DEFAULTS } from './config.ts';
export type { Settings } from './config.ts';
