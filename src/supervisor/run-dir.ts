import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { isOwnDirectory, removeTree } from './remove-tree.ts';
import { statFields } from '../procfs.ts';

/**
 * Where a runtime keeps what exists only while it runs (replicas' folders, the child entry):
 * a fresh folder `flexd-run-XXXXXX` made with exclusive creation (mkdtemp) under `<dataDir>/run`,
 * or under the `runDir` setting when the operator asks for another place. Nothing outside the
 * data dir unless asked.
 *
 * Each run folder holds `owner.json`: the runtime's pid, the start time of that pid and the boot it
 * ran in. A runtime that dies without cleaning up (kill -9, a crash, the machine's OOM killer)
 * leaves its run folder; the next runtime that looks in the same place removes every run folder
 * whose owner is gone — whichever data dir it belonged to. `<dataDir>/run-dir` remembers the
 * last run folder, so a runtime that moved (another `runDir`) still sweeps where it was.
 */

export const RUN_DIR_PREFIX = 'flexd-run-';
/** The file in the data dir naming the last run folder (kept from before run folders moved into the data dir). */
const RUN_DIR_RECORD = 'run-dir';
const OWNER_FILE = 'owner.json';

export interface RunOwner { pid: number; startTicks: string | null; bootId: string | null; host: string }

/** Where run folders go: the `runDir` setting, or `<dataDir>/run`. */
export function runDirParent(dataDir: string, runDirSetting: string): string {
  return runDirSetting === '' ? join(dataDir, 'run') : resolve(runDirSetting);
}

/**
 * Makes this runtime's run folder under `parent` (created if missing, `mode` on what flexd makes)
 * and records it in the data dir. Sweeps dead runtimes' folders first.
 */
export function createRunDir(dataDir: string, parent: string, mode: number): string {
  const made = !exists(parent);
  mkdirSync(parent, { recursive: true, mode });
  const st = lstatSync(parent);
  if (!st.isDirectory()) throw new Error(`flexd: the run dir ${parent} is not a directory`);
  // A folder flexd made (the default, inside the data dir) is flexd's alone, or passable by replicas as root.
  if (made || parent === join(dataDir, 'run')) {
    if (st.uid !== process.getuid?.()) throw new Error(`flexd: ${parent} is not a directory of flexd's own account; refusing to use it`);
  }
  sweepDeadRunDirs(parent, readRecord(dataDir));
  const runDir = mkdtempSync(join(parent, RUN_DIR_PREFIX));
  writeFileSync(join(runDir, OWNER_FILE), `${JSON.stringify(currentOwner())}\n`, { mode: 0o600 });
  writeFileSync(join(dataDir, `${RUN_DIR_RECORD}.tmp`), runDir, { mode: 0o600 });
  renameSync(join(dataDir, `${RUN_DIR_RECORD}.tmp`), join(dataDir, RUN_DIR_RECORD));
  return runDir;
}

/**
 * Removes the run folders under `parent` (and `previous`, the data dir's last one, wherever it
 * is) whose runtime is gone. Only real directories of flexd's own account named `flexd-run-*`,
 * never what a link points to. A folder without an owner record (made by a flexd from before
 * records) is removed only when it is `previous`: the data dir is locked, so its last runtime is dead.
 * Returns what was removed.
 */
export function sweepDeadRunDirs(parent: string, previous?: string): string[] {
  const removed: string[] = [];
  const candidates = new Set<string>();
  try {
    for (const name of readdirSync(parent)) if (name.startsWith(RUN_DIR_PREFIX)) candidates.add(join(parent, name));
  } catch { /* unreadable: nothing to sweep there */ }
  if (previous && basename(previous).startsWith(RUN_DIR_PREFIX)) candidates.add(previous);
  for (const dir of candidates) {
    if (!isOwnDirectory(dir)) continue;
    const owner = readOwner(dir);
    const dead = owner === undefined ? dir === previous : !ownerAlive(owner);
    if (!dead) continue;
    removeTree(dir);
    removed.push(dir);
  }
  return removed;
}

/** This process as a run folder's owner. */
export function currentOwner(): RunOwner {
  return { pid: process.pid, startTicks: startTicks(process.pid), bootId: bootId(), host: hostname() };
}

/**
 * Whether the runtime that wrote `owner` still runs: same machine and boot, its pid alive and
 * started at the recorded time (a reused pid is someone else). On another host it cannot be
 * told, so it counts as alive.
 */
export function ownerAlive(owner: RunOwner): boolean {
  if (owner.host !== hostname()) return true;
  const boot = bootId();
  if (owner.bootId !== null && boot !== null && owner.bootId !== boot) return false;
  try {
    process.kill(owner.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const ticks = startTicks(owner.pid);
  return owner.startTicks === null || ticks === null || ticks === owner.startTicks;
}

function readOwner(dir: string): RunOwner | undefined {
  try {
    const raw = JSON.parse(readFileSync(join(dir, OWNER_FILE), 'utf8')) as Partial<RunOwner>;
    if (typeof raw.pid !== 'number' || typeof raw.host !== 'string') return undefined;
    return { pid: raw.pid, startTicks: raw.startTicks ?? null, bootId: raw.bootId ?? null, host: raw.host };
  } catch {
    return undefined;
  }
}

function readRecord(dataDir: string): string | undefined {
  try {
    const previous = readFileSync(join(dataDir, RUN_DIR_RECORD), 'utf8').trim();
    return previous !== '' && dirname(previous) !== previous ? previous : undefined;
  } catch {
    return undefined;
  }
}

/** Field 22 of /proc/<pid>/stat: when the process started, in clock ticks since boot. */
export function startTicks(pid: number): string | null {
  return statFields(pid)?.[19] ?? null;
}

function bootId(): string | null {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return null;
  }
}

function exists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}
