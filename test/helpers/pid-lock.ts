/**
 * A lock between test processes for a cache only one of them should build: a folder made
 * atomically, holding its owner's pid, so a lock whose owner died is taken over instead of
 * waited on (helpers/packed.ts, helpers/npm-cache.ts, scale/stored-trees.ts).
 *
 *   if (await takeLock(lock)) { build(); } else await waitFor('the other build', async () => done() || !(await lockHeld(lock)));
 */
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Takes the lock (a folder holding the owner's pid); false when a live process holds it. */
export async function takeLock(lock: string): Promise<boolean> {
  try {
    await mkdir(lock);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    if (await lockHeld(lock)) return false;
    await rm(lock, { recursive: true, force: true }); // its owner died
    return takeLock(lock);
  }
  await writeFile(join(lock, 'pid'), String(process.pid));
  return true;
}

/** True while the lock's owner lives (or the lock is too young to have its pid written yet). */
export async function lockHeld(lock: string): Promise<boolean> {
  const pid = Number(await readFile(join(lock, 'pid'), 'utf8').catch(() => ''));
  if (!pid) {
    // Just created, pid not written yet, or left empty by a crash: young means taken.
    const st = await stat(lock).catch(() => undefined);
    return st !== undefined && Date.now() - st.mtimeMs < 10_000;
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
