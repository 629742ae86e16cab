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
 *   - when project code may run during the install (its own install scripts, a binding.gyp, a
 *     local `file:` package, workspaces: install-policy.ts `runsProjectCode`): the environment and
 *     a digest of every project file. Such a tree is never shared beyond its environment, and a
 *     changed script or a file it reads is a new tree. Without project code, what runs during
 *     the install is the registry packages' own scripts, the same for every project with the
 *     same key.
 *
 * What the SDK substitution chose follows from these and from what the registry published when
 * the tree was built; a tree keeps the substitution notes of its install and says them again.
 */
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { DEPENDENCY_SECTIONS, type Manifest } from './install-policy.ts';

/** Bumped when flexd changes how it installs, so older trees are not reused (2: two-phase install, project-scoped trees). */
const INSTALL_RECIPE = 2;

export interface TreeKeyInputs {
  /** the sanitized package.json npm installs from */
  manifest: Manifest;
  /** the package.json of each `file:` dependency */
  localPackages: Buffer[];
  lockfile: { name: string; bytes: Buffer } | null;
  /** flexd's npm settings carried into the box */
  npmrc: Buffer;
  /** the Node major the build runs on (its ABI: native addons are built for it) */
  nodeMajor: number;
  /** set when project code may run during the install: the tree is this environment's alone, for these exact project files */
  projectScope: { environmentId: string; projectDigest: string } | null;
}

/** The one place a stored tree's key is computed: every input that can change what the install leaves. */
export function dependencyKey(inputs: TreeKeyInputs): string {
  const hash = createHash('sha256');
  const sections = Object.fromEntries(DEPENDENCY_SECTIONS.filter((s) => inputs.manifest[s] !== undefined).map((s) => [s, inputs.manifest[s]]));
  hash.update(JSON.stringify({
    recipe: INSTALL_RECIPE, sections, nodeMajor: inputs.nodeMajor, platform: process.platform, arch: process.arch,
  }));
  for (const manifest of inputs.localPackages) hash.update('\0local\0').update(manifest);
  hash.update('\0lockfile\0');
  if (inputs.lockfile) hash.update(inputs.lockfile.name).update('\0').update(inputs.lockfile.bytes);
  hash.update('\0npmrc\0').update(inputs.npmrc);
  if (inputs.projectScope) {
    hash.update('\0environment\0').update(inputs.projectScope.environmentId).update('\0project\0').update(inputs.projectScope.projectDigest);
  }
  return `${inputs.projectScope ? 'env-' : 'npm-'}${hash.digest('hex')}`;
}

/**
 * A digest of every file and link of a project folder (paths, modes, bytes, link targets),
 * `leaveOut` top-level names excepted: what an install script could read of it.
 */
export function projectDigest(dir: string, leaveOut: readonly string[]): string {
  const hash = createHash('sha256');
  const walk = (folder: string, rel: string) => {
    for (const name of readdirSync(folder).sort()) {
      if (rel === '' && leaveOut.includes(name)) continue;
      const full = join(folder, name);
      const path = rel === '' ? name : `${rel}/${name}`;
      const st = lstatSync(full);
      hash.update(`\0${path}\0${st.mode.toString(8)}\0`);
      if (st.isDirectory()) walk(full, path);
      else if (st.isSymbolicLink()) hash.update(readlinkSync(full));
      else if (st.isFile()) hash.update(readFileSync(full));
    }
  };
  walk(dir, '');
  return hash.digest('hex');
}
