import { join } from 'node:path';
import { openDatabase, type Db } from './db.ts';
import { AccountStore } from './accounts.ts';
import { ServiceStore } from './services.ts';
import { VersionStore } from './versions.ts';
import { DependencyTreeStore } from './dependency-trees.ts';
import { JobStore } from './jobs.ts';
import { LogStore } from './logs.ts';

export type { EnvironmentRow, ServiceRow } from './services.ts';
export type { VersionRow } from './versions.ts';
export type { DependencyTreeRow } from './dependency-trees.ts';
export type { JobRow, JobStatus, JobType } from './jobs.ts';
export type { LogRecord, LogRow } from './logs.ts';

/**
 * flexd's persistent state. Today SQLite in the data dir; the table groups are separate
 * classes so another engine can stand behind the same interface (DESIGN.md, beyond one machine).
 */
export interface Store {
  readonly db: Db;
  readonly accounts: AccountStore;
  readonly services: ServiceStore;
  readonly versions: VersionStore;
  readonly dependencyTrees: DependencyTreeStore;
  readonly jobs: JobStore;
  readonly logs: LogStore;
  close(): void;
}

export function openStore(dataDir: string): Store {
  const db = openDatabase(join(dataDir, 'flexd.db'));
  return {
    db,
    accounts: new AccountStore(db),
    services: new ServiceStore(db),
    versions: new VersionStore(db),
    dependencyTrees: new DependencyTreeStore(db),
    jobs: new JobStore(db),
    logs: new LogStore(db),
    close: () => db.close(),
  };
}
