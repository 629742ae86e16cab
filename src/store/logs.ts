import { statementCache, type Db } from './db.ts';

export interface LogRecord {
  environmentId: string;
  containerId: string;
  timestamp: string;
  threshold: string | null;
  message: string;
}

export interface LogRow { _id: string; containerId: string; timestamp: string; threshold: string | null; message: string }

export interface LogQuery { from?: string; to?: string; limit: number; page: number }

/**
 * Log records, kept per environment as a ring capped by bytes: when an environment's
 * total passes the cap, its oldest records are dropped first. Writes come in batches
 * (logs/writer.ts) so one transaction carries many lines.
 */
export class LogStore {
  private readonly insert;
  private readonly totals = new Map<string, number>();

  private readonly sql: ReturnType<typeof statementCache>;

  constructor(private readonly db: Db) {
    this.sql = statementCache(db);
    this.insert = db.prepare('INSERT INTO logs (environment_id, container_id, timestamp, threshold, message, bytes) VALUES (?, ?, ?, ?, ?, ?)');
    for (const row of db.prepare('SELECT environment_id AS id, SUM(bytes) AS total FROM logs GROUP BY environment_id').all() as { id: string; total: number }[]) {
      this.totals.set(row.id, row.total);
    }
  }

  /** Stores a batch in one transaction, then trims every environment it touched to `capBytes`. */
  append(records: readonly LogRecord[], capBytes: (environmentId: string) => number): void {
    const touched = new Set<string>();
    this.db.transaction(() => {
      for (const r of records) {
        const bytes = recordBytes(r);
        this.insert.run(r.environmentId, r.containerId, r.timestamp, r.threshold, r.message, bytes);
        this.totals.set(r.environmentId, (this.totals.get(r.environmentId) ?? 0) + bytes);
        touched.add(r.environmentId);
      }
      for (const id of touched) this.trim(id, capBytes(id));
    })();
  }

  bytes(environmentId: string): number {
    return this.totals.get(environmentId) ?? 0;
  }

  private trim(environmentId: string, capBytes: number): void {
    let total = this.totals.get(environmentId) ?? 0;
    if (total <= capBytes) return;
    // Walk from the oldest record, summing until enough is freed, then delete that prefix at once.
    const oldest = this.sql('SELECT id, bytes FROM logs WHERE environment_id = ? ORDER BY id').iterate(environmentId) as Iterable<{ id: number; bytes: number }>;
    let lastId = -1;
    for (const row of oldest) {
      total -= row.bytes;
      lastId = row.id;
      if (total <= capBytes) break;
    }
    this.sql('DELETE FROM logs WHERE environment_id = ? AND id <= ?').run(environmentId, lastId);
    this.totals.set(environmentId, total);
  }

  /** Oldest first, as kinvey-cli prints them. `page` counts from 1. */
  query(environmentId: string, q: LogQuery): LogRow[] {
    const where = ['environment_id = ?'];
    const args: unknown[] = [environmentId];
    if (q.from) { where.push('timestamp >= ?'); args.push(q.from); }
    if (q.to) { where.push('timestamp <= ?'); args.push(q.to); }
    const rows = this.sql(`SELECT id, container_id AS containerId, timestamp, threshold, message FROM logs
      WHERE ${where.join(' AND ')} ORDER BY id LIMIT ? OFFSET ?`).all(...args, q.limit, (q.page - 1) * q.limit) as (Omit<LogRow, '_id'> & { id: number })[];
    return rows.map(({ id, ...rest }) => ({ _id: String(id), ...rest }));
  }

  /** Records newer than `afterId`, for `logs --follow`. */
  since(environmentId: string, afterId: number, limit: number): LogRow[] {
    const rows = this.sql(`SELECT id, container_id AS containerId, timestamp, threshold, message FROM logs
      WHERE environment_id = ? AND id > ? ORDER BY id LIMIT ?`).all(environmentId, afterId, limit) as (Omit<LogRow, '_id'> & { id: number })[];
    return rows.map(({ id, ...rest }) => ({ _id: String(id), ...rest }));
  }

  deleteEnvironment(environmentId: string): void {
    this.sql('DELETE FROM logs WHERE environment_id = ?').run(environmentId);
    this.totals.delete(environmentId);
  }
}

/** What a record costs against the ring cap: its text plus a fixed overhead for the row. */
function recordBytes(r: LogRecord): number {
  return Buffer.byteLength(r.message) + 64;
}
