/**
 * A build cannot outlive itself (docs/security.md, "A build"). Every process of a build — npm,
 * every lifecycle script, whatever they start, detached or not — runs in a pid namespace of the
 * build's own, under a uid of the build's own (accounts.ts, `buildIdentity`):
 *
 *   flexd
 *    └─ setpriv --pdeathsig KILL          dies with flexd, however flexd dies
 *        └─ unshare --pid --fork --kill-child=KILL --mount-proc
 *            └─ sh (pid 1 of the namespace, root)   a private /proc, /dev/shm and (data dir elsewhere) /tmp
 *                └─ setpriv --reuid U --regid U --clear-groups --inh-caps=-all --no-new-privs
 *                    └─ npm … and its scripts, as U
 *
 * When pid 1 of a pid namespace exits the kernel kills every other process in it: a daemon that
 * started a new session, double-forked and emptied its environment is still in the namespace.
 * pid 1 is a root shell that only waits, so nothing of the build (uid U) can signal or trace it;
 * it exits when npm does, or when `unshare` dies (--kill-child), which dies with flexd
 * (--pdeathsig). A timeout kills the whole tree the same way.
 *
 * Why util-linux `unshare` + `setpriv` rather than bubblewrap or plain uids (measured, see
 * docs/security.md): both are in util-linux, which every Debian-like system has (Essential),
 * so nothing needs installing; the wrapper costs about 30 ms a build; bubblewrap adds bind mounts
 * flexd does not need (the build's files are walled by its uid) and is not installed by default;
 * plain uids + /proc sweeps miss a daemon that changes its uid-visible traits or is started
 * between two sweeps.
 *
 * Without root: the same in a user namespace mapped to flexd's own uid (`unshare -c`), when the
 * kernel allows unprivileged user namespaces; else no namespace at all, said once at start.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, realpathSync } from 'node:fs';
import type { Account } from './accounts.ts';
import { runsAsRoot } from './accounts.ts';

export interface BuildIsolation {
  /** 'namespace': each build in a pid namespace of its own; 'none': no namespace could be made here */
  mode: 'namespace' | 'none';
  /** what protection is missing, for flexd's start (undefined when nothing is) */
  missing: string | undefined;
}

/**
 * pid 1 of a build's namespace: a private /tmp ($3 = 1) and /dev/shm ($4 = 1), each unless one of
 * the build's own folders (its install folder, npm's cache) is under it, then the build as its
 * own uid; waits for it.
 */
const ROOT_INIT = [
  'uid=$1; gid=$2; privateTmp=$3; privateShm=$4; shift 4',
  'if [ "$privateTmp" = 1 ]; then mount -t tmpfs -o mode=1777,nosuid,nodev flexd-build /tmp 2>/dev/null; fi',
  'if [ "$privateShm" = 1 ]; then mount -t tmpfs -o mode=1777,nosuid,nodev flexd-build /dev/shm 2>/dev/null; fi',
  'setpriv --reuid="$uid" --regid="$gid" --clear-groups --inh-caps=-all --no-new-privs -- "$@"',
  // Not `exec`: this shell stays pid 1, so the namespace ends with the build.
  'status=$?',
  'exit $status',
].join('\n');

const UNSHARE = ['unshare', '--pid', '--fork', '--kill-child=SIGKILL', '--mount-proc'];

let probed: Promise<BuildIsolation> | undefined;

/**
 * Whether builds can be put in a pid namespace here; probed once per process, in the background:
 * a runtime starts without waiting for it (the probe is a few child processes, 0.1–0.4 s of a
 * loaded machine), and a build waits for it before it starts.
 */
export function buildIsolation(): Promise<BuildIsolation> {
  probed ??= probe();
  return probed;
}

function probe(): Promise<BuildIsolation> {
  const asRoot = runsAsRoot();
  const wrapped = wrapCommand({ mode: 'namespace', missing: undefined }, asRoot ? { uid: 65534, gid: 65534 } : undefined, 'sh', ['-c', 'echo $$']);
  return new Promise((resolve) => {
    execFile(wrapped.command, wrapped.args, { encoding: 'utf8', timeout: 10_000 }, (err, stdout, stderr) => {
      // In a pid namespace of its own the shell has one of the first pids (after the init's mounts).
      if (!err && /^\d+$/.test(stdout.trim()) && Number(stdout.trim()) < 100) return resolve({ mode: 'namespace', missing: undefined });
      // A command that could not start (ENOENT) says so in err.code; one that failed, on its stderr.
      const why = (typeof err?.code === 'string' ? err.message : stderr.trim().split('\n').at(-1))
        || (err ? `exit code ${err.code ?? err.signal}` : `it printed ${JSON.stringify(stdout.trim())}`);
      resolve({
        mode: 'none',
        missing: `builds cannot be put in a pid namespace here (${why}): a process a build's install script leaves behind `
          + `${asRoot ? 'is ended by a sweep of the build uid when the build ends and when flexd starts, but can escape it until then' : 'is not ended when the build ends'}`,
      });
    });
  });
}

/**
 * The command and arguments that run `command args` as a build process: in its own pid
 * namespace (as `account` when given) when the isolation allows, else as is. Spawn the result
 * as flexd itself (no uid/gid option): the account switch happens inside. `folders`: what the
 * build must see as the host has it (its working folder, npm's cache): a /tmp or /dev/shm
 * holding one of them stays the host's.
 */
export function wrapCommand(isolation: BuildIsolation, account: Account | undefined, command: string, args: string[], folders: readonly string[] = [process.cwd()]): { command: string; args: string[]; switched: boolean } {
  if (isolation.mode === 'none') return { command, args, switched: false };
  if (account) {
    // A tmpfs over /tmp or /dev/shm would hide the build's own folders (the data dir, an npm
    // cache configured there: npm would fill a cache of its own in the tmpfs, lost at the build's end).
    const privateTmp = folders.some((folder) => isUnder(folder, '/tmp')) ? '0' : '1';
    const privateShm = folders.some((folder) => isUnder(folder, '/dev/shm')) ? '0' : '1';
    return {
      command: 'setpriv',
      args: ['--pdeathsig', 'SIGKILL', '--', ...UNSHARE, '--', '/bin/sh', '-c', ROOT_INIT, 'flexd-build-init', String(account.uid), String(account.gid), privateTmp, privateShm, command, ...args],
      switched: true,
    };
  }
  // Not root: a user namespace mapped to flexd's own uid makes the pid namespace possible.
  return { command: 'setpriv', args: ['--pdeathsig', 'SIGKILL', '--', ...UNSHARE, '--map-current-user', '--', command, ...args], switched: false };
}

/** Whether `path` (as given, or once its links are resolved) is `dir` or inside it. */
function isUnder(path: string, dir: string): boolean {
  return [path, realpathOr(path)].some((p) => p === dir || p.startsWith(`${dir}/`));
}

function realpathOr(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

/**
 * Kills every process whose uid is in [first, first + count): what a build of an earlier flexd
 * (killed before its builds ended, on a host without pid namespaces) left behind. Returns how
 * many. Only as root, and only in flexd's own claimed range (isolation/range-claim.ts).
 */
export function sweepUids(first: number, count: number): number {
  if (!runsAsRoot()) return 0;
  let killed = 0;
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const uid = Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${name}/status`, 'utf8'))?.[1]);
      if (uid < first || uid >= first + count) continue;
      process.kill(Number(name), 'SIGKILL');
      killed++;
    } catch { /* gone meanwhile */ }
  }
  return killed;
}
