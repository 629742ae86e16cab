/**
 * A deployDirectory of a folder whose dependencies already resolve (its own node_modules, or an
 * ancestor's, as for a project inside a monorepo) skips npm: the artifact gets the packages those
 * requires resolve to now, gathered into one node_modules. Each package folder is packed whole
 * (its nested node_modules, built addons and data files with it); a package it resolves from
 * higher up is placed at the top, where the artifact's copy finds it by the same lookup.
 */
import { readFileSync } from 'node:fs';
import { join, sep } from 'node:path';
import semver from 'semver';
import { installedPackage } from './packages.ts';

/** name → package folder, for the dependency closure of `dependencies` as Node resolves it from `dir`. */
export function resolvedClosure(dir: string, dependencies: Record<string, string>): { packages: Map<string, string>; conflicts: string[] } {
  const packages = new Map<string, string>();
  const conflicts: string[] = [];
  const visited = new Set<string>();
  const insideCopied = (root: string) => [...packages.values()].some((top) => root.startsWith(top + sep));
  const visit = (fromDir: string, names: string[]) => {
    for (const name of names) {
      const found = installedPackage(fromDir, name);
      if (!found || visited.has(found.root)) continue;
      visited.add(found.root);
      if (!insideCopied(found.root)) {
        const taken = packages.get(name);
        if (taken !== undefined) {
          conflicts.push(`${name}: ${found.root} and ${taken}`);
          continue;
        }
        packages.set(name, found.root);
      }
      visit(found.root, Object.keys(manifestDependencies(found.root)));
    }
  };
  visit(dir, Object.keys(dependencies));
  return { packages, conflicts };
}

/** True when every dependency resolves from `dir` at a version its range accepts. */
export function dependenciesResolvable(dir: string, dependencies: Record<string, string>): boolean {
  return Object.entries(dependencies).every(([name, range]) => {
    const version = installedPackage(dir, name)?.version;
    return version !== undefined && semver.satisfies(version, range);
  });
}

function manifestDependencies(root: string): Record<string, string> {
  try {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies?: Record<string, string>; optionalDependencies?: Record<string, string> };
    return { ...pkg.dependencies, ...pkg.optionalDependencies };
  } catch {
    return {};
  }
}
