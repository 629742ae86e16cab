/**
 * The one seam between flexd's queries and a database engine (docs/architecture.md, "One store,
 * two engines"). The store's classes (accounts.ts, services.ts, …) hold their SQL once, with `?`
 * placeholders and quoted camelCase aliases; a client runs it on SQLite (sqlite-client.ts) or on
 * PostgreSQL (postgres-client.ts). Where the dialects differ, the difference is a field of
 * `Dialect`, so it stays in one place.
 */
export interface SqlClient {
  readonly dialect: Dialect;
  /** Every row the statement returns. */
  all<T>(sql: string, params?: readonly unknown[]): Promise<T[]>;
  /** The first row, or undefined. */
  get<T>(sql: string, params?: readonly unknown[]): Promise<T | undefined>;
  /** A statement that writes; `changes` counts the rows it touched. */
  run(sql: string, params?: readonly unknown[]): Promise<{ changes: number }>;
  /**
   * Runs `work` in one transaction on one connection: committed when it resolves, rolled back when
   * it throws. Keep it short: never across an npm install or a network call.
   */
  transaction<T>(work: (tx: SqlClient) => Promise<T>): Promise<T>;
}

export interface Dialect {
  readonly name: 'sqlite' | 'postgres';
  /** A column that orders rows by insertion where a timestamp ties (SQLite's rowid; a serial column on PostgreSQL). */
  readonly insertionOrder: string;
}

export const SQLITE: Dialect = { name: 'sqlite', insertionOrder: 'rowid' };
export const POSTGRES: Dialect = { name: 'postgres', insertionOrder: 'seq' };
