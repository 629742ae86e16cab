import type { LogRecord, RingTotals } from './logs.ts';
import { recordBytes } from './logs.ts';
import type { SqlClient } from './sql.ts';

/**
 * The log rings on PostgreSQL, written by every node: each environment's records capped by bytes
 * across all nodes. The running total is a row (`log_totals`) that each batch adds to in its own
 * transaction, so two nodes appending to one environment take turns on that row; past the cap,
 * the oldest records go first, as on SQLite (logs.ts, LogRing).
 */
export class PostgresLogRing {
  constructor(private readonly db: SqlClient) {}

  /** Stores the records in one transaction and trims each environment they touched to its cap. */
  append(records: readonly LogRecord[], caps: Readonly<RingTotals>): Promise<RingTotals> {
    return this.db.transaction(async (tx) => {
      const added = new Map<string, number>();
      const columns: [string[], string[], string[], (string | null)[], string[], number[]] = [[], [], [], [], [], []];
      for (const r of records) {
        const bytes = recordBytes(r);
        added.set(r.environmentId, (added.get(r.environmentId) ?? 0) + bytes);
        columns[0].push(r.environmentId); columns[1].push(r.containerId); columns[2].push(r.timestamp);
        columns[3].push(r.threshold); columns[4].push(r.message); columns[5].push(bytes);
      }
      // One statement for the batch, in the order the lines came (ids follow it).
      await tx.run(`INSERT INTO logs (environment_id, container_id, timestamp, threshold, message, bytes)
        SELECT * FROM unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::int[])`, columns);
      const totals: RingTotals = {};
      // Sorted: two nodes lock the total rows in one order, so they never wait on each other in a circle.
      for (const environmentId of [...added.keys()].sort()) {
        let total = (await tx.get<{ bytes: number }>(`INSERT INTO log_totals (environment_id, bytes) VALUES (?, ?)
          ON CONFLICT (environment_id) DO UPDATE SET bytes = log_totals.bytes + excluded.bytes RETURNING bytes`, [environmentId, added.get(environmentId)]))!.bytes;
        const cap = caps[environmentId] ?? Infinity;
        if (total > cap) total = await this.trim(tx, environmentId, total - cap, total);
        totals[environmentId] = total;
      }
      return totals;
    });
  }

  async deleteEnvironment(environmentId: string): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx.run('DELETE FROM log_totals WHERE environment_id = ?', [environmentId]);
      await tx.run('DELETE FROM logs WHERE environment_id = ?', [environmentId]);
    });
  }

  /** Deletes the oldest records that free at least `excess` bytes; the new total. */
  private async trim(tx: SqlClient, environmentId: string, excess: number, total: number): Promise<number> {
    const cut = await tx.get<{ id: number; freed: number }>(`SELECT id, freed FROM (
        SELECT id, SUM(bytes) OVER (ORDER BY id) AS freed FROM logs WHERE environment_id = ?
      ) AS running WHERE freed >= ? ORDER BY id LIMIT 1`, [environmentId, excess]);
    if (!cut) return total;
    await tx.run('DELETE FROM logs WHERE environment_id = ? AND id <= ?', [environmentId, cut.id]);
    const left = total - cut.freed;
    await tx.run('UPDATE log_totals SET bytes = ? WHERE environment_id = ?', [left, environmentId]);
    return left;
  }
}
