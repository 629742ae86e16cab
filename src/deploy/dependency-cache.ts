/**
 * The key an installed dependency tree is stored and found by: everything that decides what
 * `npm install --omit=dev` puts in node_modules, and nothing else. A new version of a service
 * whose key is unchanged reuses the stored tree and skips npm (build.ts).
 *
 *   - the dependency sections of the sanitized package.json (install-policy.ts), SDK as declared
 *   - the SDK substitution the install makes (install.ts `sdkSubstitution`: the SDK version
 *     installed instead of the declared one, a lockfile set aside), decided before the key from
 *     what the registry publishes now, and what flexd provides in place of the SDK's receiver
 *     `kinvey-code-task-runner` (RECEIVER_STANDIN): a tree built under another substitution is
 *     another tree, never shared
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
 * A tree keeps the substitution notes of its install and says them again when it is reused.
 */
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { CURRENT_RECEIVER } from '../dataplane/receiver-dialect.ts';
import type { SdkSubstitution } from './install.ts';
import { DEPENDENCY_SECTIONS, type Manifest } from './install-policy.ts';

/** Bumped when flexd changes how it installs, so older trees are not reused (2: two-phase install, project-scoped trees; 3: the SDK substitution in the key). */
const INSTALL_RECIPE = 3;

/**
 * What flexd provides in place of the receiver `kinvey-code-task-runner` that the SDK in a tree
 * loads (src/child/load-service.ts resolves it to flexd's receiver, shaped after the installed
 * version up to CURRENT_RECEIVER). Bumped when that changes: a tree is built and checked for it.
 */
export const RECEIVER_STANDIN = `flexd-receiver/1 (kinvey-code-task-runner dialects up to ${CURRENT_RECEIVER})`;

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
  /** what the install changes of the SDK (install.ts `sdkSubstitution`) */
  substitution: SdkSubstitution;
  /** set when project code may run during the install: the tree is this environment's alone, for these exact project files */
  projectScope: { environmentId: string; projectDigest: string } | null;
}

/** The one place a stored tree's key is computed: every input that can change what the install leaves. */
export function dependencyKey(inputs: TreeKeyInputs): string {
  const hash = createHash('sha256');
  const sections = Object.fromEntries(DEPENDENCY_SECTIONS.filter((s) => inputs.manifest[s] !== undefined).map((s) => [s, inputs.manifest[s]]));
  hash.update(JSON.stringify({
    recipe: INSTALL_RECIPE, sections, nodeMajor: inputs.nodeMajor, platform: process.platform, arch: process.arch,
    sdkInstalled: inputs.substitution.replacement, lockfileSetAside: inputs.substitution.lockfileSetAside !== null, receiver: RECEIVER_STANDIN,
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
 * The key of a tree gathered from a folder whose dependencies already resolve (resolved-tree.ts):
 * each package's folder and package.json time, the Node major and the receiver flexd provides.
 */
export function resolvedTreeKey(nodeMajor: number, packages: Iterable<[name: string, root: string, manifestTime: number]>): string {
  return `resolved-${createHash('sha256').update(JSON.stringify([nodeMajor, RECEIVER_STANDIN, process.platform, process.arch, ...packages])).digest('hex')}`;
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
