/**
 * The box a build runs in (docs/install-policy.md, "The build sandbox"). npm, the lifecycle
 * scripts of every dependency and of the project, and the packing of the artifact are the
 * project's code as much as its handlers are, so they run:
 *
 *   - in two phases (build.ts): npm fetches and lays out packages with scripts off, as the fetch
 *     account (`buildAccount(settings)`, owner of npm's shared cache); then the lifecycle scripts
 *     and the packer run as a uid of this build alone (`nextBuildIdentity`), with a private home
 *     and an empty private cache — never with write access to anything another build reads;
 *   - each phase in a pid namespace of its own (isolation/build-namespace.ts): when it ends,
 *     every process it started is gone, however it detached;
 *   - with a minimal environment: PATH, HOME, TMPDIR and npm's cache, userconfig and a few
 *     switches. Nothing of flexd's own (no FLEXD_*, no secrets, no tokens);
 *   - with flexd's npm settings captured at start (registry, scoped registries, proxies, nodedir…
 *     never credentials), written to a userconfig of the box's own. The project's `.npmrc` is not
 *     in the folder npm installs in, so it is never read;
 *   - in folders of the build account's own; the data dir, the database, artifacts and the run
 *     dir are not readable to it.
 *
 * When flexd is not root there is no account to switch to: the same minus the account switch.
 */
import { chmodSync, chownSync, existsSync, lchownSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import type { Settings } from '../config.ts';
import { FlexdError } from '../errors.ts';
import { buildAccount, buildIdentity, buildUids, type Account } from '../isolation/accounts.ts';
import { buildIsolation, sweepUids, type BuildIsolation } from '../isolation/build-namespace.ts';

export interface BuildBox {
  /** undefined when flexd is not root */
  account: Account | undefined;
  /** `<dataDir>/build` (or a private folder under the system temp dir when the data dir is not traversable) */
  root: string;
  /** the build account's persistent home (node-gyp keeps Node's headers there) */
  home: string;
  /** npm's cache, shared by builds so a repeat install reads from disk */
  npmCache: string;
  /** flexd's captured npm settings as a userconfig file */
  npmrc: string;
  /** where one build's folders go */
  buildsDir: string;
  /** whether each build gets a pid namespace (said once at start when it cannot); probed in the background, awaited by each build */
  isolation: Promise<BuildIsolation>;
  /** the uid range builds take their uids from */
  range: Pick<Settings, 'uidRangeStart' | 'uidRangeSize'>;
  /** builds started so far: picks the next build's uid */
  builds: number;
  /**
   * Set when flexd stops, before it gives its uid range back: from then on another flexd on the
   * host may hold these uids, so this box starts nothing more and kills nothing any more. (A
   * build that outlived its runtime's stop once swept the uid of the next runtime's packer.)
   */
  released: boolean;
}

/** npm settings carried into the box: where packages come from and how to reach it; never credentials. */
const CARRIED_NPM_SETTINGS = /^(registry|@[^:]+:registry|nodedir|python|proxy|https-proxy|noproxy|no-proxy|strict-ssl|cafile|ca|maxsockets|fetch-retries|fetch-retry-mintimeout|fetch-retry-maxtimeout|fetch-timeout|prefer-online|prefer-offline|omit-lockfile-registry-resolved)$/i;

/**
 * Sets up the box's folders under `dataDir` and captures flexd's npm settings. Called once at
 * start; builds made later use what was captured then.
 */
export function prepareBuildBox(dataDir: string, settings: Settings): BuildBox {
  const account = buildAccount(settings);
  // Outside the data dir only when the build account cannot reach it: then a fresh folder made
  // with exclusive creation, never a predictable shared path another user could plant a link at
  // (issue 9, finding 5; src/supervisor/sandbox.ts does the same for the run dir).
  const root = account && !traversableByOthers(dataDir)
    ? mkdtempSync(join(tmpdir(), 'flexd-build-'))
    : join(dataDir, 'build');
  const box: BuildBox = {
    account, root, home: join(root, 'home'), npmCache: settings.npmCacheDir || join(root, 'npm-cache'), npmrc: join(root, 'npmrc'), buildsDir: join(root, 'jobs'),
    isolation: buildIsolation(), range: { uidRangeStart: settings.uidRangeStart, uidRangeSize: settings.uidRangeSize }, builds: 0, released: false,
  };
  mkdirSync(root, { recursive: true, mode: 0o711 });
  chmodSync(root, 0o711);
  mkdirSync(box.buildsDir, { recursive: true, mode: 0o711 });
  chmodSync(box.buildsDir, 0o711);
  for (const dir of [box.home, box.npmCache]) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (!account) continue;
    // A data dir used before under another uid range (the default one moves when another flexd
    // holds it): what the old fetch account wrote is handed to this one, or npm fails on it.
    if ([dir, ...readdirSync(dir).map((name) => join(dir, name))].some((path) => lstatSync(path).uid !== account.uid)) lchownTree(dir, account.uid, account.gid);
    chownSync(dir, account.uid, account.gid);
  }
  writeFileSync(box.npmrc, capturedNpmSettings(), { mode: 0o644 });
  chmodSync(box.npmrc, 0o644);
  return box;
}

