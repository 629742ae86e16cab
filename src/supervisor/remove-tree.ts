import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, lstatSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/**
 * Removes a folder flexd made for replicas, whatever they left in it. An overlay leaves `work/work` without any
 * permission, and a replica may have made folders it cannot write: without root those are
 * opened up (only folders of flexd's own account, never through a link) and removal tried again.
 */
export function removeTree(root: string): void {
  try {
    rmSync(root, { recursive: true, force: true });
    return;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EACCES' && code !== 'EPERM') throw err;
  }
  const openUp = (dir: string) => {
    if (!isOwnDirectory(dir)) return;
    try {
      chmodSync(dir, 0o700);
      for (const name of readdirSync(dir)) openUp(join(dir, name));
    } catch { /* what stays shut is reported by the removal below */ }
  };
  openUp(root);
  rmSync(root, { recursive: true, force: true });
}

/**
 * removeTree off the main thread: the run dir holds every environment's dependency tree (tens of
 * thousands of files for 50 environments), and removing it with rmSync on a machine whose disk is
 * busy blocked flexd's event loop — and an embedding test's timers and deadlines — for minutes
 * (test/reliability/many-environments.test.ts sat at 0 CPU past its 600 s timeout).
 * `rm -rf` in a child process first: Node 20's `fs.rm` walks the tree in JavaScript, an `lstat`,
 * a `readdir` or an `unlink` callback per entry, which took 1.0–1.1 s of CPU for 20 copies of
 * kinvey-flex-sdk's tree (37,000 entries, tmpfs, load 8–10) against 0.27 s for `rm -rf` (rm
 * does not follow links either). What rm cannot remove (a folder a replica shut, without root)
 * or a missing rm falls back to Node's own.
 */
export async function removeTreeAsync(root: string): Promise<void> {
  try {
    await execFileAsync('rm', ['-rf', '--', root], { cwd: '/', env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
    return;
  } catch { /* removed below, or its error reported there */ }
  try {
    await rm(root, { recursive: true, force: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EACCES' && code !== 'EPERM') throw err;
    removeTree(root); // a folder a replica shut: opened up, as above
  }
}

/**
 * Takes a dependency tree (1,850 entries for kinvey-flex-sdk's) out of the way at once and removes
 * it in the background: renamed beside itself to a name nothing looks up (so the same folder can
 * be written again right away), then removeTreeAsync. A failed removal leaves it to the run dir's.
 */
export function discardTree(dir: string): void {
  const gone = join(dirname(dir), `.gone-${basename(dir)}-${randomBytes(4).toString('hex')}`);
  try {
    renameSync(dir, gone);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  removeTreeAsync(gone).catch(() => { /* removed with the run dir */ });
}

/** Whether `path` is a folder (not a link to one) that this process's user owns. */
export function isOwnDirectory(path: string): boolean {
  try {
    const st = lstatSync(path);
    return st.isDirectory() && st.uid === process.getuid?.();
  } catch {
    return false;
  }
}
