/**
 * `createRuntime({ temporary: true })`: a data dir of its own in the OS temp dir, removed by
 * close() — and, when its runtime died without closing (kill -9, a test process that exited),
 * by the next runtime that starts and finds it (issue 20: nothing left in the temp dir).
 *
 * A folder is swept only when it is flexd's: named `flexd-data-*`, a real directory of this
 * account, holding the marker its runtime wrote once it held the data dir's lock — and only when
 * that lock can be taken now (store/lock.ts: the kernel drops it when its process dies, so a
 * free lock means its owner is gone; a live runtime keeps it).
 */
import { lstatSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { lockDataDir } from '../store/lock.ts';
import { sweepDeadRunDirs } from '../supervisor/run-dir.ts';

const PREFIX = 'flexd-data-';
/** Written once the runtime holds the lock: a folder without it may be one being created right now. */
const MARKER = '.flexd-temporary';

/** A fresh, empty folder for a temporary runtime (abandoned ones are swept first). */
export async function makeTemporaryDataDir(): Promise<string> {
  await sweepAbandonedDataDirs();
  return mkdtemp(join(tmpdir(), PREFIX));
}

/** Marks the folder as a temporary data dir whose lock its runtime now holds. */
export async function markTemporary(dataDir: string): Promise<void> {
  await writeFile(join(dataDir, MARKER), `${process.pid}\n`, { mode: 0o600 });
}

/** Removes the temporary data dir of a runtime that closed (its lock released). */
export async function removeTemporaryDataDir(dataDir: string): Promise<void> {
  await rm(dataDir, { recursive: true, force: true });
}

/** Removes every temporary data dir (and the run dir it recorded) whose runtime is gone. */
export async function sweepAbandonedDataDirs(): Promise<number> {
  const uid = process.getuid?.();
  let swept = 0;
  for (const name of await readdir(tmpdir()).catch(() => [] as string[])) {
    if (!name.startsWith(PREFIX)) continue;
    const dir = join(tmpdir(), name);
    try {
      const st = lstatSync(dir);
      if (!st.isDirectory() || st.uid !== uid) continue;
      await stat(join(dir, MARKER));
    } catch {
      continue;
    }
    let lock;
    try {
      lock = await lockDataDir(dir);
    } catch {
      continue; // its runtime is alive
    }
    try {
      await removeRecordedRunDir(dir);
      await rm(dir, { recursive: true, force: true });
      swept++;
    } finally {
      await lock.release();
    }
  }
  return swept;
}

/**
 * Its run folder is inside it, unless it was placed elsewhere (the temp dir, when the data dir's
 * folders are closed to the replicas' accounts): that one is swept where it is, its owner being dead.
 */
async function removeRecordedRunDir(dataDir: string): Promise<void> {
  const recorded = (await readFile(join(dataDir, 'run-dir'), 'utf8').catch(() => '')).trim();
  if (recorded === '' || !relative(dataDir, recorded).startsWith('..')) return;
  sweepDeadRunDirs(dirname(recorded), recorded);
}
