// Only types: this module is also bundled into the log thread, which loads better-sqlite3 itself.
import type { Db } from './db.ts';
import type { SqlClient } from './sql.ts';

export interface LogRecord {
  environmentId: string;
  containerId: string;
  timestamp: string;
  threshold: string | null;
  message: string;
}

export interface LogRow { _id: string; containerId: string; timestamp: string; threshold: string | null; message: string }

export interface LogQuery { from?: string; to?: string; limit: number; page: number }

/** Bytes each environment's records count against its ring cap, by environment id. */
export type RingTotals = Record<string, number>;

const COLUMNS = 'id, container_id AS "containerId", timestamp, threshold, message';

/**
 * The read side of the log records, on the runtime's own connection: queries, `logs --follow`,
 * and each environment's ring total as the writer last reported it. Writes (inserts, trimming,
 * deletion) go through a LogSink: on SQLite the LogRing on the log thread's connection
 * (logs/store-thread.ts), so a flood of lines never takes the event loop that routes requests.
 */
export class LogStore {
  private readonly totals = new Map<string, number>();

  constructor(private readonly db: SqlClient) {}

  /** The newest `limit` records, oldest first (rt.logs). */
  async latest(environmentId: string, limit: number): Promise<LogRow[]> {
    return toRows(await this.db.all(`SELECT ${COLUMNS} FROM logs WHERE environment_id = ? ORDER BY id DESC LIMIT ?`, [environmentId, limit])).reverse();
  }

  /** Oldest first, as kinvey-cli prints them. `page` counts from 1. */
  async query(environmentId: string, q: LogQuery): Promise<LogRow[]> {
    const offset = (q.page - 1) * q.limit;
    const where: string[] = [];
    const params: unknown[] = [environmentId];
    if (q.from) { where.push(' AND timestamp >= ?'); params.push(q.from); }
    if (q.to) { where.push(' AND timestamp <= ?'); params.push(q.to); }
    return toRows(await this.db.all(`SELECT ${COLUMNS} FROM logs WHERE environment_id = ?${where.join('')} ORDER BY id LIMIT ? OFFSET ?`,
      [...params, q.limit, offset]));
  }

  /** The newest `limit` records, oldest first (the status page's first screen). */
  tail(environmentId: string, limit: number): Promise<LogRow[]> {
    return this.latest(environmentId, limit);
  }

  /** Records newer than `afterId`, for `logs --follow`. */
  async since(environmentId: string, afterId: number, limit: number): Promise<LogRow[]> {
    return toRows(await this.db.all(`SELECT ${COLUMNS} FROM logs WHERE environment_id = ? AND id > ? ORDER BY id LIMIT ?`, [environmentId, afterId, limit]));
  }

  /** The environment's records as stored (not as last reported): how many, and the bytes they count against its cap. */
  async stored(environmentId: string): Promise<{ rows: number; bytes: number }> {
    const row = await this.db.get<{ rows: number | string; bytes: number | string }>(
      'SELECT COUNT(*) AS rows, COALESCE(SUM(bytes), 0) AS bytes FROM logs WHERE environment_id = ?', [environmentId]);
    return { rows: Number(row!.rows), bytes: Number(row!.bytes) };
  }

  /** What the environment's ring holds, in bytes, as of the last batch the log thread stored (flush first). */
  bytes(environmentId: string): number {
    return this.totals.get(environmentId) ?? 0;
  }

  /** The writer's report after a batch: the ring totals of the environments it touched. */
  recordTotals(totals: Readonly<RingTotals>): void {
    for (const [id, bytes] of Object.entries(totals)) {
      if (bytes > 0) this.totals.set(id, bytes);
      else this.totals.delete(id);
    }
  }
}

/**
 * The write side: each environment's records kept as a ring capped by bytes. When an
 * environment's total passes its cap, its oldest records go first. Owns the running totals, so
 * one LogRing (one connection) writes the logs table; it runs on the log thread.
 */
export class LogRing {
  private readonly totals = new Map<string, number>();
  private readonly insert;
  private readonly oldest;
  private readonly deletePrefix;
  private readonly deleteAll;

  constructor(private readonly db: Db) {
    this.insert = db.prepare('INSERT INTO logs (environment_id, container_id, timestamp, threshold, message, bytes) VALUES (?, ?, ?, ?, ?, ?)');
    this.oldest = db.prepare('SELECT id, bytes FROM logs WHERE environment_id = ? ORDER BY id');
    this.deletePrefix = db.prepare('DELETE FROM logs WHERE environment_id = ? AND id <= ?');
    this.deleteAll = db.prepare('DELETE FROM logs WHERE environment_id = ?');
    for (const row of db.prepare('SELECT environment_id AS id, SUM(bytes) AS total FROM logs GROUP BY environment_id').all() as { id: string; total: number }[]) {
      this.totals.set(row.id, row.total);
    }
  }

  /**
   * Stores records in one transaction, then trims every environment they touched to its cap
   * (`caps` by environment id). Returns the totals of those environments.
   */
  append(records: readonly LogRecord[], caps: Readonly<RingTotals>): RingTotals {
    const touched: RingTotals = {};
    // IMMEDIATE: take the write lock first, so waiting on the runtime's connection goes through busy_timeout.
    this.db.transaction(() => {
      for (const r of records) {
        const bytes = recordBytes(r);
        this.insert.run(r.environmentId, r.containerId, r.timestamp, r.threshold, r.message, bytes);
        this.totals.set(r.environmentId, (this.totals.get(r.environmentId) ?? 0) + bytes);
        touched[r.environmentId] = 0;
      }
      for (const id of Object.keys(touched)) touched[id] = this.trim(id, caps[id] ?? Infinity);
    }).immediate();
    return touched;
  }

  deleteEnvironment(environmentId: string): void {
    this.deleteAll.run(environmentId);
    this.totals.delete(environmentId);
  }

  /** Every environment's total: what the thread reports when it starts. */
  all(): RingTotals {
    return Object.fromEntries(this.totals);
  }

  private trim(environmentId: string, capBytes: number): number {
    let total = this.totals.get(environmentId) ?? 0;
    if (total <= capBytes) return total;
    // Walk from the oldest record, summing until enough is freed, then delete that prefix at once.
    let lastId = -1;
    for (const row of this.oldest.iterate(environmentId) as Iterable<{ id: number; bytes: number }>) {
      total -= row.bytes;
      lastId = row.id;
      if (total <= capBytes) break;
    }
    this.deletePrefix.run(environmentId, lastId);
    this.totals.set(environmentId, total);
    return total;
  }
}

/** What a record costs against the ring cap: its text plus a fixed overhead for the row. */
export function recordBytes(r: LogRecord): number {
  return Buffer.byteLength(r.message) + 64;
}

function toRows(rows: unknown[]): LogRow[] {
  return (rows as (Omit<LogRow, '_id'> & { id: number | string })[]).map(({ id, ...rest }) => ({ _id: String(id), ...rest }));
}
