// Only a type from db.ts: this module is also bundled into the log thread, which loads better-sqlite3 itself.
import type { Db } from './db.ts';

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

const COLUMNS = 'id, container_id AS containerId, timestamp, threshold, message';

/**
 * The read side of the log records, on the runtime's own connection: queries, `logs --follow`,
 * and each environment's ring total as the writer last reported it. Writes (inserts, trimming,
 * deletion) go through LogRing on the log thread's connection (logs/store-thread.ts), so a
 * flood of lines never takes the event loop that routes requests.
 */
export class LogStore {
  private readonly totals = new Map<string, number>();
  private readonly byRange;
  private readonly byFrom;
  private readonly byTo;
  private readonly byEnvironment;
  private readonly after;
  private readonly newest;

  constructor(db: Db) {
    const page = (where: string) => db.prepare(`SELECT ${COLUMNS} FROM logs WHERE environment_id = ?${where} ORDER BY id LIMIT ? OFFSET ?`);
    this.byRange = page(' AND timestamp >= ? AND timestamp <= ?');
    this.byFrom = page(' AND timestamp >= ?');
    this.byTo = page(' AND timestamp <= ?');
    this.byEnvironment = page('');
    this.newest = db.prepare(`SELECT ${COLUMNS} FROM logs WHERE environment_id = ? ORDER BY id DESC LIMIT ?`);
    this.after = db.prepare(`SELECT ${COLUMNS} FROM logs WHERE environment_id = ? AND id > ? ORDER BY id LIMIT ?`);
    this.newest = db.prepare(`SELECT ${COLUMNS} FROM logs WHERE environment_id = ? ORDER BY id DESC LIMIT ?`);
  }

  /** The newest `limit` records, oldest first (rt.logs). */
  latest(environmentId: string, limit: number): LogRow[] {
    return toRows(this.newest.all(environmentId, limit)).reverse();
  }

  /** Oldest first, as kinvey-cli prints them. `page` counts from 1. */
  query(environmentId: string, q: LogQuery): LogRow[] {
    const offset = (q.page - 1) * q.limit;
    const rows = q.from && q.to ? this.byRange.all(environmentId, q.from, q.to, q.limit, offset)
      : q.from ? this.byFrom.all(environmentId, q.from, q.limit, offset)
        : q.to ? this.byTo.all(environmentId, q.to, q.limit, offset)
          : this.byEnvironment.all(environmentId, q.limit, offset);
    return toRows(rows);
  }

  /** The newest `limit` records, oldest first (the status page's first screen). */
  tail(environmentId: string, limit: number): LogRow[] {
    return toRows(this.newest.all(environmentId, limit)).reverse();
  }

  /** Records newer than `afterId`, for `logs --follow`. */
  since(environmentId: string, afterId: number, limit: number): LogRow[] {
    return toRows(this.after.all(environmentId, afterId, limit));
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
function recordBytes(r: LogRecord): number {
  return Buffer.byteLength(r.message) + 64;
}

function toRows(rows: unknown[]): LogRow[] {
  return (rows as (Omit<LogRow, '_id'> & { id: number })[]).map(({ id, ...rest }) => ({ _id: String(id), ...rest }));
}
