import Database from 'better-sqlite3';
import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { MIGRATIONS } from './migrations.ts';

export type Db = Database.Database;

/**
 * Opens (creating if needed) flexd's SQLite database and brings its schema up to date.
 * WAL so readers never wait on the log writer; synchronous=FULL because control data
 * (deploys, versions) is rare and must survive power loss (DESIGN.md, decision 5).
 */
export function openDatabase(file: string): Db {
  mkdirSync(dirname(file), { recursive: true });
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  migrate(db);
  // Replicas may be able to enter the data dir (see supervisor/sandbox.ts), never read the database.
  for (const f of [file, `${file}-wal`, `${file}-shm`]) if (existsSync(f)) chmodSync(f, 0o600);
  return db;
}

function migrate(db: Db): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > MIGRATIONS.length) {
    throw new Error(`database schema version ${current} is newer than this flexd knows (${MIGRATIONS.length}); upgrade flexd`);
  }
  for (let n = current; n < MIGRATIONS.length; n++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[n]);
      db.pragma(`user_version = ${n + 1}`);
    })();
  }
}