/** npm's global config of the host's Node (`<prefix>/etc/npmrc`, the prefix being the one above its bin/). */
const HOST_GLOBAL_NPMRC = join(dirname(dirname(process.execPath)), 'etc', 'npmrc');

/**
 * The whole environment of npm and the packer in the box. With `node` (the environment's runtime,
 * src/runtimes), npm and every install script run on that Node — its folder is first on PATH, and
 * npm's `nodedir` points node-gyp at its own headers, so native addons build for its ABI without
 * downloading headers.
 */
export function boxEnvironment(box: BuildBox, tmp: string, node?: { nodePath: string; headersDir: string | undefined }): NodeJS.ProcessEnv {
  return {
    PATH: reachablePath(box.account !== undefined, node?.nodePath ?? process.execPath),
    ...(node?.headersDir ? { npm_config_nodedir: node.headersDir } : {}),
    // npm finds its global config beside the Node it runs on; under a Node from the registry that
    // is not the host's, whose global npmrc may hold the settings that reach the registry (cafile).
    ...(node && node.nodePath !== process.execPath && existsSync(HOST_GLOBAL_NPMRC) ? { npm_config_globalconfig: HOST_GLOBAL_NPMRC } : {}),
    HOME: box.home,
    TMPDIR: tmp,
    LANG: 'C.UTF-8',
    npm_config_cache: box.npmCache,
    npm_config_userconfig: box.npmrc,
    npm_config_update_notifier: 'false',
    npm_config_fund: 'false',
    npm_config_audit: 'false',
    NO_UPDATE_NOTIFIER: '1',
  };
}

/**
 * The environment of a build's install scripts and packer: as `boxEnvironment`, with this build's
 * own home and an empty npm cache of its own (`<buildDir>/home`, `<buildDir>/npm-cache`), so no
 * script writes where another build reads; Node's headers come from this Node's installation
 * (nodedir) when it ships them, instead of a download into a shared home.
 */
export function scriptEnvironment(box: BuildBox, buildDir: string, identity: Account | undefined, node?: { nodePath: string; headersDir: string | undefined }): NodeJS.ProcessEnv {
  const home = join(buildDir, 'home');
  const cache = join(buildDir, 'npm-cache');
  for (const dir of [home, cache]) buildFolder(dir, identity);
  const env: NodeJS.ProcessEnv = { ...boxEnvironment(box, join(buildDir, 'tmp'), node), HOME: home, npm_config_cache: cache };
  // Node's headers where the Node of the build keeps them, never downloaded into a shared home.
  const prefix = dirname(dirname(node?.nodePath ?? process.execPath));
  if (env.npm_config_nodedir === undefined && existsSync(join(prefix, 'include', 'node', 'common.gypi')) && !/^nodedir=/m.test(readFileSync(box.npmrc, 'utf8'))) {
    env.npm_config_nodedir = prefix;
  }
  return env;
}

/** A folder of one build that only the build account may use (made by flexd, then handed over). */
export function boxFolder(box: BuildBox, dir: string): void {
  buildFolder(dir, box.account);
}

