import type { LogRecord, LogStore, RingTotals } from '../store/logs.ts';
import type { PostgresLogRing } from '../store/postgres-log-ring.ts';
import type { LogSink } from './store-thread.ts';

/**
 * Where LogWriter's batches go on PostgreSQL: straight to the database through the pool (the
 * inserts run on the server, not on this event loop), with each answer's ring totals reported to
 * `store` as the log thread reports them on SQLite.
 */
export class PostgresLogSink implements LogSink {
  private closed = false;

  constructor(private readonly ring: PostgresLogRing, private readonly store: LogStore) {}

  async append(records: LogRecord[], caps: RingTotals): Promise<void> {
    if (this.closed) throw new Error('the log sink is closed');
    this.store.recordTotals(await this.ring.append(records, caps));
  }

  async deleteEnvironment(environmentId: string): Promise<void> {
    await this.ring.deleteEnvironment(environmentId);
    this.store.recordTotals({ [environmentId]: 0 });
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
