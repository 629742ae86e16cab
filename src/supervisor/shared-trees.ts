import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Account } from '../isolation/accounts.ts';
import { discardTree } from './remove-tree.ts';
import { writeOnce } from './write-once.ts';

const execFileAsync = promisify(execFile);

/**
 * The dependency trees of one runtime, each written out of the store once (issue 17):
 * `<run dir>/trees/<sha256(tree key)>/node_modules`, flexd's, in a folder no replica can enter
 * (0700), no file in it writable by group or others (deploy/artifact.ts). Every environment and
 * version with that tree key uses this one copy while it holds it:
 *
 *   - where the tree is flexd's to a replica anyway (copy mode as root: hard links a replica
 *     cannot write through; without root: one account, the permission model is the wall), its
 *     replicas use it directly, the overlay's lower layer or the source of `cp -al`;
 *   - in overlay mode as root each environment gets its own copy owned by its account
 *     (`ownCopy`), so that its replicas may change their own view of node_modules as a user may
 *     change their checkout: overlayfs lets a process copy up only a file it may write.
 *
 * Two environments share a tree only when their tree keys are equal, which means the same
 * installed bytes (a build in which project code may run is keyed to its environment,
 * deploy/dependency-cache.ts), so sharing reveals nothing an environment did not have.
 * A tree is removed when the last environment holding it lets it go (and with the run dir).
 */
export class SharedTrees {
  private readonly root: string;
  private readonly writing = new Map<string, Promise<string>>();
  /** tree folder → the environments (by their folder) holding it */
  private readonly holders = new Map<string, Set<string>>();

  constructor(runDir: string) {
    this.root = join(runDir, 'trees');
    mkdirSync(this.root, { mode: 0o700 }); // not recursive: the run dir is new, so nothing can be in the way
    chmodSync(this.root, 0o700);
  }

  /**
   * The folder holding tree `key`'s `node_modules`, written by `write(into)` unless it is
   * written already; `holder` holds it until `release`.
   */
  async tree(key: string, holder: string, write: (into: string) => Promise<void>): Promise<string> {
    const dir = join(this.root, treeName(key));
    let holders = this.holders.get(dir);
    if (!holders) this.holders.set(dir, (holders = new Set()));
    holders.add(holder);
    try {
      return await writeOnce(dir, this.writing, write);
    } catch (err) {
      this.release(key, holder);
      throw err;
    }
  }

  /** `holder` no longer uses tree `key`: the last one to let it go removes it. */
  release(key: string, holder: string): void {
    const dir = join(this.root, treeName(key));
    const holders = this.holders.get(dir);
    if (!holders?.delete(holder) || holders.size > 0) return;
    this.holders.delete(dir);
    if (!this.writing.has(dir)) discardTree(dir);
  }
}

/**
 * Copies a written tree's `node_modules` (from `shared`) into folder `into` as `owner`'s:
 * `cp -a` (a reflink where the file system has them), then `chown -R`, which never follows a
 * link (the tree holds none). Measured on tmpfs for kinvey-flex-sdk's tree (1,850 entries,
 * 15 MB): 40–50 ms of CPU, against 150–250 ms for reading, gunzipping and writing it out of the
 * store again.
 */
export async function ownCopy(shared: string, into: string, owner: Account): Promise<void> {
  const script = 'cp -a --reflink=auto -- "$1/node_modules" "$2/node_modules" && chown -R -- "$3" "$2/node_modules"';
  await execFileAsync('/bin/sh', ['-c', script, 'sh', shared, into, `${owner.uid}:${owner.gid}`], { cwd: '/', env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
}

/** A tree's folder name: its key (which may be long) hashed. */
export function treeName(key: string): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 32);
}
