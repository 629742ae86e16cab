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
export type { DeployDirectoryOptions, DeployJob, LogFormat, Logger, LogLine, LogsQuery, Runtime, RuntimeOptions } from './public.ts';
export { DEFAULTS } from './config.ts';
export type { Settings } from './config.ts';
