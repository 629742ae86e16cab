import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative, resolve as resolvePath, sep } from 'node:path';

/** The folder of the package (under node_modules) that `file` belongs to, if any. */
export function packageRoot(file: string): string | undefined {
  const parts = file.split(sep);
  const i = parts.lastIndexOf('node_modules');
  if (i < 0) return undefined;
  const scoped = parts[i + 1]?.startsWith('@');
  return parts.slice(0, i + (scoped ? 3 : 2)).join(sep);
}

/** The `version` in a package folder's package.json, if it has one. */
export function packageVersion(root: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version?: string }).version;
  } catch {
    return undefined;
  }
}

/** The package `name` as Node would resolve it from `fromDir` (its node_modules or an ancestor's). */
export function installedPackage(fromDir: string, name: string): { root: string; version: string | undefined } | undefined {
  try {
    const root = packageRoot(createRequire(join(fromDir, 'package.json')).resolve(`${name}/package.json`));
    return root ? { root, version: packageVersion(root) } : undefined;
  } catch {
    return undefined;
  }
}

/** `lodash` or `@scope/name` from a package folder. */
export function packageName(root: string): string {
  const parts = root.split(sep);
  return parts[parts.length - 2]?.startsWith('@') ? `${parts[parts.length - 2]}/${parts[parts.length - 1]}` : parts[parts.length - 1];
}

/** `require(` with anything but a string literal: a path computed at run time. */
const COMPUTED_REQUIRE = /(?<![.\w$])require\s*\(\s*(?!['"`)])/;

/**
 * Package folders (under node_modules) with a require whose path is computed at run time.
 * esbuild does not report these inside node_modules, so the bundled sources are read for them;
 * a false positive only ships a package as files, which still works.
 */
export function packagesWithComputedRequires(projectDir: string, inputs: string[]): Set<string> {
  const roots = new Set<string>();
  for (const input of inputs) {
    const file = resolvePath(projectDir, input);
    const root = packageRoot(file);
    if (!root || roots.has(root) || !/\.c?js$/.test(file)) continue;
    try {
      if (COMPUTED_REQUIRE.test(stripComments(readFileSync(file, 'utf8')))) roots.add(root);
    } catch { /* unreadable input: esbuild read it, so this does not happen */ }
  }
  return roots;
}

function stripComments(source: string): string {
  return source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"\\])\/\/.*$/gm, '$1');
}

/** Adds `root` and, recursively, the packages its dependencies resolve to. */
export function withDependencies(root: string, into: Set<string>): void {
  if (into.has(root)) return;
  into.add(root);
  let deps: Record<string, string> = {};
  try {
    deps = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> }).dependencies ?? {};
  } catch { /* no manifest: nothing more to ship */ }
  for (const name of Object.keys(deps)) {
    // Optional or missing: the package copes, as it would unbundled.
    const dep = installedPackage(root, name);
    if (dep) withDependencies(dep.root, into);
  }
}

/** A package among `roots` whose folder holds a binding.gyp or a compiled `.node` file (loaded through `bindings`, say). */
export function findNativeAddon(projectDir: string, roots: Iterable<string>): string | undefined {
  for (const root of roots) {
    if (existsSync(join(root, 'binding.gyp')) || hasNodeFile(join(root, 'build')) || hasNodeFile(join(root, 'prebuilds'))) {
      return relative(projectDir, root).split(sep).filter((p) => p !== 'node_modules').join('/');
    }
  }
  return undefined;
}

function hasNodeFile(dir: string, depth = 3): boolean {
  if (depth === 0 || !existsSync(dir)) return false;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isFile() && e.name.endsWith('.node')) return true;
    if (e.isDirectory() && hasNodeFile(join(dir, e.name), depth - 1)) return true;
  }
  return false;
}
