import { join } from 'node:path';
import { openDatabase, type Db } from './db.ts';
import { AccountStore } from './accounts.ts';
import { ServiceStore } from './services.ts';
import { VersionStore } from './versions.ts';
import { DependencyTreeStore } from './dependency-trees.ts';
import { JobStore } from './jobs.ts';
import { LogStore } from './logs.ts';
import { LoginThrottleStore } from './login-throttle.ts';
import { SqliteClient } from './sqlite-client.ts';
import type { SqlClient } from './sql.ts';
import { DATABASE_FILE } from './backup.ts';

export type { EnvironmentRow, ServiceRow } from './services.ts';
export type { VersionRow } from './versions.ts';
export type { DependencyTreeRow } from './dependency-trees.ts';
export type { Claim, JobRow, JobStatus, JobType } from './jobs.ts';
export type { Fence } from './fence.ts';
export type { LogRecord, LogRow } from './logs.ts';

/**
 * flexd's persistent state, behind one asynchronous interface whatever the engine: SQLite in the
 * data dir (the default), or PostgreSQL shared by several nodes. Every method returns a promise;
 * the table groups are separate classes over one SqlClient (sql.ts).
 */
export interface Store {
  /** Which engine holds the data. */
  readonly backend: 'sqlite' | 'postgres';
  /** SQLite: the database file (the log thread opens its own connection to it). */
  readonly file?: string;
  readonly accounts: AccountStore;
  readonly services: ServiceStore;
  readonly versions: VersionStore;
  readonly dependencyTrees: DependencyTreeStore;
  readonly jobs: JobStore;
  readonly logs: LogStore;
  /** failed logins per key, counted by every node (accounts/throttle.ts) */
  readonly loginThrottle: LoginThrottleStore;
  /** 'ok', or what the engine's own check found broken. */
  integrityCheck(): Promise<string>;
  close(): Promise<void>;
}

/** The store of a data dir: its SQLite database, created and brought up to date as needed. */
export async function openStore(dataDir: string, node = ''): Promise<Store> {
  const file = join(dataDir, DATABASE_FILE);
  const db = openDatabase(file);
  const store: Store = {
    ...storeOver(new SqliteClient(db), 'sqlite', node, {
      integrityCheck: async () => (db.pragma('integrity_check') as { integrity_check: string }[]).map((r) => r.integrity_check).join('\n'),
      close: async () => { db.close(); },
    }),
    file,
  };
  SQLITE_HANDLES.set(store, db);
  return store;
}

/** The table groups over one client; `engine` adds what differs per engine. */
export function storeOver(client: SqlClient, backend: Store['backend'], node: string, engine: Pick<Store, 'integrityCheck' | 'close'>): Store {
  return {
    backend,
    accounts: new AccountStore(client),
    services: new ServiceStore(client),
    versions: new VersionStore(client),
    dependencyTrees: new DependencyTreeStore(client),
    jobs: new JobStore(client, node),
    logs: new LogStore(client),
    loginThrottle: new LoginThrottleStore(client),
    ...engine,
  };
}

const SQLITE_HANDLES = new WeakMap<object, Db>();

/**
 * The better-sqlite3 connection under a SQLite store: for what only SQLite has (online backup,
 * page limits in the disk-full tests). Throws on another engine.
 */
export function sqliteConnection(store: Store): Db {
  const db = SQLITE_HANDLES.get(store);
  if (!db) throw new Error(`the store is on ${store.backend}, not SQLite`);
  return db;
}