/** A folder only `owner` may use (made by flexd, then handed over); flexd's own when not root. */
export function buildFolder(dir: string, owner: Account | undefined): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (owner) chownSync(dir, owner.uid, owner.gid);
}

/** The uid the next build's scripts and packer run as (undefined when flexd is not root). */
export function nextBuildIdentity(box: BuildBox): Account | undefined {
  assertHeld(box);
  const identity = buildIdentity(box.range, box.builds++);
  if (identity) sweepUids(identity.uid, 1); // its last build's processes died with its namespace; this makes sure
  return identity;
}

/**
 * Ends what builds of an earlier flexd on this range left running (killed before they ended).
 * Only for the flexd that holds the range (isolation/range-claim.ts): a sweep of a range another
 * flexd holds kills its builds — a test that prepared a box on the default range once did.
 */
export function sweepBuildLeftovers(box: BuildBox): void {
  const { first, count } = buildUids(box.range);
  sweepUids(first, count);
  sweepUids(box.range.uidRangeStart, 1);
}

/** Ends every process of the box's uids, then marks it released (see BuildBox.released). */
export function releaseBuildBox(box: BuildBox): void {
  if (box.released) return;
  sweepBuildLeftovers(box);
  box.released = true;
}

/** Refuses a build step once flexd has given its uid range back (see BuildBox.released). */
export function assertHeld(box: BuildBox): void {
  if (box.released) throw new FlexdError('RuntimeClosed', 'flexd stopped before the build finished', { status: 503 });
}

/**
 * Ends what is left of a build's processes. With a pid namespace there is nothing left (they
 * died with it); without one, as root, every process of the build's uid and of the fetch account
 * is killed — builds run one at a time, so none of them is another build's. Returns how many.
 */
export function endBuild(box: BuildBox, identity: Account | undefined): number {
  if (box.released) return 0;
  let killed = 0;
  if (identity) killed += sweepUids(identity.uid, 1);
  if (box.account) killed += sweepUids(box.account.uid, 1);
  return killed;
}

/** Hands a folder and everything in it to another owner; links are changed themselves, never followed. */
export function lchownTree(dir: string, uid: number, gid: number): void {
  lchownSync(dir, uid, gid);
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) lchownTree(path, uid, gid);
    else lchownSync(path, uid, gid);
  }
}

/**
 * flexd's npm user settings (its userconfig file, then npm_config_* variables) limited to
 * CARRIED_NPM_SETTINGS, as npmrc lines. Read now, as flexd's user; the box cannot read them itself.
 */
function capturedNpmSettings(): string {
  const settings = new Map<string, string>();
  const file = process.env.npm_config_userconfig ?? process.env.NPM_CONFIG_USERCONFIG ?? join(homedir(), '.npmrc');
  try {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const m = /^\s*([^=;#\s][^=]*?)\s*=\s*(.*?)\s*$/.exec(line);
      if (m && CARRIED_NPM_SETTINGS.test(m[1]) && !m[2].includes('${')) settings.set(m[1].toLowerCase(), m[2]);
    }
  } catch { /* no userconfig: npm's defaults */ }
  for (const [name, value] of Object.entries(process.env)) {
    const m = /^npm_config_(.+)$/i.exec(name);
    if (!m || value === undefined) continue;
    const key = m[1].replace(/_/g, '-').toLowerCase();
    if (CARRIED_NPM_SETTINGS.test(key)) settings.set(key, value);
  }
  return [...settings].map(([k, v]) => `${k}=${v}\n`).join('');
}

/**
 * flexd's PATH without the folders the build account cannot reach (a root-only pyenv shim
 * would shadow the system python node-gyp needs), with the folder of the build's Node first.
 */
function reachablePath(switched: boolean, nodePath: string): string {
  const entries = [dirname(nodePath), ...(process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin').split(delimiter)];
  const kept = [...new Set(entries)].filter((dir) => dir !== '' && existsSync(dir) && (!switched || traversableByOthers(dir)));
  return kept.join(delimiter);
}

function traversableByOthers(dir: string): boolean {
  for (let d = dir; ; d = dirname(d)) {
    try {
      if ((statSync(d).mode & 0o001) === 0) return false;
    } catch {
      return false;
    }
    if (dirname(d) === d) return true;
  }
}
