/**
 * One build: from a project folder (an unpacked upload, or a copy of a deployDirectory folder)
 * to the two parts of an artifact (artifact.ts): the project's own files, and its installed
 * node_modules, stored once per dependency-cache key.
 *
 *   project/   the project as uploaded; flexd's, never written by the build
 *   install/   a copy of the project with the sanitized package.json (install-policy.ts), no
 *              .npmrc; npm installs here in two phases (box.ts): fetched and laid out with
 *              scripts off as the fetch account, then handed to this build's own uid, which
 *              runs the lifecycle scripts and packs
 *   tmp/       the fetch account's TMPDIR;  home/, npm-cache/, script-tmp/: the build uid's
 *
 * The project part is packed from install/ (what npm and the project's own install scripts left)
 * with package.json, the lockfiles and .npmrc taken from project/, so the service sees its own
 * bytes; with unchanged dependencies npm does not run and the part is packed from project/.
 */
import { createHash } from 'node:crypto';
import { cpSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, sep } from 'node:path';
import type { Settings } from '../config.ts';
import type { NodeRuntime } from '../runtimes/catalog.ts';
import type { Store } from '../store/index.ts';
import { holdsNativeAddon, NOT_PROJECT_FILES, packTree, scanPacked, type Packed } from './artifact.ts';
import type { Account } from '../isolation/accounts.ts';
import { assertHeld, boxEnvironment, boxFolder, endBuild, lchownTree, nextBuildIdentity, scriptEnvironment, type BuildBox } from './box.ts';
import { dependencyKey, projectDigest, resolvedTreeKey } from './dependency-cache.ts';
import { installDependencies, lockedVersion, publishedSdk, runInstallScripts, sdkSubstitution } from './install.ts';
import { hasRootInstallScripts, localPackageSpecs, projectCodeInInstall, sanitizeManifest, SDK, type Manifest } from './install-policy.ts';
import { dependenciesResolvable, resolvedClosure } from './resolved-tree.ts';

const LOCKFILES = ['npm-shrinkwrap.json', 'package-lock.json'];
/** How many entries the packer refused are listed in the job's progress. */
const SKIPPED_SHOWN = 5;

export interface BuildRequest {
  /** the project as uploaded (readable by the build account) */
  projectDir: string;
  /** this build's folder, inside box.buildsDir; removed by the caller */
  buildDir: string;
  /** a deployDirectory's own folder: its dependencies may already resolve from there (or an ancestor) */
  resolveFrom?: string;
  box: BuildBox;
  /** the environment the build is for: a tree built with the project's own code is its alone */
  environmentId: string;
  store: Store;
  settings: Settings;
  /** the Node npm and install scripts run on: the environment's runtime (native addons are built for its ABI) */
  node: NodeRuntime;
  progress: (line: string) => void;
  /**
   * aborted once the job is no longer this node's (a clean stop gave it up, or another node
   * retook it): npm is stopped at once and the build rejects with the signal's reason
   */
  signal?: AbortSignal;
}

export interface Built {
  project: Buffer;
  dependenciesKey: string | null;
  size: number;
  /** identifies the artifact: the project part and the dependency tree */
  hash: string;
  sdkVersion: string | null;
  /** a compiled addon is in the artifact (its replicas may load addons) */
  nativeAddons: boolean;
}

