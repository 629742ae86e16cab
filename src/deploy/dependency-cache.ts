/**
 * The key an installed dependency tree is stored and found by: everything that decides what
 * `npm install --omit=dev` puts in node_modules, and nothing else. A new version of a service
 * whose key is unchanged reuses the stored tree and skips npm (build.ts).
 *
 *   - the dependency sections of the sanitized package.json (install-policy.ts), SDK as declared
 *   - the lockfile's name and bytes, when the project has one
 *   - the package.json of each `file:` dependency (its own dependencies are installed too)
 *   - the Node major the build runs on (its ABI: native addons are built for it), platform and
 *     architecture; a newer patch of the same major reuses the tree
 *   - flexd's npm settings carried into the box (the registry)
 *
 * What the SDK substitution chose follows from these and from what the registry published when
 * the tree was built; a tree keeps the substitution notes of its install and says them again.
 */
import { createHash } from 'node:crypto';
import { DEPENDENCY_SECTIONS, type Manifest } from './install-policy.ts';

/** Bumped when flexd changes how it installs, so older trees are not reused. */
const INSTALL_RECIPE = 1;

export function dependencyKey(inputs: { manifest: Manifest; localPackages: Buffer[]; lockfile: { name: string; bytes: Buffer } | null; npmrc: Buffer; nodeMajor: number }): string {
  const hash = createHash('sha256');
  const sections = Object.fromEntries(DEPENDENCY_SECTIONS.filter((s) => inputs.manifest[s] !== undefined).map((s) => [s, inputs.manifest[s]]));
  hash.update(JSON.stringify({
    recipe: INSTALL_RECIPE, sections, nodeMajor: inputs.nodeMajor, platform: process.platform, arch: process.arch,
  }));
  for (const manifest of inputs.localPackages) hash.update('\0local\0').update(manifest);
  hash.update('\0lockfile\0');
  if (inputs.lockfile) hash.update(inputs.lockfile.name).update('\0').update(inputs.lockfile.bytes);
  hash.update('\0npmrc\0').update(inputs.npmrc);
  return `npm-${hash.digest('hex')}`;
}
