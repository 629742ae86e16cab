import { statementCache, type Db } from './db.ts';
import { newId, nowIso } from './ids.ts';

export interface OrganizationRow { id: string; name: string; createdAt: string }
export interface UserRow { id: string; email: string; passwordHash: string; createdAt: string }

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

  createUser(email: string, passwordHash: string): UserRow {
    const row = { id: newId(), email, passwordHash, createdAt: nowIso() };
    this.sql('INSERT INTO users (id, email, password_hash, created_at) VALUES (?, ?, ?, ?)').run(row.id, row.email, row.passwordHash, row.createdAt);
    return row;
  }

  findUserByEmail(email: string): UserRow | undefined {
    return this.sql('SELECT id, email, password_hash AS passwordHash, created_at AS createdAt FROM users WHERE email = ?').get(email) as UserRow | undefined;
  }

  getUser(id: string): UserRow | undefined {
    return this.sql('SELECT id, email, password_hash AS passwordHash, created_at AS createdAt FROM users WHERE id = ?').get(id) as UserRow | undefined;
  }

  createSession(tokenHash: string, userId: string, expiresAt: number): void {
    this.sql('INSERT INTO sessions (token_hash, user_id, expires_at) VALUES (?, ?, ?)').run(tokenHash, userId, expiresAt);
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
