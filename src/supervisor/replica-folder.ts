import { execFile } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Account } from '../isolation/accounts.ts';
import { removeTree } from './remove-tree.ts';

/**
 * Each replica's working directory is its project folder, as under `node .`: `process.cwd()` is
 * the folder of the entry, relative reads find the project's files and node_modules, relative
 * writes (`./message.txt`, the SDK's `output.log`) land there. What a replica writes is its own:
 * never seen by another replica, version or environment, and gone with the replica.
 *
 * Two ways, chosen once per runtime (`replicaFolder` setting, `auto` by default):
 *
 *   overlay  the replica starts in a mount namespace of its own, where an overlay mount covers
 *            the version's folder: the version's files and its dependency tree below
 *            (read-only, shared by every replica of the version), the replica's private
 *            upper folder on top. Writes are copied up into that folder. As root the namespace
 *            is a plain mount namespace and the replica then drops to its environment's account
 *            (setpriv); without root it is a user namespace (overlay with `userxattr`, Linux ≥
 *            5.11) and the replica runs with its own uid and no capabilities in a nested one,
 *            so it cannot unmount the view. Every replica of a version sees the same path.
 *   copy     no namespaces (a container that forbids them): a private copy of the version's
 *            folder (`cp -a --reflink=auto`: a reflink where the file system can, else a copy),
 *            made by the replica's own start before Node runs; node_modules as hard links of a
 *            tree flexd owns when flexd is root (the replica, another account, cannot write
 *            through them: node_modules is read-only to it), else copied too.
 *
 * Both run as a small shell launcher that ends in `exec node …`, so the spawned pid is the
 * replica's own (signals, /proc, exit codes unchanged).
 */
export type FolderMode = 'overlay' | 'copy';

export interface ReplicaPaths {
  /** `<env>/replicas/<container id>`: flexd's; removed when the replica exits */
  root: string;
  /** HOME and TMPDIR: the replica's own */
  tmp: string;
}

/** A version as its replicas start from it. */
export interface VersionFolder {
  /** the project's own files; the replica's cwd and project folder in overlay mode */
  dir: string;
  /** a folder holding the dependency tree's `node_modules`, or null without dependencies */
  tree: string | null;
}

/** What the replica is spawned with. */
/**
 * Whose the dependency tree a replica starts from is: in overlay mode the environment's account
 * (its own copy of the runtime's tree, shared-trees.ts: its replicas may change their own view of
 * node_modules, as a user may change their checkout); in copy mode flexd's own, the runtime's tree
 * itself, so the hard links a replica gets as root cannot be written through.
 */
export function treeOwner(mode: FolderMode, account: Account | undefined): Account | undefined {
  return mode === 'overlay' ? account : undefined;
}

export interface Launch {
  command: string;
  /** arguments before the node executable */
  args: string[];
  /** the project folder as the replica sees it */
  projectDir: string;
  /** spawn as this account (copy mode as root switches itself, see below) */
  uid?: number;
  gid?: number;
}

const SH = '/bin/sh';
/** Paths flexd passes in mount options: the option syntax has no escape for these. */
const OPTION_UNSAFE = /[,:\\\n]/;

/** Makes the replica's own folders: tmp (its account's), and room for the overlay's upper and work folders. */
export function replicaPaths(replicasDir: string, containerId: string, account: Account | undefined): ReplicaPaths {
  const root = join(replicasDir, containerId);
  mkdirSync(root, { mode: 0o711 });
  const tmp = join(root, 'tmp');
  mkdirSync(tmp, { mode: 0o700 });
  for (const name of ['upper', 'work']) mkdirSync(join(root, name), { mode: 0o700 });
  if (account) {
    chownSync(tmp, account.uid, account.gid);
    // The upper folder's owner and mode become the project folder's, as the user's own checkout is.
    chownSync(join(root, 'upper'), account.uid, account.gid);
  }
  chmodSync(join(root, 'upper'), 0o755);
  return { root, tmp };
}

/**
 * How to start node so that the replica's project folder is its private view of `version`.
 *
 * @example
 *   const launch = launchInFolder('overlay', version, paths, account);
 *   spawn(launch.command, [...launch.args, nodePath, ...nodeArgs], { cwd: launch.projectDir, uid: launch.uid, gid: launch.gid });
 */
