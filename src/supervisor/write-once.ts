import { chmodSync, lstatSync, mkdirSync, renameSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { removeTree } from './remove-tree.ts';

/**
 * Writes folder `dir` once: `write(staging)` fills `.staging-<name>` beside it, which is then
 * renamed into place, so a folder that exists is whole and is reused as it is. Callers at the
 * same moment wait on one write (`writing`: the writes in flight, by folder). The folder itself
 * stays flexd's (0700): a replica reaches what is in it only through its own view.
 *
 * @example
 *   const tree = await writeOnce(join(root, name), writing, (into) => writeDependencyTree(archive, into));
 */
export function writeOnce(dir: string, writing: Map<string, Promise<string>>, write: (into: string) => Promise<void>): Promise<string> {
  try {
    if (lstatSync(dir).isDirectory()) return Promise.resolve(dir);
  } catch { /* not written yet */ }
  let pending = writing.get(dir);
  if (!pending) {
    const staging = join(dirname(dir), `.staging-${basename(dir)}`);
    pending = (async () => {
      removeTree(staging);
      mkdirSync(staging, { mode: 0o700 });
      try {
        await write(staging);
        chmodSync(staging, 0o700);
        renameSync(staging, dir);
      } catch (err) {
        removeTree(staging);
        throw err;
      }
      return dir;
    })().finally(() => writing.delete(dir));
    writing.set(dir, pending);
  }
  return pending;
}
