import { chmodSync, chownSync, lstatSync, mkdirSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { environmentAccount, runsAsRoot, type Account, type AccountRange } from '../isolation/accounts.ts';
import { replicaPaths, type ReplicaPaths, type VersionFolder } from './replica-folder.ts';
import { createRunDir, runDirParent } from './run-dir.ts';
import { discardTree, removeTree, removeTreeAsync } from './remove-tree.ts';
import { ownCopy, treeName, type SharedTrees } from './shared-trees.ts';
import { writeOnce } from './write-once.ts';

/**
 * Where replicas live and as whom they run (docs/security.md, docs/architecture.md "Layout").
 *
 * Every start of flexd makes a fresh run directory with exclusive creation (mkdtemp: a random
 * name, created only if it did not exist) inside `<dataDir>/run` (or the `runDir` setting) and
 * checks that it is a real directory owned by flexd — never a predictable shared path that
 * another local user could have created first or pointed elsewhere with a symlink (issue 9,
 * finding 5). Run dirs of runtimes that died are swept at start (run-dir.ts).
 *
 *   <run dir>/                    flexd, 0711 as root (replicas pass through, cannot list), else 0700
 *     owner.json                  the runtime's pid, for the sweep
 *     runtime/child-<hash>.cjs    the child entry every replica runs (readable)
 *     trees/<tree>/node_modules   a dependency tree, written out of the store once per runtime and
 *                                 shared by the environments and versions that have it; flexd's
 *                                 alone (0700, shared-trees.ts)
 *     <environment id>/           flexd:<environment gid>, 0750 — the environment's own, no other's
 *       trees/<tree>/node_modules in overlay mode as root: the environment's own copy of a tree,
 *                                 its account's, shared by its versions; trees/ is flexd's (0700)
 *       v-<version id>/           the version's own files, written once per version; flexd's (0700),
 *                                 the files the environment's (a user's checkout)
 *       replicas/<container id>/  one replica: upper/ and work/ of its overlay view, or project/
 *                                 (its private copy); tmp/ (HOME, TMPDIR); removed when it exits
 *
 * A replica's project folder is its private view of its version (replica-folder.ts): it reads
 * the version's files and tree, and what it writes stays in its own folder. As root, an
 * environment's replicas run as its own account (src/isolation/accounts.ts) and cannot enter
 * trees/ or another version's folder, so no replica reads or changes another's files, /proc or
 * memory, or signals it. The data dir is 0711 as root (0700 otherwise) and everything in it is
 * private: no replica reads the database, builds or npm cache. Not root, all of this is flexd's
 * own account and the walls are Node's permission model and the minimal environment.
 */
export interface Sandbox {
  readonly runDir: string;
  readonly asRoot: boolean;
  /** why the run dir is not where it would be (said once in flexd's log) */
  readonly note?: string;
}

export function prepareSandbox(dataDir: string, runDirSetting = ''): Sandbox {
  const asRoot = runsAsRoot();
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  // As root the build account must pass through to its box (`<dataDir>/build`, deploy/box.ts)
  // and replicas to their folders (`<dataDir>/run/…`): 0711, enter but not list; everything
  // inside is private to flexd or to one account (the database 0600). Not root, nobody else needs in.
  if (lstatSync(dataDir).uid === process.getuid?.()) chmodSync(dataDir, asRoot ? 0o711 : 0o700);
  let parent = runDirParent(dataDir, runDirSetting);
  let note: string | undefined;
  // As root, replicas run as other accounts: they must pass through every folder above their own.
  const shut = asRoot ? shutAncestor(runDirSetting === '' ? dataDir : parent) : undefined;
  if (shut !== undefined) {
    const why = `${shut} is closed to other accounts (mode ${(lstatSync(shut).mode & 0o777).toString(8)}), and replicas run as their own accounts`;
    if (runDirSetting !== '') throw new Error(`flexd: cannot use the run dir ${parent}: ${why}; choose a runDir that every account can pass through (o+x)`);
    parent = tmpdir();
    note = `replicas' folders are in ${parent}, not in the data dir: ${why}. Set runDir, or use a data dir every account can pass through (o+x)`;
  }
  const runDir = createRunDir(dataDir, parent, asRoot ? 0o711 : 0o700);
  if (parent === join(dataDir, 'run')) chmodSync(parent, asRoot ? 0o711 : 0o700);
  assertOwnDirectory(runDir);
  chmodSync(runDir, asRoot ? 0o711 : 0o700);
  return { runDir, asRoot, note };
}

/** The first folder above `dir` (or `dir` itself, when it exists and is not flexd's to open) that other accounts cannot pass through. */
function shutAncestor(dir: string): string | undefined {
  const chain: string[] = [];
  for (let at = dirname(dir); ; at = dirname(at)) {
    chain.unshift(at);
    if (dirname(at) === at) break;
  }
  for (const folder of chain) {
    try {
      if ((lstatSync(folder).mode & 0o001) === 0) return folder;
    } catch {
      return undefined; // made below by flexd, with modes of its own
    }
  }
  return undefined;
}

/** Removes the run dir (flexd stops). */
export function removeSandbox(sandbox: Sandbox): Promise<void> {
  return removeTreeAsync(sandbox.runDir);
}

/** One line for flexd's start: which walls stand between replicas, and between them and flexd. */
export function describeIsolation(sandbox: Sandbox, range: AccountRange): string {
  return sandbox.asRoot
    ? `each environment's replicas run as their own account (uid ${range.uidRangeStart + 1} and up) in a private view of their project folder, `
      + `under Node's permission model unless the environment opts out`
    : `flexd is not root: replicas run as flexd's own account (uid ${process.getuid?.()}); Node's permission model is the wall `
      + `between them and flexd's data, and an environment that opts out of it can read the database and signal flexd`;
}

/** How many dependency trees an environment keeps beyond the ones its running version uses (a rollback finds them). */
const SPARE_TREES = 2;

/** The directories of one environment, created on first use with the ownership above. */
export class EnvironmentDirs {
  readonly root: string;
  readonly account: Account | undefined;
  private readonly writing = new Map<string, Promise<string>>();
  /** tree key → when a version last started from it (a count: two starts in one millisecond stay ordered) */
  private readonly treeUse = new Map<string, number>();
  private starts = 0;
  /** version id → its tree key */
  private readonly treeOf = new Map<string, string | null>();

  constructor(sandbox: Sandbox, environmentId: string, accountSlot: number, range: AccountRange, private readonly trees: SharedTrees) {
    this.account = environmentAccount(range, accountSlot);
    this.root = join(sandbox.runDir, safeName(environmentId));
    this.sharedDir(this.root);
    this.privateDir(join(this.root, 'trees'));
    this.privateDir(join(this.root, 'replicas'));
    chmodSync(join(this.root, 'replicas'), 0o711);
  }

  /** Where version `versionId`'s own files are (or will be). */
  artifactDir(versionId: string): string {
    return join(this.root, `v-${safeName(versionId)}`);
  }

  /**
   * The version's folder and its tree, each written once: `writeProject(into, owner)` writes the
   * project's own files (the environment's account's) once per version; `writeTree(into)` the
   * dependency tree's `node_modules` once per runtime and tree key (shared-trees.ts). With a
   * `treeOwner` (overlay mode as root) the environment uses its own copy of that tree, made once
   * per environment and owned by that account; otherwise the runtime's tree itself. Two
   * activations of one version or one tree wait on one write.
   */
  async version(versionId: string, treeKey: string | null, treeOwner: Account | undefined, writeProject: (into: string, owner?: Account) => Promise<void>,
    writeTree: (into: string) => Promise<void>): Promise<VersionFolder> {
    const [tree, dir] = await Promise.all([
      treeKey === null ? null : this.tree(treeKey, treeOwner, writeTree),
      writeOnce(this.artifactDir(versionId), this.writing, (into) => writeProject(into, this.account)),
    ]);
    this.treeOf.set(versionId, treeKey);
    if (treeKey !== null) this.treeUse.set(treeKey, ++this.starts);
    return { dir, tree };
  }

  /**
   * Removes version folders other than `keep` (a swap finished, or a new version failed), and
   * lets go of the trees no kept version uses beyond the SPARE_TREES most recently used.
   */
  prune(keep: ReadonlySet<string>): void {
    const kept = new Set([...keep].map((id) => basename(this.artifactDir(id))));
    for (const name of readdirSync(this.root)) {
      const written = name.startsWith('.staging-') ? join(this.root, name.slice('.staging-'.length)) : undefined;
      if (written !== undefined && this.writing.has(written)) continue; // another activation is writing it now
      if ((name.startsWith('v-') || written !== undefined) && !kept.has(name)) removeTree(join(this.root, name));
    }
    const needed = new Set([...keep].map((id) => this.treeOf.get(id)).filter((t): t is string => typeof t === 'string'));
    const spare = [...this.treeUse].filter(([key]) => !needed.has(key)).sort((a, b) => b[1] - a[1]).slice(SPARE_TREES);
    for (const [key] of spare) this.letGo(key);
    for (const [id, key] of this.treeOf) if (!keep.has(id) && key !== null && !this.treeUse.has(key)) this.treeOf.delete(id);
  }

  /** A replica's own folders (replica-folder.ts), removed with `removeTree(paths.root)` when it exits. */
  replica(containerId: string): ReplicaPaths {
    return replicaPaths(join(this.root, 'replicas'), safeName(containerId), this.account);
  }

  remove(): void {
    for (const key of this.treeUse.keys()) this.trees.release(key, this.root);
    this.treeUse.clear();
    removeTree(this.root);
  }

  /** The folder holding tree `key`'s node_modules for this environment's replicas. */
  private async tree(key: string, owner: Account | undefined, writeTree: (into: string) => Promise<void>): Promise<string> {
    const shared = await this.trees.tree(key, this.root, writeTree);
    if (!owner) return shared;
    return writeOnce(join(this.root, 'trees', treeName(key)), this.writing, (into) => ownCopy(shared, into, owner));
  }

  /** Removes this environment's copy of tree `key`, if any, and releases the runtime's. */
  private letGo(key: string): void {
    const own = join(this.root, 'trees', treeName(key));
    if (!this.writing.has(own)) discardTree(own);
    this.treeUse.delete(key);
    this.trees.release(key, this.root);
  }

  /** flexd's, enterable by the environment's group alone (as root); flexd's alone otherwise. */
  private sharedDir(dir: string): void {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    assertOwnDirectory(dir);
    if (this.account) chownSync(dir, process.getuid!(), this.account.gid);
    chmodSync(dir, this.account ? 0o750 : 0o700);
  }

  /** flexd's alone. */
  private privateDir(dir: string): void {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    assertOwnDirectory(dir);
    chmodSync(dir, 0o700);
  }
}

/** Throws unless `dir` is a real directory (not a link) owned by flexd's account. */
export function assertOwnDirectory(dir: string): void {
  const st = lstatSync(dir);
  if (!st.isDirectory() || st.uid !== process.getuid?.()) {
    throw new Error(`flexd: ${dir} is not a directory of flexd's own account; refusing to use it`);
  }
}

/** Ids are flexd's own (hex, dashes), but a path segment must never climb. */
function safeName(id: string): string {
  if (!/^[A-Za-z0-9_-]+$/.test(id)) throw new Error(`flexd: not a safe directory name: ${JSON.stringify(id)}`);
  return id;
}
