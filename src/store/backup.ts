import Database from 'better-sqlite3';
import { chmodSync, existsSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** The database file inside a data dir (store/index.ts). */
export const DATABASE_FILE = 'flexd.db';
/** How long the backup waits for a write lock the running flexd holds (a log batch, a deploy's insert). */
const BUSY_TIMEOUT_MS = 10_000;

export interface BackupResult { file: string; bytes: number; pages: number; ms: number }

/**
 * A consistent copy of a data dir's database while flexd may be running: SQLite's online backup
 * API through a second connection, one step for all pages (in WAL mode the running flexd keeps
 * writing meanwhile; a copy in small steps would start over after each of its writes). The copy
 * is written beside `out`, checked (`quick_check`), switched to a self-contained rollback journal
 * and renamed into place only when complete. Mode 0600: it holds secrets and variables.
 *
 * Restoring is a new data dir holding the file as `flexd.db` (docs/operating.md): artifacts,
 * replica dirs and the npm cache are rebuilt from it.
 *
 * @example await backupDatabase('/var/lib/flexd', '/backups/flexd-2026-11-30.db')
 */
export async function backupDatabase(dataDir: string, out: string): Promise<BackupResult> {
  const source = join(dataDir, DATABASE_FILE);
  if (!existsSync(source)) throw new Error(`no flexd database at ${source}`);
  if (existsSync(out)) throw new Error(`${out} exists; choose a new file (a backup never overwrites one)`);
  const started = Date.now();
  const partial = `${out}.partial-${process.pid}`;
  // A second connection beside the running flexd's (WAL mode allows it); it only reads. Not opened
  // read-only: that would fail on a stopped flexd's database, whose -shm file is gone.
  const db = new Database(source, { fileMustExist: true, timeout: BUSY_TIMEOUT_MS });
  let pages = 0;
  try {
    await db.backup(partial, { progress: ({ totalPages }) => { pages = totalPages; return Math.max(totalPages, 1); } });
  } catch (err) {
    rmSync(partial, { force: true });
    throw err;
  } finally {
    db.close();
  }
  try {
    chmodSync(partial, 0o600);
    const copy = new Database(partial);
    try {
      const check = copy.pragma('quick_check', { simple: true });
      if (check !== 'ok') throw new Error(`the copy failed SQLite's quick_check: ${String(check)}`);
      copy.pragma('journal_mode = DELETE');
    } finally {
      copy.close();
    }
    renameSync(partial, out);
  } catch (err) {
    rmSync(partial, { force: true });
    throw err;
  }
  return { file: out, bytes: statSync(out).size, pages, ms: Date.now() - started };
}
