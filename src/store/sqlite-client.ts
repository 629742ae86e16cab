import type Database from 'better-sqlite3';
import type { Db } from './db.ts';
import { SQLITE, type SqlClient } from './sql.ts';

/**
 * The store's queries on better-sqlite3, which stays synchronous inside: each call runs at once
 * and hands back a settled promise. Statements are prepared once per SQL text (preparing costs
 * more than running a simple lookup).
 *
 * A transaction spans awaits, so while one is open every other caller's statement waits for it
 * to end: on one connection it would otherwise join (and share the fate of) that transaction.
 */
export class SqliteClient implements SqlClient {
  readonly dialect = SQLITE;
  private readonly statements = new Map<string, Database.Statement>();
  /** Settles when the open transaction ends; null while none is open. */
  private open: Promise<void> | null = null;

  constructor(readonly db: Db) {}

  async all<T>(sql: string, params: readonly unknown[] = []): Promise<T[]> {
    while (this.open) await this.open;
    return this.statement(sql).all(...params) as T[];
  }

  async get<T>(sql: string, params: readonly unknown[] = []): Promise<T | undefined> {
    while (this.open) await this.open;
    return this.statement(sql).get(...params) as T | undefined;
  }

  async run(sql: string, params: readonly unknown[] = []): Promise<{ changes: number }> {
    while (this.open) await this.open;
    return { changes: this.statement(sql).run(...params).changes };
  }

  async transaction<T>(work: (tx: SqlClient) => Promise<T>): Promise<T> {
    while (this.open) await this.open;
    let end!: () => void;
    this.open = new Promise((resolve) => { end = resolve; });
    try {
      // IMMEDIATE: take the write lock first, so waiting on the log thread's connection goes through busy_timeout.
      this.db.exec('BEGIN IMMEDIATE');
      try {
        const result = await work(this.inside());
        this.db.exec('COMMIT');
        return result;
      } catch (err) {
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
        throw err;
      }
    } finally {
      this.open = null;
      end();
    }
  }

  /** The statements of the open transaction: they run at once, not after it. */
  private inside(): SqlClient {
    return {
      dialect: this.dialect,
      all: async <T>(sql: string, params: readonly unknown[] = []) => this.statement(sql).all(...params) as T[],
      get: async <T>(sql: string, params: readonly unknown[] = []) => this.statement(sql).get(...params) as T | undefined,
      run: async (sql: string, params: readonly unknown[] = []) => ({ changes: this.statement(sql).run(...params).changes }),
      transaction: (work) => work(this.inside()),
    };
  }

  private statement(sql: string): Database.Statement {
    let stmt = this.statements.get(sql);
    if (!stmt) {
      stmt = this.db.prepare(sql);
      this.statements.set(sql, stmt);
    }
    return stmt;
  }
}