export async function buildProject(req: BuildRequest): Promise<Built> {
  const { box, store, progress, signal } = req;
  signal?.throwIfAborted(); // given up while it waited for the build before it
  const original = JSON.parse(readFileSync(join(req.projectDir, 'package.json'), 'utf8')) as Manifest;
  const { manifest, notes } = sanitizeManifest(original);
  for (const note of notes) progress(note);
  const wanted = { ...manifest.dependencies, ...manifest.optionalDependencies };
  const tmp = join(req.buildDir, 'tmp');
  boxFolder(box, tmp);
  /** this build's own uid: its install scripts and its packer (undefined when flexd is not root) */
  const identity = nextBuildIdentity(box);
  const scriptEnv = scriptEnvironment(box, req.buildDir, identity, req.node);
  const pack = (dir: string | [string, string][], options: { leaveOut?: readonly string[]; replace?: Record<string, string | null>; linksWithin?: string } = {}) => {
    assertHeld(box); // the build uid may be another flexd's by now
    return packTree(dir, { ...options, uid: identity?.uid, gid: identity?.gid, env: scriptEnv });
  };

  /** archive: a tree built now, to store (with what it holds); without: reused from the store */
  let tree: { key: string; archive?: Buffer; nativeAddons?: boolean; sdkVersion: string | null; notes?: string[] } | null = null;
  let projectPart: Packed;

  if (req.resolveFrom && dependenciesResolvable(req.resolveFrom, wanted) && !hasRootInstallScripts(original)) {
    // A folder installed already: ship what its requires resolve to now.
    progress('Dependencies already installed; npm not run');
    const { packages, conflicts } = resolvedClosure(req.resolveFrom, wanted);
    for (const conflict of conflicts) progress(`warning: two versions of ${conflict} resolve from this folder; the first is shipped`);
    // Keyed by what was resolved: each package's folder, version and package.json time.
    const key = resolvedTreeKey(req.node.major, [...packages].map(([name, root]) => [name, root, statSync(join(root, 'package.json')).mtimeMs] as [string, string, number]));
    const cached = await store.dependencyTrees.get(key);
    if (cached) {
      await store.dependencyTrees.touch(key);
      tree = { key, sdkVersion: cached.sdkVersion };
    } else {
      // Packed as flexd's user: an operator's folder, which the build account may not be able to read.
      const archive = (await packTree([...packages].map(([name, root]) => [`node_modules/${name}`, root] as [string, string]))).archive;
      tree = { key, archive, ...await treeFacts(archive) };
    }
    projectPart = await pack(req.projectDir, { leaveOut: NOT_PROJECT_FILES });
  } else if (Object.keys(wanted).length === 0 && !hasRootInstallScripts(original)) {
    progress('No dependencies to install.');
    projectPart = await pack(req.projectDir, { leaveOut: NOT_PROJECT_FILES });
  } else {
    const lockfile = LOCKFILES.find((name) => existsSync(join(req.projectDir, name))) ?? null;
    const projectCode = projectCodeInInstall(manifest, existsSync(join(req.projectDir, 'binding.gyp')));
    // The SDK substitution changes the tree: decided now, from what the registry publishes now, and keyed.
    const fetchEnv = boxEnvironment(box, tmp, req.node);
    const requestedSdk = manifest.dependencies?.[SDK];
    const published = requestedSdk === undefined ? null : await publishedSdk(tmp, {
      cacheDir: box.npmCache, onProgress: progress, env: fetchEnv, account: box.account, isolation: await box.isolation,
    }).finally(() => endBuild(box, undefined));
    const substitution = sdkSubstitution(requestedSdk, published, lockfile === null ? null : { name: lockfile, pinned: await lockedVersion(join(req.projectDir, lockfile)) });
    const key = dependencyKey({
      manifest, localPackages: localManifests(req.projectDir, wanted), lockfile: lockfile === null ? null : { name: lockfile, bytes: readFileSync(join(req.projectDir, lockfile)) },
      npmrc: readFileSync(box.npmrc), nodeMajor: req.node.major, substitution,
      projectScope: projectCode === null ? null : { environmentId: req.environmentId, projectDigest: projectCodeDigest(req.projectDir, projectCode, manifest) },
    });
    // The project's own scripts write the project part too: they run every time (their tree is still stored, keyed to this environment).
    const cached = projectCode === 'scripts' ? undefined : await store.dependencyTrees.get(key);
    if (cached) {
      progress(`Dependencies unchanged since an earlier build; reusing its installed tree (npm not run)`);
      for (const note of cached.notes) progress(note);
      await store.dependencyTrees.touch(key);
      tree = { key, sdkVersion: cached.sdkVersion };
      projectPart = await pack(req.projectDir, { leaveOut: NOT_PROJECT_FILES });
    } else {
      if (box.account === undefined) progress('flexd is not running as root: npm and install scripts run as flexd\'s own user (see docs/install-policy.md)');
      const installDir = join(req.buildDir, 'install');
      prepareInstallFolder(req.projectDir, installDir, manifest, box);
      const scrub = (line: string) => line.split(installDir + sep).join('').split(installDir).join('.').split(req.buildDir).join('<build>');
      const scrubbed = (err: Error) => { throw Object.assign(err, { message: scrub(err.message) }); };
      // Phase one: fetch and lay out, no package code runs; flexd's registry settings and shared cache.
      const { substitutions } = await installDependencies(installDir, {
        cacheDir: box.npmCache, timeoutMs: req.settings.installTimeoutMs, onProgress: (line) => progress(scrub(line)),
        env: fetchEnv, account: box.account, isolation: await box.isolation, scripts: false, published, signal,
      }).catch(scrubbed).finally(() => endBuild(box, undefined));
      // Phase two: the lifecycle scripts, as this build's own uid, with no shared cache.
      handOver(installDir, identity);
      if (projectCode !== null || installsScripts(installDir)) {
        await runInstallScripts(installDir, {
          cacheDir: scriptEnv.npm_config_cache!, timeoutMs: req.settings.installTimeoutMs, onProgress: (line) => progress(scrub(line)),
          env: scriptEnv, account: identity, isolation: await box.isolation, prepare: typeof manifest.scripts?.prepare === 'string', signal,
        }).catch(scrubbed).finally(() => endBuild(box, identity));
      }
      const replace: Record<string, string | null> = { 'package.json': join(req.projectDir, 'package.json') };
      for (const name of [...LOCKFILES, '.npmrc']) replace[name] = existsSync(join(req.projectDir, name)) ? join(req.projectDir, name) : null;
      for (const name of LOCKFILES) replace[`${name}.flexd-unused`] = null;
      projectPart = await pack(installDir, { leaveOut: NOT_PROJECT_FILES, replace });
      if (existsSync(join(installDir, 'node_modules'))) {
        // A `file:` dependency is a link into the project (npm's default): it stays one, and the
        // project part of every version built on this tree carries what it points at.
        const packed = await pack([['node_modules', join(installDir, 'node_modules')]], { linksWithin: installDir });
        reportSkipped(packed, progress, '');
        tree = { key, archive: packed.archive, ...await treeFacts(packed.archive), notes: substitutions };
      }
    }
  }
  reportSkipped(projectPart, progress, '');
  if (tree?.archive) {
    await store.dependencyTrees.add(tree.key, { tree: tree.archive, sdkVersion: tree.sdkVersion, notes: tree.notes ?? [], nativeAddons: tree.nativeAddons === true });
  }
  const stored = tree === null ? undefined : await store.dependencyTrees.get(tree.key);
  const nativeAddons = stored?.nativeAddons === true || await holdsNativeAddon(projectPart.archive);
  const size = projectPart.archive.length + (stored?.size ?? 0);
  const hash = createHash('sha256').update(projectPart.archive).update(tree?.key ?? '').digest('hex');
  return { project: projectPart.archive, dependenciesKey: tree?.key ?? null, size, hash, sdkVersion: tree?.sdkVersion ?? null, nativeAddons };
}

