import type { SqlClient } from './sql.ts';
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

const USER_COLUMNS = 'id, email, password_hash AS "passwordHash", role, created_at AS "createdAt"';
const ORGANIZATION_COLUMNS = 'id, name, created_at AS "createdAt"';

/** Organizations, users and their management sessions. Only hashes of passwords and tokens are stored. */
export class AccountStore {
  constructor(private readonly db: SqlClient) {}

  listOrganizations(): Promise<OrganizationRow[]> {
    return this.db.all<OrganizationRow>(`SELECT ${ORGANIZATION_COLUMNS} FROM organizations ORDER BY created_at`);
  }

  getOrganization(id: string): Promise<OrganizationRow | undefined> {
    return this.db.get<OrganizationRow>(`SELECT ${ORGANIZATION_COLUMNS} FROM organizations WHERE id = ?`, [id]);
  }

  /** The organization created on first start; new services belong to it unless told otherwise. */
  async defaultOrganization(): Promise<OrganizationRow> {
    const existing = (await this.listOrganizations())[0];
    if (existing) return existing;
    // Two nodes starting at once on one database: the name is unique, so the second keeps the first one's.
    await this.db.run('INSERT INTO organizations (id, name, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING', [newId(), 'Default', nowIso()]);
    return (await this.listOrganizations())[0];
  }

  async countUsers(): Promise<number> {
    return (await this.db.get<{ n: number }>('SELECT CAST(COUNT(*) AS INTEGER) AS n FROM users'))!.n;
  }

  async createUser(email: string, passwordHash: string, role: Role = 'admin'): Promise<UserRow> {
    const row = { id: newId(), email, passwordHash, role, createdAt: nowIso() };
    await this.db.run('INSERT INTO users (id, email, password_hash, role, created_at) VALUES (?, ?, ?, ?, ?)',
      [row.id, row.email, row.passwordHash, row.role, row.createdAt]);
    return row;
  }

  /**
   * The first account, made only while there is none: false when another node (several nodes
   * starting together on one new database) made one first. Never two first admins.
   */
  async createFirstUser(email: string, passwordHash: string, role: Role = 'admin'): Promise<boolean> {
    try {
      const { changes } = await this.db.run(`INSERT INTO users (id, email, password_hash, role, created_at)
        SELECT ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM users)`, [newId(), email, passwordHash, role, nowIso()]);
      return changes > 0;
    } catch (err) {
      // Two nodes inserting the same e-mail at once: the other one's stands.
      const code = String((err as { code?: unknown }).code ?? '');
      if (code === '23505' || code.startsWith('SQLITE_CONSTRAINT')) return false;
      throw err;
    }
  }

  listUsers(): Promise<UserRow[]> {
    return this.db.all<UserRow>(`SELECT ${USER_COLUMNS} FROM users ORDER BY created_at, email`);
  }

  async countAdmins(): Promise<number> {
    return (await this.db.get<{ n: number }>("SELECT CAST(COUNT(*) AS INTEGER) AS n FROM users WHERE role = 'admin'"))!.n;
  }

  /** E-mails compare without case (SQLite: the column is COLLATE NOCASE; PostgreSQL: a unique index on lower(email)). */
  findUserByEmail(email: string): Promise<UserRow | undefined> {
    return this.db.get<UserRow>(`SELECT ${USER_COLUMNS} FROM users WHERE lower(email) = lower(?)`, [email]);
  }

  getUser(id: string): Promise<UserRow | undefined> {
    return this.db.get<UserRow>(`SELECT ${USER_COLUMNS} FROM users WHERE id = ?`, [id]);
  }

  async setRole(userId: string, role: Role): Promise<void> {
    await this.db.run('UPDATE users SET role = ? WHERE id = ?', [role, userId]);
  }

  async setPasswordHash(userId: string, passwordHash: string): Promise<void> {
    await this.db.run('UPDATE users SET password_hash = ? WHERE id = ?', [passwordHash, userId]);
  }

  /** Removes the account and its sessions, so its tokens stop working at once. */
  async deleteUser(userId: string): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx.run('DELETE FROM sessions WHERE user_id = ?', [userId]);
      await tx.run('DELETE FROM users WHERE id = ?', [userId]);
    });
  }

  /**
   * Stores a new session and keeps at most `maxPerUser` of the user's live sessions: the oldest
   * (soonest to expire) end first, so a script that logs in on every run cannot pile up rows.
   */
  async createSession(tokenHash: string, userId: string, expiresAt: number, maxPerUser = Infinity): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx.run('INSERT INTO sessions (token_hash, user_id, expires_at) VALUES (?, ?, ?)', [tokenHash, userId, expiresAt]);
      if (Number.isFinite(maxPerUser)) {
        await tx.run(`DELETE FROM sessions WHERE user_id = ? AND token_hash NOT IN
          (SELECT token_hash FROM sessions WHERE user_id = ? ORDER BY expires_at DESC LIMIT ?)`, [userId, userId, maxPerUser]);
      }
    });
  }

  async countSessions(userId?: string): Promise<number> {
    const row = userId === undefined
      ? await this.db.get<{ n: number }>('SELECT CAST(COUNT(*) AS INTEGER) AS n FROM sessions')
      : await this.db.get<{ n: number }>('SELECT CAST(COUNT(*) AS INTEGER) AS n FROM sessions WHERE user_id = ?', [userId]);
    return row!.n;
  }

  /** Ends every session of the user except `keepTokenHash` (after a password change: the other devices log in again). */
  async deleteSessionsOf(userId: string, keepTokenHash?: string): Promise<void> {
    await this.db.run('DELETE FROM sessions WHERE user_id = ? AND token_hash != ?', [userId, keepTokenHash ?? '']);
  }

  /** The user of a live session, looked up by the token's hash (an index lookup, not a string comparison of secrets). */
  async sessionUser(tokenHash: string, now: number): Promise<UserRow | undefined> {
    const row = await this.db.get<{ userId: string; expiresAt: number }>(
      'SELECT user_id AS "userId", expires_at AS "expiresAt" FROM sessions WHERE token_hash = ?', [tokenHash]);
    if (!row) return undefined;
    if (Number(row.expiresAt) <= now) {
      await this.deleteSession(tokenHash);
      return undefined;
    }
    return this.getUser(row.userId);
  }

  async deleteSession(tokenHash: string): Promise<void> {
    await this.db.run('DELETE FROM sessions WHERE token_hash = ?', [tokenHash]);
  }

  async deleteExpiredSessions(now: number): Promise<void> {
    await this.db.run('DELETE FROM sessions WHERE expires_at <= ?', [now]);
  }
}
