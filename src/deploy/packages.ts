import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** The `version` in a package folder's package.json, if it has one. */
function packageVersion(root: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version?: string }).version;
  } catch {
    return undefined;
  }
}

/**
 * The package `name` as Node's require would find it from `fromDir`: the first
 * `node_modules/<name>` holding a package.json, walking up the ancestors (not through a package's
 * `exports`, which may not expose package.json). The root is the real path, links resolved.
 */
export function installedPackage(fromDir: string, name: string): { root: string; version: string | undefined } | undefined {
  for (let dir = fromDir; ; dir = dirname(dir)) {
    if (basename(dir) !== 'node_modules') {
      const candidate = join(dir, 'node_modules', name);
      if (existsSync(join(candidate, 'package.json'))) {
        const root = realpathSync(candidate);
        return { root, version: packageVersion(root) };
      }
    }
    if (dirname(dir) === dir) return undefined;
  }
}
