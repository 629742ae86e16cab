/** flexd's public surface: the embedding API (SPEC §7). Everything else is internal. */
export { createRuntime } from './runtime.ts';
export type { Runtime, RuntimeOptions, DeployDirectoryOptions } from './runtime.ts';
export { DEFAULTS } from './config.ts';
export type { Settings } from './config.ts';
