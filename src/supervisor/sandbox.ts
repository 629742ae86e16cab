import { chmodSync, chownSync, lchownSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { environmentAccount, runsAsRoot, type Account, type AccountRange } from '../isolation/accounts.ts';

/**
 * Where replicas live and as whom they run (docs/security.md).
 *
 * Every start of flexd makes a fresh run directory with exclusive creation (mkdtemp: a random
 * name, created only if it did not exist) and checks that it is a real directory owned by flexd —
 * never a predictable shared path that another local user could have created first or pointed
 * elsewhere with a symlink (issue 9, finding 5). Everything in it is written by flexd into
 * directories only flexd can write, so nothing is written through a link.
 *
 *   <run dir>/                    flexd, 0711 as root (replicas pass through, cannot list), else 0700
 *     runtime/child-<hash>.cjs    the child entry every replica runs (readable)
 *     <environment id>/           flexd:<environment gid>, 0750 — the environment's own, no other's
 *       v-<version id>/           its unpacked artifact: flexd:<gid>, dirs 0750, files 0640 (read, not write)
 *       replicas/<container id>/  a replica's working dir: <uid>:<gid>, 0700
 *
 * As root, an environment's replicas run as its own account (src/isolation/accounts.ts), so no
 * replica reads another's files, /proc or memory, or signals it. The data dir is 0711 as root
 * (0700 otherwise) and everything in it is private: no replica reads the database, builds or
 * npm cache. Not root, all of this is flexd's own
 * account and the walls are Node's permission model and the minimal environment.
 */
export interface Sandbox {
  readonly runDir: string;
  readonly asRoot: boolean;
}

/** The name of the file in the data dir that remembers the last run dir, so a restart after kill -9 removes it. */
const RUN_DIR_RECORD = 'run-dir';
const RUN_DIR_PREFIX = 'flexd-run-';

export function prepareSandbox(dataDir: string): Sandbox {
  const asRoot = runsAsRoot();
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  // As root the build account must pass through to its box (`<dataDir>/build`, deploy/box.ts):
  // 0711, enter but not list; everything inside is private to flexd or to the build account
  // (the database 0600). Not root, nobody else needs in.
  if (lstatSync(dataDir).uid === process.getuid?.()) chmodSync(dataDir, asRoot ? 0o711 : 0o700);
  removePreviousRunDir(dataDir);
  const runDir = mkdtempSync(join(tmpdir(), RUN_DIR_PREFIX));
  assertOwnDirectory(runDir);
  chmodSync(runDir, asRoot ? 0o711 : 0o700);
  writeFileSync(join(dataDir, `${RUN_DIR_RECORD}.tmp`), runDir, { mode: 0o600 });
  renameSync(join(dataDir, `${RUN_DIR_RECORD}.tmp`), join(dataDir, RUN_DIR_RECORD));
  return { runDir, asRoot };
}

/** Removes the run dir (flexd stops). */
export function removeSandbox(sandbox: Sandbox): void {
  rmSync(sandbox.runDir, { recursive: true, force: true });
}

/** One line for flexd's start: which walls stand between replicas, and between them and flexd. */
export function describeIsolation(sandbox: Sandbox, range: AccountRange): string {
  return sandbox.asRoot
    ? `each environment's replicas run as their own account (uid ${range.uidRangeStart + 1} and up) in a private directory, `
      + `under Node's permission model unless the environment opts out`
    : `flexd is not root: replicas run as flexd's own account (uid ${process.getuid?.()}); Node's permission model is the wall `
      + `between them and flexd's data, and an environment that opts out of it can read the database and signal flexd`;
}

/** The directories of one environment, created on first use with the ownership above. */
export class EnvironmentDirs {
  readonly root: string;
  readonly account: Account | undefined;
  private readonly unpacking = new Map<string, Promise<string>>();

  constructor(sandbox: Sandbox, environmentId: string, accountSlot: number, range: AccountRange) {
    this.account = environmentAccount(range, accountSlot);
    this.root = join(sandbox.runDir, safeName(environmentId));
    this.sharedDir(this.root);
    this.sharedDir(join(this.root, 'replicas'));
  }

  /** Where version `versionId` is (or will be) unpacked. */
  artifactDir(versionId: string): string {
    return join(this.root, `v-${safeName(versionId)}`);
  }

  /**
   * Unpacks a version with `unpack(into)` into a staging folder, gives the tree its final
   * ownership and modes, then moves it in place; an already unpacked version is reused, and two
   * activations of one version wait on one unpack. Resolves with the artifact folder.
   */
  unpack(versionId: string, unpack: (into: string) => Promise<void>): Promise<string> {
    const dir = this.artifactDir(versionId);
    try {
      if (lstatSync(dir).isDirectory()) return Promise.resolve(dir);
    } catch { /* not unpacked yet */ }
    let pending = this.unpacking.get(versionId);
    if (!pending) {
      const staging = join(this.root, `.staging-${safeName(versionId)}`);
      pending = (async () => {
        rmSync(staging, { recursive: true, force: true });
        mkdirSync(staging, { mode: 0o700 });
        try {
          await unpack(staging);
          this.seal(staging);
          renameSync(staging, dir);
        } catch (err) {
          rmSync(staging, { recursive: true, force: true });
          throw err;
        }
        return dir;
      })().finally(() => this.unpacking.delete(versionId));
      this.unpacking.set(versionId, pending);
    }
    return pending;
  }

  /** Removes unpacked versions other than `keep` (a swap finished, or a new version failed). */
  prune(keep: ReadonlySet<string>): void {
    const kept = new Set([...keep].map((id) => basename(this.artifactDir(id))));
    for (const name of readdirSync(this.root)) {
      if ((name.startsWith('v-') || name.startsWith('.staging-')) && !kept.has(name)) rmSync(join(this.root, name), { recursive: true, force: true });
    }
  }

  /** A fresh working directory that only this environment's account can use. */
  replicaDir(containerId: string): string {
    const dir = join(this.root, 'replicas', safeName(containerId));
    mkdirSync(dir, { mode: 0o700 });
    if (this.account) chownSync(dir, this.account.uid, this.account.gid);
    chmodSync(dir, 0o700);
    return dir;
  }

  remove(): void {
    rmSync(this.root, { recursive: true, force: true });
  }

  /** flexd's, readable by the environment's group alone (as root); flexd's alone otherwise. */
  private sharedDir(dir: string): void {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    assertOwnDirectory(dir);
    if (this.account) chownSync(dir, process.getuid!(), this.account.gid);
    chmodSync(dir, this.account ? 0o750 : 0o700);
  }

  /**
   * The artifact's final ownership: flexd's, group-readable by the environment (it may read and
   * run its code, not change it). Links are given their group without being followed.
   */
  private seal(dir: string): void {
    const gid = this.account?.gid;
    const walk = (path: string) => {
      const st = lstatSync(path);
      if (st.isSymbolicLink()) {
        if (gid !== undefined) lchownSync(path, process.getuid!(), gid);
        return;
      }
      if (gid !== undefined) chownSync(path, process.getuid!(), gid);
      if (st.isDirectory()) {
        chmodSync(path, gid !== undefined ? 0o750 : 0o700);
        for (const name of readdirSync(path)) walk(join(path, name));
      } else {
        const exec = (st.mode & 0o100) !== 0;
        chmodSync(path, gid !== undefined ? (exec ? 0o750 : 0o640) : (exec ? 0o700 : 0o600));
      }
    };
    walk(dir);
  }
}

/** Throws unless `dir` is a real directory (not a link) owned by flexd's account. */
export function assertOwnDirectory(dir: string): void {
  const st = lstatSync(dir);
  if (!st.isDirectory() || st.uid !== process.getuid?.()) {
    throw new Error(`flexd: ${dir} is not a directory of flexd's own account; refusing to use it`);
  }
}

/**
 * The run dir of a flexd that died without cleaning up (kill -9), if it is still there: only
 * a real directory owned by flexd in the temp dir with flexd's prefix, never what a link points to.
 */
export function removePreviousRunDir(dataDir: string): void {
  let previous: string;
  try {
    previous = readFileSync(join(dataDir, RUN_DIR_RECORD), 'utf8').trim();
  } catch {
    return;
  }
  if (dirname(previous) !== tmpdir() || !basename(previous).startsWith(RUN_DIR_PREFIX)) return;
  try {
    assertOwnDirectory(previous);
  } catch {
    return;
  }
  rmSync(previous, { recursive: true, force: true });
}

/** Ids are flexd's own (hex, dashes), but a path segment must never climb. */
function safeName(id: string): string {
  if (!/^[A-Za-z0-9_-]+$/.test(id)) throw new Error(`flexd: not a safe directory name: ${JSON.stringify(id)}`);
  return id;
}