/**
 * install/: made by flexd while no one else can write it (a fresh folder in a 0711 parent), then
 * handed to the build account. flexd never writes in it again: a build could have replaced any
 * file with a link.
 */
function prepareInstallFolder(projectDir: string, installDir: string, manifest: Manifest, box: BuildBox): void {
  cpSync(projectDir, installDir, {
    recursive: true,
    filter: (src) => {
      const top = src.slice(projectDir.length + 1).split(sep)[0];
      return !NOT_PROJECT_FILES.includes(top) && top !== '.npmrc';
    },
  });
  writeFileSync(join(installDir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  if (box.account) lchownTree(installDir, box.account.uid, box.account.gid);
}

/** install/ after phase one: handed to this build's own uid (nothing of phase one runs any more). */
function handOver(installDir: string, identity: Account | undefined): void {
  if (identity) lchownTree(installDir, identity.uid, identity.gid);
}

/**
 * True when a package npm laid out has install scripts (npm's hidden lockfile marks them
 * `hasInstallScript`), or its lockfile cannot be read (then phase two runs anyway).
 */
function installsScripts(installDir: string): boolean {
  try {
    const hidden = JSON.parse(readFileSync(join(installDir, 'node_modules', '.package-lock.json'), 'utf8')) as { packages?: Record<string, { hasInstallScript?: boolean }> };
    return Object.values(hidden.packages ?? {}).some((p) => p.hasInstallScript === true);
  } catch {
    return existsSync(join(installDir, 'node_modules'));
  }
}


/**
 * What of the project the tree of a build running project code follows: every project file when
 * its own scripts run; the folders of its local packages when only theirs do.
 */
function projectCodeDigest(projectDir: string, code: 'scripts' | 'local-packages', manifest: Manifest): string {
  if (code === 'scripts') return projectDigest(projectDir, NOT_PROJECT_FILES);
  return localPackageSpecs(manifest).map((spec) => {
    const folder = join(projectDir, spec.replace(/^(file:|link:)/, ''));
    const inside = folder === projectDir || folder.startsWith(projectDir + sep);
    try {
      return `${spec}:${inside && statSync(folder).isDirectory() ? projectDigest(folder, NOT_PROJECT_FILES) : 'outside-or-file'}`;
    } catch {
      return `${spec}:missing`;
    }
  }).join('\n');
}

/** The package.json of each `file:` dependency: its dependencies are installed too. */
function localManifests(projectDir: string, wanted: Record<string, string>): Buffer[] {
  return Object.values(wanted).filter((spec) => spec.startsWith('file:')).map((spec) => {
    try {
      return readFileSync(join(projectDir, spec.slice('file:'.length), 'package.json'));
    } catch {
      return Buffer.from(spec); // a tarball or a missing folder: npm says what it makes of it
    }
  });
}

/** The SDK version a packed node_modules holds, and whether it holds a compiled addon: one walk of the archive. */
async function treeFacts(nodeModules: Buffer): Promise<{ sdkVersion: string | null; nativeAddons: boolean }> {
  const { nativeAddons, file: manifest } = await scanPacked(nodeModules, `node_modules/${SDK}/package.json`);
  try {
    const version = manifest && (JSON.parse(manifest.toString('utf8')) as { version?: unknown }).version;
    return { sdkVersion: typeof version === 'string' ? version : null, nativeAddons };
  } catch {
    return { sdkVersion: null, nativeAddons };
  }
}

function reportSkipped(packed: Packed, progress: (line: string) => void, prefix: string): void {
  if (packed.skipped.length === 0) return;
  const shown = packed.skipped.slice(0, SKIPPED_SHOWN).map((s) => `${prefix}${s}`).join('; ');
  const more = packed.skipped.length > SKIPPED_SHOWN ? ` and ${packed.skipped.length - SKIPPED_SHOWN} more` : '';
  progress(`Not in the artifact: ${shown}${more}`);
}
