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
  /**
   * A job's lease end `?` milliseconds from now, on the database's clock (never a node's own:
   * clocks of nodes differ). PostgreSQL keeps a timestamptz, SQLite milliseconds since the epoch.
   */
  readonly leaseIn: string;
  /** True for a lease (`lease_until`) that has run out, on the database's clock. */
  readonly leaseExpired: string;
  /** Locks the selected rows for the transaction (nothing on SQLite, whose write transaction locks the whole file). */
  readonly forUpdate: string;
  /** …and skips rows another transaction holds locked (a job another node is claiming). */
  readonly skipLocked: string;
}

const SQLITE_NOW_MS = "CAST(unixepoch('subsec') * 1000 AS INTEGER)";

export const SQLITE: Dialect = {
  name: 'sqlite', insertionOrder: 'rowid',
  leaseIn: `(${SQLITE_NOW_MS} + CAST(? AS INTEGER))`, leaseExpired: `(lease_until IS NULL OR lease_until < ${SQLITE_NOW_MS})`,
  forUpdate: '', skipLocked: '',
};
export const POSTGRES: Dialect = {
  name: 'postgres', insertionOrder: 'seq',
  leaseIn: "(now() + CAST(? AS INTEGER) * INTERVAL '1 millisecond')", leaseExpired: '(lease_until IS NULL OR lease_until < now())',
  forUpdate: ' FOR UPDATE', skipLocked: ' FOR UPDATE SKIP LOCKED',
};
