/**
 * The `kinvey-code-task-runner` the service's own SDK would have loaded under `node .`: flexd
 * answers in its stead (receiver.ts), but in the shape of that version (flexd's data plane reads
 * the version from the replica's ready message, src/dataplane/receiver-dialect.ts), and with the
 * side effects that version has when it loads.
 *
 * The one such side effect that differs between versions: up to 2.2.x the package's entry runs
 * `require('coffee-script/register')`, which replaces `Error.prepareStackTrace` (stack lines read
 * `  at f (file:1:2)` and end in a newline), `Module.prototype.load` and `child_process.fork` for
 * the whole process. A service on kinvey-flex-sdk 1.x or 2.0–2.1 has them under `node .`, so it
 * gets them here, from the copy of coffee-script installed in its own tree.
 */
import { readFileSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** What the installed task runner is, as far as flexd's answers depend on it. */
export interface InstalledTaskRunner {
  /** Its package.json `version`, e.g. `'2.1.0'`. */
  version: string;
}

const NAME = 'kinvey-code-task-runner';
/** How the entries of 1.x–2.2.x start; 2.3.0 dropped CoffeeScript. */
const REGISTERS_COFFEE = /require\(\s*['"]coffee-script\/register['"]\s*\)/;

type Resolve = (request: string, parent: unknown, isMain: boolean) => string;

/**
 * Finds the task runner `parent` (the SDK's module that requires it) would load, and runs the
 * side effects its entry has. Returns null when there is none (a broken tree: `node .` would
 * stop at "Cannot find module"; flexd answers in the current shape instead).
 *
 * @param resolve Node's own `Module._resolveFilename`, before flexd's hook
 */
export function loadInstalledTaskRunner(resolve: Resolve, parent: unknown): InstalledTaskRunner | null {
  let manifestPath: string;
  let manifest: { version?: unknown; main?: unknown };
  try {
    manifestPath = resolve.call(Module, `${NAME}/package.json`, parent, false);
    manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as typeof manifest;
  } catch {
    return null;
  }
  const version = typeof manifest.version === 'string' ? manifest.version.slice(0, 64) : '';
  if (entryRegistersCoffee(dirname(manifestPath), manifest.main)) {
    // Resolved from the task runner's own folder, as its entry would; an error is the one `node .` meets.
    createRequire(manifestPath)('coffee-script/register');
  }
  return version ? { version } : null;
}

function entryRegistersCoffee(packageDir: string, main: unknown): boolean {
  const entry = join(packageDir, typeof main === 'string' && main !== '' ? main : 'index.js');
  for (const file of [entry, `${entry}.js`]) {
    try {
      return REGISTERS_COFFEE.test(readFileSync(file, 'utf8'));
    } catch { /* try the next spelling */ }
  }
  return false;
}
