import { statementCache, type Db } from './db.ts';
import { newId, nowIso } from './ids.ts';

export interface OrganizationRow { id: string; name: string; createdAt: string }
/**
 * What an account may do (docs/management-api.md, Roles): `viewer` reads (lists, status, logs),
 * `deployer` also changes services, environments, variables and deploys, `admin` also manages
 * accounts. Ordered from least to most.
 */
export const ROLES = ['viewer', 'deployer', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export interface UserRow { id: string; email: string; passwordHash: string; role: Role; createdAt: string }

const USER_COLUMNS = 'id, email, password_hash AS passwordHash, role, created_at AS createdAt';

/** Organizations, users and their management sessions. Only hashes of passwords and tokens are stored. */
export class AccountStore {
  private readonly sql: ReturnType<typeof statementCache>;

  constructor(private readonly db: Db) {
    this.sql = statementCache(db);
  }

  listOrganizations(): OrganizationRow[] {
    return this.sql('SELECT id, name, created_at AS createdAt FROM organizations ORDER BY created_at').all() as OrganizationRow[];
  }

  getOrganization(id: string): OrganizationRow | undefined {
    return this.sql('SELECT id, name, created_at AS createdAt FROM organizations WHERE id = ?').get(id) as OrganizationRow | undefined;
  }

  /** The organization created on first start; new services belong to it unless told otherwise. */
  defaultOrganization(): OrganizationRow {
    const existing = this.listOrganizations()[0];
    if (existing) return existing;
    const row = { id: newId(), name: 'Default', createdAt: nowIso() };
    this.sql('INSERT INTO organizations (id, name, created_at) VALUES (?, ?, ?)').run(row.id, row.name, row.createdAt);
    return row;
  }

  countUsers(): number {
    return (this.sql('SELECT COUNT(*) AS n FROM users').get() as { n: number }).n;
  }

  createUser(email: string, passwordHash: string, role: Role = 'admin'): UserRow {
    const row = { id: newId(), email, passwordHash, role, createdAt: nowIso() };
    this.sql('INSERT INTO users (id, email, password_hash, role, created_at) VALUES (?, ?, ?, ?, ?)')
      .run(row.id, row.email, row.passwordHash, row.role, row.createdAt);
    return row;
  }

  listUsers(): UserRow[] {
    return this.sql(`SELECT ${USER_COLUMNS} FROM users ORDER BY created_at, email`).all() as UserRow[];
  }

  countAdmins(): number {
    return (this.sql("SELECT COUNT(*) AS n FROM users WHERE role = 'admin'").get() as { n: number }).n;
  }

  /** E-mails compare without case (the column is COLLATE NOCASE). */
  findUserByEmail(email: string): UserRow | undefined {
    return this.sql(`SELECT ${USER_COLUMNS} FROM users WHERE email = ?`).get(email) as UserRow | undefined;
  }

  getUser(id: string): UserRow | undefined {
    return this.sql(`SELECT ${USER_COLUMNS} FROM users WHERE id = ?`).get(id) as UserRow | undefined;
  }

  setRole(userId: string, role: Role): void {
    this.sql('UPDATE users SET role = ? WHERE id = ?').run(role, userId);
  }

  setPasswordHash(userId: string, passwordHash: string): void {
    this.sql('UPDATE users SET password_hash = ? WHERE id = ?').run(passwordHash, userId);
  }

  /** Removes the account; its sessions go with it (ON DELETE CASCADE), so its tokens stop working at once. */
  deleteUser(userId: string): void {
    this.sql('DELETE FROM sessions WHERE user_id = ?').run(userId);
    this.sql('DELETE FROM users WHERE id = ?').run(userId);
  }

  /**
   * Stores a new session and keeps at most `maxPerUser` of the user's live sessions: the oldest
   * (soonest to expire) end first, so a script that logs in on every run cannot pile up rows.
   */
  createSession(tokenHash: string, userId: string, expiresAt: number, maxPerUser = Infinity): void {
    this.db.transaction(() => {
      this.sql('INSERT INTO sessions (token_hash, user_id, expires_at) VALUES (?, ?, ?)').run(tokenHash, userId, expiresAt);
      if (Number.isFinite(maxPerUser)) {
        this.sql(`DELETE FROM sessions WHERE user_id = ? AND token_hash NOT IN
          (SELECT token_hash FROM sessions WHERE user_id = ? ORDER BY expires_at DESC LIMIT ?)`).run(userId, userId, maxPerUser);
      }
    })();
  }

  countSessions(userId: string): number {
    return (this.sql('SELECT COUNT(*) AS n FROM sessions WHERE user_id = ?').get(userId) as { n: number }).n;
  }

  /** Ends every session of the user except `keepTokenHash` (after a password change: the other devices log in again). */
  deleteSessionsOf(userId: string, keepTokenHash?: string): void {
    this.sql('DELETE FROM sessions WHERE user_id = ? AND token_hash != ?').run(userId, keepTokenHash ?? '');
  }

  /** The user of a live session, looked up by the token's hash (an index lookup, not a string comparison of secrets). */
  sessionUser(tokenHash: string, now: number): UserRow | undefined {
    const row = this.sql('SELECT user_id AS userId, expires_at AS expiresAt FROM sessions WHERE token_hash = ?').get(tokenHash) as { userId: string; expiresAt: number } | undefined;
    if (!row) return undefined;
    if (row.expiresAt <= now) {
      this.deleteSession(tokenHash);
      return undefined;
    }
    return this.getUser(row.userId);
  }

  deleteSession(tokenHash: string): void {
    this.sql('DELETE FROM sessions WHERE token_hash = ?').run(tokenHash);
  }

  deleteExpiredSessions(now: number): void {
    this.sql('DELETE FROM sessions WHERE expires_at <= ?').run(now);
  }
}
