/**
 * What one replica of a version leaves for the next one of the same version, so a cold start
 * spends less CPU on loading the service's modules (docs/architecture.md, "Cold start"):
 *
 * - **Resolutions**: Node's own `Module._pathCache` (request + lookup paths → file), as the
 *   first replica filled it. A version's files never change, so the next replica's lookups are
 *   answered without the stat and package.json reads. An entry that does not apply (another
 *   folder) is simply never asked for.
 * - **V8 code cache** of the CommonJS modules it compiled: Node 22.1+ keeps one itself
 *   (`module.enableCompileCache`); on Node 20 a module is compiled with `vm.compileFunction`,
 *   the same wrapper parameters Node uses, and its `cachedData`. Line and column numbers,
 *   `require` (Node's own, made for the module), `module`, `require.cache` and errors stay as
 *   Node gives them; only the one `Module._compile` frame of a stack taken while a module loads
 *   names flexd's child instead of `node:internal`. The main module, ES modules and anything
 *   `vm.compileFunction` refuses (ESM syntax in a .js file, a syntax error) go through Node's own
 *   `_compile` unchanged, and so does a module with a dynamic `import(…)` in its text (Node's own
 *   compile wires its resolution; vm's would need an experimental constant that prints a warning).
 *   V8 refuses a cache made by another V8 or for a source of another length.
 *
 * The folder is the environment's own, one per version (supervisor/sandbox.ts), writable by its
 * replicas only: what one replica writes there only its own version's replicas read.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import Module from 'node:module';
import { dirname, join } from 'node:path';
import vm from 'node:vm';

interface ModuleInternals {
  _pathCache: Record<string, string>;
  enableCompileCache?: (dir: string) => unknown;
  flushCompileCache?: () => void;
  prototype: { _compile(this: CompiledModule, content: string, filename: string, format?: string): unknown };
}

interface CompiledModule {
  exports: unknown;
  /** `'.'` for the main module (Module._load with isMain). */
  id?: string;
}

const PATHS_FILE = 'paths.json';
/** Node's wrapper parameters for a CommonJS module. */
const WRAPPER_PARAMS = ['exports', 'require', 'module', '__filename', '__dirname'];

export interface StartCache {
  /** Writes what this replica learnt that the folder did not hold yet. Never throws. */
  save(): void;
}

/**
 * Reads the version's start cache from `dir` and records what is missing from it. Call before
 * the service loads; call `save` once the service is ready and idle. Paths are kept relative to
 * `projectDir` (and its parent folder), so a replica whose project folder is a private copy at
 * its own path uses what another one left.
 */
export function openStartCache(dir: string, projectDir: string): StartCache {
  const internals = Module as unknown as ModuleInternals;
  const portable = portablePaths(projectDir);
  // V8 refuses another V8's cache anyway; a folder per Node version keeps both valid.
  const root = join(dir, process.version);
  const knownPaths = readPaths(join(root, PATHS_FILE));
  for (const [key, file] of Object.entries(knownPaths)) internals._pathCache[portable.toLocal(key)] = portable.toLocal(file);
  const code = typeof internals.enableCompileCache === 'function'
    ? nodeCompileCache(internals, join(root, 'v8'))
    : codeCacheHook(internals, join(root, 'code'), portable.toPortable);
  return {
    save() {
      try {
        mkdirSync(root, { recursive: true });
        code.save();
        // Last: the resolutions file is there once the whole cache is.
        const paths = Object.fromEntries(Object.entries(internals._pathCache).map(([key, file]) => [portable.toPortable(key), portable.toPortable(file)]));
        if (Object.keys(paths).some((key) => knownPaths[key] !== paths[key])) writeAtomically(join(root, PATHS_FILE), JSON.stringify(paths));
      } catch { /* a cache is an optimisation: a full disk or a read-only folder only costs the next start time */ }
    },
  };
}

/** Markers for the project folder and its parent in what the cache stores (never in a real path). */
const PROJECT = '\u0001project\u0001';
const PROJECT_PARENT = '\u0001parent\u0001';

/**
 * Turns the `\0`-separated paths of a `_pathCache` key or value into ones relative to the
 * project folder and back. Only whole path segments are replaced.
 */
