/**
 * Numbered schema migrations. Each runs once, in order, inside a transaction; the number of
 * the last one applied is kept in `PRAGMA user_version`. Never edit a released migration:
 * add the next number.
 */
export const MIGRATIONS: readonly string[] = [
  // 1: the control data
  `
  CREATE TABLE organizations (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
  );
  CREATE TABLE users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT NOT NULL,
    created_at TEXT NOT NULL
  );
  CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    expires_at INTEGER NOT NULL
  );
  CREATE TABLE services (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations(id),
    name TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
  );
  CREATE TABLE environments (
    id TEXT PRIMARY KEY,
    service_id TEXT NOT NULL REFERENCES services(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    secret TEXT NOT NULL DEFAULT '',
    env_vars TEXT NOT NULL DEFAULT '{}',
    runtime TEXT,
    settings TEXT NOT NULL DEFAULT '{}',
    description TEXT,
    active_version_id TEXT,
    requested_version TEXT,
    requested_at TEXT,
    deployer_email TEXT,
    suspended_reason TEXT,
    last_error TEXT,
    created_at TEXT NOT NULL,
    UNIQUE (service_id, name)
  );
  CREATE TABLE versions (
    id TEXT PRIMARY KEY,
    environment_id TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    version TEXT NOT NULL,
    bundle BLOB NOT NULL,
    hash TEXT NOT NULL,
    size INTEGER NOT NULL,
    sdk_version TEXT,
    runtime TEXT,
    created_at TEXT NOT NULL,
    UNIQUE (environment_id, version)
  );
  CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    service_id TEXT,
    environment_id TEXT,
    status TEXT NOT NULL,
    progress TEXT NOT NULL DEFAULT '',
    params TEXT NOT NULL DEFAULT '{}',
    user_email TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
  );
  CREATE INDEX jobs_environment ON jobs(environment_id, created_at);
  CREATE TABLE logs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    environment_id TEXT NOT NULL,
    container_id TEXT NOT NULL,
    timestamp TEXT NOT NULL,
    threshold TEXT,
    message TEXT NOT NULL,
    bytes INTEGER NOT NULL
  );
  CREATE INDEX logs_environment ON logs(environment_id, id);
  CREATE INDEX logs_environment_time ON logs(environment_id, timestamp);
  `,
  // 2: which deploy job stored a version, so a job cut short by a crash of flexd can take back
  // the version it stored but never activated (jobs.failUnfinished)
  `
  ALTER TABLE versions ADD COLUMN job_id TEXT;
  `,
  // 3: accounts get a role (admin | deployer | viewer); the accounts that exist are the admins
  // they were before roles. Services get a description (kinvey-cli's `service apply` sends one).
  `
  ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'admin';
  ALTER TABLE services ADD COLUMN description TEXT;
  CREATE INDEX sessions_user ON sessions(user_id, expires_at);
  `,
  // 4: each environment's account slot: as root, its replicas run as uid/gid uidRangeStart + 1 + slot
  // (src/isolation/accounts.ts). Unique among live environments; a deleted one's slot is reused.
  `
  ALTER TABLE environments ADD COLUMN account_slot INTEGER;
  UPDATE environments SET account_slot = (SELECT COUNT(*) FROM environments AS e WHERE e.rowid < environments.rowid);
  CREATE UNIQUE INDEX environments_account_slot ON environments(account_slot);
  `,
  // 5: installed dependency trees (node_modules as npm left it, a gzip'ed tar), stored once by
  // what determined them and shared by the versions built with them; versions.bundle now holds
  // only the project's own files
  `
  CREATE TABLE dependency_trees (
    key TEXT PRIMARY KEY,
    tree BLOB NOT NULL,
    size INTEGER NOT NULL,
    sdk_version TEXT,
    notes TEXT NOT NULL DEFAULT '[]',
    native_addons INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    used_at TEXT NOT NULL
  );
  ALTER TABLE versions ADD COLUMN dependencies_key TEXT REFERENCES dependency_trees(key);
  ALTER TABLE versions ADD COLUMN native_addons INTEGER NOT NULL DEFAULT 0;
  CREATE INDEX versions_dependencies ON versions(dependencies_key);
  `,
  // 6: which node runs (or ran) each job: GET /v4/jobs/:id names it (one node on SQLite, several
  // on PostgreSQL, where a restarted node fails only its own unfinished jobs)
  `
  ALTER TABLE jobs ADD COLUMN node TEXT;
  `,
  // 7: several nodes' jobs (docs/scale-out.md, "Jobs"): each run of a job is an `attempt` that holds
  // a lease (`lease_until`, milliseconds on the database's clock) and fences every write it makes;
  // `request` is what a retaken job needs to start again, the upload in `job_uploads` until the
  // job ends. The login throttle's failures per key live here too, so every node counts them.
  `
  ALTER TABLE jobs ADD COLUMN attempt INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE jobs ADD COLUMN lease_until INTEGER;
  ALTER TABLE jobs ADD COLUMN request TEXT NOT NULL DEFAULT '{}';
  CREATE TABLE job_uploads (
    job_id TEXT PRIMARY KEY REFERENCES jobs(id) ON DELETE CASCADE,
    archive BLOB NOT NULL
  );
  CREATE TABLE login_throttle (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    failures INTEGER NOT NULL,
    last_at INTEGER NOT NULL,
    PRIMARY KEY (scope, key)
  );
  CREATE INDEX login_throttle_last ON login_throttle(last_at);
  `,
];