export function launchInFolder(mode: FolderMode, version: VersionFolder, paths: ReplicaPaths, account: Account | undefined): Launch {
  const asRoot = process.getuid?.() === 0;
  if (mode === 'overlay') {
    const options = overlayOptions(version, paths, asRoot);
    // $1 the options, $2 the mount point; the rest is the command that runs in the view.
    // It changes into the folder after the mount: a working directory taken before would be the folder below.
    const script = 'mount -t overlay -o "$1" flexd-replica "$2" && cd "$2" && shift 2 && exec "$@"';
    const namespace = asRoot
      ? ['unshare', '--mount', '--propagation', 'private', '--', SH, '-c', script, 'sh', options, version.dir]
      : ['unshare', '--user', '--map-root-user', '--mount', '--propagation', 'private', '--', SH, '-c', script, 'sh', options, version.dir];
    const drop = asRoot
      ? (account ? ['setpriv', `--reuid=${account.uid}`, `--regid=${account.gid}`, '--clear-groups', '--'] : [])
      : ['unshare', '--user', `--map-user=${process.getuid!()}`, `--map-group=${process.getgid!()}`, '--'];
    const [command, ...args] = [...namespace, ...drop];
    return { command: command!, args, projectDir: version.dir };
  }
  const projectDir = join(paths.root, 'project');
  // $1 the version's files, $2 the tree folder or '', $3 the copy; then (as root) the account.
  const owner = asRoot && account ? `${account.uid}:${account.gid}` : '';
  // As root the tree is flexd's (treeOwner) and the replica another account: hard links cannot be
  // changed through, so node_modules costs one link per file. Without root a replica could rewrite
  // a shared inode, so it gets a copy of its own.
  const treeCopy = owner ? 'cp -al' : 'cp -a --reflink=auto';
  const script = [
    'cp -a --reflink=auto -- "$1" "$3"',
    `{ [ -z "$2" ] || ${treeCopy} -- "$2/node_modules" "$3/node_modules"; }`,
    '{ [ -z "$4" ] || chown "$4" "$3"; }',
    'chmod 755 "$3"',
    'cd "$3"',
    'shift 4',
    'exec "$@"',
  ].join(' && ');
  const drop = owner ? ['setpriv', `--reuid=${account!.uid}`, `--regid=${account!.gid}`, '--clear-groups', '--'] : [];
  return { command: SH, args: ['-c', script, 'sh', version.dir, version.tree ?? '', projectDir, owner, ...drop], projectDir };
}

/** The overlay's mount options: the version's files over its dependency tree, the replica's upper folder on top. */
function overlayOptions(version: VersionFolder, paths: ReplicaPaths, asRoot: boolean): string {
  const lower = version.tree ? `${version.dir}:${version.tree}` : version.dir;
  // volatile: the upper folder lives as long as the replica; syncing it would only cost time.
  return `lowerdir=${lower},upperdir=${join(paths.root, 'upper')},workdir=${join(paths.root, 'work')},volatile${asRoot ? '' : ',userxattr'}`;
}

/** True when these paths can go into mount options. */
export function overlayPathsSafe(...paths: string[]): boolean {
  return paths.every((p) => !OPTION_UNSAFE.test(p));
}

/**
 * Whether overlay views work here: mounts one in a scratch folder of `runDir` with the same
 * launcher a replica gets. Resolves 'overlay' or 'copy'.
 */
export async function probeFolderMode(runDir: string): Promise<FolderMode> {
  const scratch = join(runDir, '.probe');
  removeTree(scratch);
  try {
    if (!overlayPathsSafe(scratch)) return 'copy';
    mkdirSync(scratch, { mode: 0o700 });
    const version = { dir: join(scratch, 'version'), tree: join(scratch, 'tree') };
    for (const dir of [version.dir, version.tree, join(scratch, 'replicas')]) mkdirSync(dir, { mode: 0o700 });
    // As root, the switch of account is tried too (to root itself: setpriv must be there and work).
    const account = process.getuid?.() === 0 ? { uid: 0, gid: 0 } : undefined;
    const paths = replicaPaths(join(scratch, 'replicas'), 'probe', account);
    const launch = launchInFolder('overlay', version, paths, account);
    const ok = await new Promise<boolean>((resolve) => {
      execFile(launch.command, [...launch.args, SH, '-c', 'echo probe > "$1/written"', 'sh', version.dir], { cwd: '/', timeout: 30_000 }, (err) => resolve(!err));
    });
    // Written through the view, and only there: the version's folder below stays as it was.
    return ok && !existsSync(join(version.dir, 'written')) && existsSync(join(paths.root, 'upper', 'written')) ? 'overlay' : 'copy';
  } catch {
    return 'copy';
  } finally {
    removeTree(scratch);
  }
}