function portablePaths(projectDir: string): { toPortable(text: string): string; toLocal(text: string): string } {
  const parent = dirname(projectDir);
  const anchors: [string, string][] = [[projectDir, PROJECT]];
  if (parent !== projectDir && parent !== '/') anchors.push([parent, PROJECT_PARENT]);
  const map = (text: string, from: 0 | 1) => text.split('\0').map((part) => {
    for (const anchor of anchors) {
      const [was, becomes] = from === 0 ? anchor : [anchor[1], anchor[0]];
      if (part === was || part.startsWith(`${was}/`)) return becomes + part.slice(was.length);
    }
    return part;
  }).join('\0');
  return { toPortable: (text) => map(text, 0), toLocal: (text) => map(text, 1) };
}

function readPaths(file: string): Record<string, string> {
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return {};
    return Object.fromEntries(Object.entries(parsed).filter((entry): entry is [string, string] => typeof entry[1] === 'string'));
  } catch {
    return {};
  }
}

/** Node 22.1+: Node's own compile cache (CommonJS and ES modules). */
function nodeCompileCache(internals: ModuleInternals, dir: string): { save(): void } {
  try {
    internals.enableCompileCache!(dir);
  } catch { /* left without one */ }
  return { save: () => internals.flushCompileCache?.() };
}

/**
 * Node 20: compiles non-main CommonJS modules with a V8 code cache kept in `dir`, one file per
 * module. A module without a cache entry compiles as usual; its entry is made by `save`, off the
 * start's path (compiling it again with `produceCachedData`).
 */
function codeCacheHook(internals: ModuleInternals, dir: string, portable: (path: string) => string): { save(): void } {
  const nodeCompile = internals.prototype._compile;
  /** cache file → the source and file name to make its entry from (an empty source: remove a rejected entry). */
  const missing = new Map<string, { content: string; filename: string }>();
  internals.prototype._compile = function _compile(this: CompiledModule, content: string, filename: string, format?: string): unknown {
    // The main module (its statCache and --inspect-brk), ES modules, and modules with a dynamic
    // import() (whose resolution only Node's own compile sets up) stay Node's.
    if (format === 'module' || this.id === '.' || typeof content !== 'string' || DYNAMIC_IMPORT.test(content)) {
      return nodeCompile.call(this, content, filename, format);
    }
    const file = join(dir, `${createHash('sha1').update(`${portable(filename)}\0${content.length}`).digest('hex')}.bin`);
    let cachedData: Buffer | undefined;
    try {
      cachedData = readFileSync(file);
    } catch { /* not cached yet */ }
    let wrapper: ReturnType<typeof vm.compileFunction>;
    try {
      wrapper = vm.compileFunction(content, WRAPPER_PARAMS, { filename, cachedData });
    } catch {
      // ESM syntax to detect, or a real syntax error: Node's own path gives its own outcome.
      return nodeCompile.call(this, content, filename, format);
    }
    if (cachedData === undefined || wrapper.cachedDataRejected) missing.set(file, { content, filename });
    // Node's own `require` for this module (makeRequireFunction is internal): its _compile returns the wrapper's result.
    const nodeRequire = nodeCompile.call(this, 'return require', filename);
    return Reflect.apply(wrapper, this.exports, [this.exports, nodeRequire, this, filename, dirname(filename)]);
  };
  return {
    save() {
      if (missing.size === 0) return;
      mkdirSync(dir, { recursive: true });
      for (const [file, { content, filename }] of missing) {
        try {
          const compiled = vm.compileFunction(content, WRAPPER_PARAMS, { filename, produceCachedData: true });
          if (compiled.cachedData) writeAtomically(file, compiled.cachedData);
          else rmSync(file, { force: true });
        } catch {
          rmSync(file, { force: true });
        }
      }
      missing.clear();
    },
  };
}

/** Anything that may be a dynamic `import(…)` (a false match only costs that module its cache). */
const DYNAMIC_IMPORT = /\bimport\s*\(/;

function writeAtomically(file: string, data: string | Buffer): void {
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, data);
  renameSync(temporary, file);
}
