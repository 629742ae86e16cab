/**
 * What flexd changes in the copy of package.json that npm installs from (docs/install-policy.md).
 * The service itself always sees its own package.json, byte for byte: these changes live only in
 * the build's install folder.
 */
import { builtinModules } from 'node:module';
import semver from 'semver';

export const SDK = 'kinvey-flex-sdk';

/** The sections of package.json that decide what `npm install --omit=dev` installs. */
export const DEPENDENCY_SECTIONS = ['dependencies', 'optionalDependencies', 'peerDependencies', 'bundleDependencies', 'bundledDependencies', 'overrides'] as const;

/** Root lifecycle scripts npm runs in the project folder itself during `npm install`. */
export const ROOT_INSTALL_SCRIPTS = ['preinstall', 'install', 'postinstall', 'prepublish', 'preprepare', 'prepare', 'postprepare'] as const;

export type Manifest = Record<string, unknown> & {
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  scripts?: Record<string, string>;
};

const CORE = new Set(builtinModules.filter((name) => !name.startsWith('_') && !name.includes('/')));

/**
 * The manifest npm installs from, before SDK substitution: `devDependencies` removed (npm still
 * resolves them under --omit=dev, and fails on one the registry lacks), and entries named after a
 * core module dropped (`"fs": "0.0.1-security"`: `require('fs')` loads Node's own module anyway).
 *
 * @example
 *   sanitizeManifest({ dependencies: { fs: '0.0.1-security', lodash: '^4' }, devDependencies: { mocha: '*' } })
 *   // { manifest: { dependencies: { lodash: '^4' } }, notes: ['"fs" in dependencies names a core module of Node …'] }
 */
export function sanitizeManifest(original: Manifest): { manifest: Manifest; notes: string[] } {
  const manifest: Manifest = structuredClone(original);
  const notes: string[] = [];
  if (manifest.devDependencies !== undefined) delete manifest.devDependencies;
  for (const section of ['dependencies', 'optionalDependencies'] as const) {
    const deps = manifest[section];
    if (!deps || typeof deps !== 'object') continue;
    for (const name of Object.keys(deps)) {
      if (CORE.has(name)) {
        notes.push(`"${name}": "${deps[name]}" in ${section} names a core module of Node; not installed (require('${name}') loads Node's own)`);
        delete deps[name];
      }
    }
  }
  return { manifest, notes };
}

/** What the registry publishes of the SDK: `npm view kinvey-flex-sdk versions dist-tags`. */
export interface Published { versions: string[]; distTags: Record<string, string> }

/**
 * The SDK version to install instead of `requested`, or null when npm can install it as written:
 *
 *   - a dist-tag the registry does not have (`next`)             → the newest published release
 *   - an exact pin or range no published version satisfies       → the newest release of its major
 *   - a satisfiable range, a known tag, a URL, git or file spec  → null (as written)
 *
 * @example
 *   sdkReplacement('3.2.1', { versions: ['3.1.2', '3.3.0'], distTags: { latest: '3.3.0' } })  // '3.3.0'
 */
export function sdkReplacement(requested: string, published: Published): string | null {
  const releases = published.versions.filter((v) => semver.valid(v) !== null && semver.prerelease(v) === null).sort(semver.compare);
  const spec = requested.trim();
  if (semver.validRange(spec) === null) {
    const isTag = /^[a-z][\w.-]*$/i.test(spec);
    // `latest` always exists where anything is published (a registry answering the versions alone has no tags to ask).
    if (!isTag || spec === 'latest' || spec in published.distTags) return null;
    return releases.at(-1) ?? null;
  }
  if (semver.maxSatisfying(published.versions, spec) !== null) return null;
  const wanted = semver.minVersion(spec);
  if (wanted === null) return null;
  return releases.filter((v) => semver.major(v) === wanted.major).at(-1) ?? null;
}

/** True when npm would run a lifecycle script of the project itself during install. */
export function hasRootInstallScripts(manifest: Manifest): boolean {
  const scripts = manifest.scripts ?? {};
  return ROOT_INSTALL_SCRIPTS.some((name) => typeof scripts[name] === 'string');
}

/**
 * Which code of the project itself npm may run while installing (dependency-cache.ts keys such a
 * tree to its environment):
 *
 *   'scripts'         its own install scripts, a binding.gyp (npm builds it with node-gyp), or
 *                     workspaces: any project file may change what is installed, and the scripts
 *                     write the project part too, so the install always runs
 *   'local-packages'  a local package (`file:`, a path): its folder's scripts run
 *   null              none: only the registry packages' own scripts run
 */
export function projectCodeInInstall(manifest: Manifest, hasBindingGyp: boolean): 'scripts' | 'local-packages' | null {
  if (hasRootInstallScripts(manifest) || hasBindingGyp || manifest.workspaces !== undefined) return 'scripts';
  return localPackageSpecs(manifest).length > 0 ? 'local-packages' : null;
}

/** The specs of dependencies that name a folder or file of the project (`file:x`, `./x`, `link:x`). */
export function localPackageSpecs(manifest: Manifest): string[] {
  const specs: string[] = [];
  for (const section of ['dependencies', 'optionalDependencies', 'peerDependencies'] as const) {
    const deps = manifest[section];
    if (!deps || typeof deps !== 'object') continue;
    for (const spec of Object.values(deps)) if (typeof spec === 'string' && LOCAL_SPEC.test(spec.trim())) specs.push(spec.trim());
  }
  return specs;
}

const LOCAL_SPEC = /^(file:|link:|\.{1,2}\/|\/|~\/)/;
