import { createRequire } from 'node:module';

const requireFromHere = createRequire(import.meta.url);

/**
 * A CommonJS dependency loaded at its first use instead of when the module that names it is
 * imported: `flexd serve`, `import('flexd')` and the compiled CLI pay for a library only once
 * they use it (docs/architecture.md, "Loading"). Synchronous, for code that cannot await; async
 * code uses `await import()` where it needs the library. A missing package throws Node's own
 * `Cannot find module '<name>'` at that use.
 *
 * @example
 * const esbuild = loadLater<typeof import('esbuild')>('esbuild');
 * esbuild().buildSync({ entryPoints: [file], write: false });
 */
export function loadLater<T>(name: string): () => T {
  let loaded: T | undefined;
  return () => (loaded ??= requireFromHere(name) as T);
}
