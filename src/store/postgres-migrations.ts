/**
 * PostgreSQL's schema, in numbered migrations run once, in order, by the first node that starts
 * (under a session advisory lock: the others wait, then find nothing to do); the number of the
 * last one applied is kept in `flexd_schema`. Never edit a released migration: add the next
 * number.
 *
 * Migration 1 is SQLite's schema at its version 5 (migrations.ts) in PostgreSQL's types, with
 * what several nodes need: the large values (a version's project tar, a dependency tree) in
 * tables of their own, never read with the row that describes them; a generation number per
 * environment; the jobs' lease and node; the nodes themselves.
 */
export const POSTGRES_MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE organizations (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
  );
  CREATE TABLE users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL DEFAULT 'admin',
    created_at TEXT NOT NULL
  );
  CREATE UNIQUE INDEX users_email ON users (lower(email));
  CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    expires_at BIGINT NOT NULL
  );
  CREATE INDEX sessions_user ON sessions(user_id, expires_at);
  CREATE TABLE services (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations(id),
    name TEXT NOT NULL UNIQUE,
    description TEXT,
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
    account_slot INTEGER,
    generation BIGINT NOT NULL DEFAULT 0,
    UNIQUE (service_id, name)
  );
  CREATE UNIQUE INDEX environments_account_slot ON environments(account_slot);
  CREATE TABLE dependency_trees (
    key TEXT PRIMARY KEY,
    size BIGINT NOT NULL,
    sdk_version TEXT,
    notes TEXT NOT NULL DEFAULT '[]',
    native_addons INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    used_at TEXT NOT NULL
  );
  CREATE TABLE dependency_tree_blobs (
    key TEXT PRIMARY KEY REFERENCES dependency_trees(key) ON DELETE CASCADE,
    tree BYTEA NOT NULL
  );
  CREATE TABLE versions (
    id TEXT PRIMARY KEY,
    environment_id TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    version TEXT NOT NULL,
    hash TEXT NOT NULL,
    size BIGINT NOT NULL,
    sdk_version TEXT,
    runtime TEXT,
    created_at TEXT NOT NULL,
    job_id TEXT,
    dependencies_key TEXT REFERENCES dependency_trees(key),
    native_addons INTEGER NOT NULL DEFAULT 0,
    UNIQUE (environment_id, version)
  );
  CREATE INDEX versions_dependencies ON versions(dependencies_key);
  CREATE TABLE version_blobs (
    version_id TEXT PRIMARY KEY REFERENCES versions(id) ON DELETE CASCADE,
    bundle BYTEA NOT NULL
  );
  CREATE TABLE jobs (
    seq BIGSERIAL UNIQUE,
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    service_id TEXT,
    environment_id TEXT,
    status TEXT NOT NULL,
    progress TEXT NOT NULL DEFAULT '',
    params TEXT NOT NULL DEFAULT '{}',
    user_email TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    node TEXT,
    attempt INTEGER NOT NULL DEFAULT 0,
    lease_until TIMESTAMPTZ
  );
  CREATE INDEX jobs_environment ON jobs(environment_id, created_at);
  CREATE INDEX jobs_open ON jobs(status, created_at) WHERE status IN ('QUEUED', 'BUILDING', 'DEPLOYING');
  CREATE TABLE job_uploads (
    job_id TEXT PRIMARY KEY REFERENCES jobs(id) ON DELETE CASCADE,
    archive BYTEA NOT NULL
  );
  CREATE TABLE logs (
    id BIGSERIAL PRIMARY KEY,
    environment_id TEXT NOT NULL,
    container_id TEXT NOT NULL,
    timestamp TEXT NOT NULL,
    threshold TEXT,
    message TEXT NOT NULL,
    bytes INTEGER NOT NULL
  );
  CREATE INDEX logs_environment ON logs(environment_id, id);
  CREATE INDEX logs_environment_time ON logs(environment_id, timestamp);
  CREATE TABLE log_totals (
    environment_id TEXT PRIMARY KEY,
    bytes BIGINT NOT NULL
  );
  CREATE TABLE nodes (
    name TEXT PRIMARY KEY,
    instance TEXT NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    last_seen TIMESTAMPTZ NOT NULL,
    flexd_version TEXT NOT NULL,
    url TEXT,
    stopped BOOLEAN NOT NULL DEFAULT FALSE,
    environments JSONB NOT NULL DEFAULT '[]'
  );
  CREATE TABLE login_failures (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    at BIGINT NOT NULL
  );
  CREATE INDEX login_failures_key ON login_failures(scope, key, at);
  `,
  // 2: what SQLite's migration 7 adds (the lease columns and job_uploads were here from 1): what a
  // retaken job needs to start again, and the login throttle's failures per key (one row per key,
  // counted by every node; login_failures was never used)
  `
  ALTER TABLE jobs ADD COLUMN request TEXT NOT NULL DEFAULT '{}';
  DROP TABLE login_failures;
  CREATE TABLE login_throttle (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    failures INTEGER NOT NULL,
    last_at BIGINT NOT NULL,
    PRIMARY KEY (scope, key)
  );
  CREATE INDEX login_throttle_last ON login_throttle(last_at);
  `,
];
