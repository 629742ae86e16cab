import type { BuildOptions } from 'esbuild';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadLater } from './load-later.ts';

/** Only a checkout compiles with esbuild: the installed package never loads it. */
const esbuild = loadLater<typeof import('esbuild')>('esbuild');
/** The checkout's root: esbuild's working directory, and where node_modules/.cache is. */
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CACHE_DIR = join(ROOT, 'node_modules', '.cache', 'flexd');

/** A bundle as cached: the content hash of every file esbuild read for it, and the code. */
interface CachedBundle { key: string; inputs: Record<string, string>; code: string }

/**
 * One of flexd's own entries (the replica's, the log thread's) bundled by esbuild, for flexd run
 * from a checkout; the installed package runs the bundles `npm run build` made (scripts/build.mjs).
 * The bundle is kept in node_modules/.cache/flexd with the content hash of every file that went
 * into it, and reused while none changed: every runtime started from the sources (each test
 * process, `npm start`) otherwise paid esbuild's worker thread and service process again, about
 * 0.1 s of CPU (docs/architecture.md, "Loading").
 *
 * @example
 * const code = bundleFromSource('log-thread', { entryPoints: ['src/logs/store-worker.ts'], bundle: true, format: 'esm' });
 */
export function bundleFromSource(name: string, options: BuildOptions): string {
  const file = join(CACHE_DIR, `${name}.json`);
  const key = createHash('sha256').update(JSON.stringify(options)).digest('hex');
  const cached = readCached(file);
  if (cached?.key === key && Object.entries(cached.inputs).every(([path, hash]) => hashOf(path) === hash)) return cached.code;
  const result = esbuild().buildSync({ ...options, absWorkingDir: ROOT, write: false, metafile: true });
  const code = result.outputFiles![0]!.text;
  const inputs = Object.fromEntries(Object.keys(result.metafile!.inputs).map((path) => [resolve(ROOT, path), hashOf(resolve(ROOT, path)) ?? '']));
  try {
    mkdirSync(CACHE_DIR, { recursive: true });
    const tmp = `${file}.${process.pid}`;
    // written whole, then renamed: a runtime starting beside this one never reads half a file
    writeFileSync(tmp, JSON.stringify({ key, inputs, code } satisfies CachedBundle));
    renameSync(tmp, file);
  } catch {
    // a read-only checkout: the next start bundles again
  }
  return code;
}

function readCached(file: string): CachedBundle | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as CachedBundle;
  } catch {
    return undefined;
  }
}

function hashOf(path: string): string | undefined {
  try {
    return createHash('sha256').update(readFileSync(path)).digest('hex');
  } catch {
    return undefined;
  }
}
