import Database from 'better-sqlite3';
import { closeSync, constants, existsSync, fstatSync, linkSync, mkdtempSync, openSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The database file inside a data dir (store/index.ts). */
export const DATABASE_FILE = 'flexd.db';
/** How long the backup waits for a write lock the running flexd holds (a log batch, a deploy's insert). */
const BUSY_TIMEOUT_MS = 10_000;

export interface BackupResult { file: string; bytes: number; pages: number; ms: number }

/**
 * A consistent copy of a data dir's database while flexd may be running: SQLite's online backup
 * API through a second connection, one step for all pages (in WAL mode the running flexd keeps
 * writing meanwhile; a copy in small steps would start over after each of its writes). It holds
 * every secret and password hash, so (docs/security.md, "Another local account"):
 *
 *   - the copy is written in a private folder made beside `out` (mkdtemp, 0700): nobody else can
 *     plant a file or a link at the name it writes, nor open it while it is written;
 *   - its file is created there by flexd, exclusively, without following links, mode 0600 from
 *     its first byte; SQLite then writes into that file;
 *   - checked (`quick_check`), switched to a self-contained rollback journal, and put in place
 *     with link(2), which never replaces nor follows what is at `out` (it fails if anything is).
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
  const privateDir = mkdtempSync(join(dirname(out), '.flexd-backup-'));
  try {
    const partial = join(privateDir, 'flexd.db');
    closeSync(createPrivateFile(partial));
    const pages = await copyDatabase(source, partial);
    const copy = new Database(partial);
    try {
      const check = copy.pragma('quick_check', { simple: true });
      if (check !== 'ok') throw new Error(`the copy failed SQLite's quick_check: ${String(check)}`);
      copy.pragma('journal_mode = DELETE');
    } finally {
      copy.close();
    }
    try {
      linkSync(partial, out);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new Error(`${out} appeared while the backup was written; the backup was not put there`);
      throw err;
    }
    return { file: out, bytes: statSync(out).size, pages, ms: Date.now() - started };
  } finally {
    rmSync(privateDir, { recursive: true, force: true });
  }
}

/** A new regular file, created exclusively (never through a link), 0600 from the start. Returns its descriptor. */
function createPrivateFile(path: string): number {
  const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  if (!fstatSync(fd).isFile()) {
    closeSync(fd);
    throw new Error(`${path} is not a regular file`);
  }
  return fd;
}

/**
 * SQLite's online backup of `source` into the (empty, private) file `into`, one step for all
 * pages. Returns the page count.
 */
async function copyDatabase(source: string, into: string): Promise<number> {
  // A second connection beside the running flexd's (WAL mode allows it); it only reads. Not opened
  // read-only: that would fail on a stopped flexd's database, whose -shm file is gone.
  const db = new Database(source, { fileMustExist: true, timeout: BUSY_TIMEOUT_MS });
  let pages = 0;
  try {
    await db.backup(into, { progress: ({ totalPages }) => { pages = totalPages; return Math.max(totalPages, 1); } });
  } finally {
    db.close();
  }
  return pages;
}
