/**
 * Runs a deployed project the way `node .` runs it in that folder, with one difference: the
 * module `kinvey-code-task-runner` is flexd's receiver (DESIGN.md, decision 2).
 *
 * The project is the folder npm left (its own files byte for byte, node_modules as installed,
 * native addons included), so `__dirname`, `require.resolve`, data files read beside a module,
 * JSON requires and stack traces are the ones `node .` gives. Nothing is bundled or rewritten.
 */
import Module from 'node:module';
import { RECEIVER_GLOBAL } from './protocol.ts';
import { loadInstalledTaskRunner, type InstalledTaskRunner } from './task-runner.ts';

/**
 * Versions built before flexd shipped installed trees are one bundle.cjs whose project files ask
 * this global for the artifact's folder (deploy/artifact.ts writes them a package.json).
 */
const LEGACY_ARTIFACT_DIR_GLOBAL = 'flexd.artifactDir';

/** The one request flexd answers itself; every other request resolves as Node resolves it. */
const TASK_RUNNER = 'kinvey-code-task-runner';
/** Its cache key: not a path, so it can never collide with a file of the project. */
const TASK_RUNNER_ID = 'flexd:kinvey-code-task-runner';

interface ModuleInternals {
  _resolveFilename(request: string, parent: unknown, isMain: boolean, options?: unknown): string;
  _cache: Record<string, unknown>;
  runMain(main?: string): void;
}

/**
 * Makes `require('kinvey-code-task-runner')` return the receiver published under RECEIVER_GLOBAL,
 * then runs `projectDir` as the main module (`process.argv[1]`, `require.main`, `module.parent`
 * as under `node .`; an ESM main runs through Node's ESM loader as it would there).
 * `onTaskRunner` hears which task runner the SDK would have loaded (task-runner.ts), when the
 * SDK first asks for it; its load-time side effects have run by then.
 *
 * @example
 *   globalThis[Symbol.for(RECEIVER_GLOBAL)] = receiver;
 *   loadService('/var/lib/flexd/run/artifacts/3f2a…');   // last statement of the child's main
 */
export function loadService(projectDir: string, onTaskRunner: (installed: InstalledTaskRunner | null) => void = () => {}): void {
  const internals = Module as unknown as ModuleInternals;
  const resolve = internals._resolveFilename;
  internals._resolveFilename = function resolveFilename(request, parent, isMain, options) {
    if (request !== TASK_RUNNER) return resolve.call(this, request, parent, isMain, options);
    if (!internals._cache[TASK_RUNNER_ID]) {
      onTaskRunner(loadInstalledTaskRunner(resolve, parent));
      // What the real module does when it loads.
      process.env.NODE_ENV = process.env.NODE_ENV || 'development';
      const receiver = new Module(TASK_RUNNER_ID);
      receiver.exports = (globalThis as Record<symbol, unknown>)[Symbol.for(RECEIVER_GLOBAL)];
      receiver.loaded = true;
      internals._cache[TASK_RUNNER_ID] = receiver;
    }
    return TASK_RUNNER_ID;
  };
  (globalThis as Record<symbol, unknown>)[Symbol.for(LEGACY_ARTIFACT_DIR_GLOBAL)] = projectDir;
  // `node .` gives the main module argv [node, <absolute folder>]; flexd's own arguments are not the service's.
  process.argv.splice(1, process.argv.length - 1, projectDir);
  internals.runMain(projectDir);
}
