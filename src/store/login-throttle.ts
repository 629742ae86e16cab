import type { SqlClient } from './sql.ts';

/** One key's failed logins in a row: how many, and when the last was (milliseconds since the epoch). */
export interface FailureCount { failures: number; lastAt: number }

/**
 * The login throttle's state (accounts/throttle.ts), in the database so that every node counts
 * the same failures: a guesser cannot spread its tries over the nodes behind a load balancer.
 * One row per key that failed; a failure more than `windowMs` after the key's last one starts the
 * count over. The increment is one statement (an upsert), so failures through several nodes at
 * once all count.
 */
export class LoginThrottleStore {
  constructor(private readonly db: SqlClient) {}

  async get(scope: string, key: string): Promise<FailureCount | undefined> {
    const r = await this.db.get<{ failures: number; lastAt: number }>('SELECT failures, last_at AS "lastAt" FROM login_throttle WHERE scope = ? AND key = ?', [scope, key]);
    return r && { failures: Number(r.failures), lastAt: Number(r.lastAt) };
  }

  /** Counts one more failure of `key` at `now`; the count starts over when its last failure is older than `windowMs`. */
  async fail(scope: string, key: string, now: number, windowMs: number): Promise<void> {
    await this.db.run(`INSERT INTO login_throttle (scope, key, failures, last_at) VALUES (?, ?, 1, ?)
      ON CONFLICT (scope, key) DO UPDATE SET
        failures = CASE WHEN excluded.last_at - login_throttle.last_at > ? THEN 1 ELSE login_throttle.failures + 1 END,
        last_at = CASE WHEN excluded.last_at > login_throttle.last_at THEN excluded.last_at ELSE login_throttle.last_at END`, [scope, key, now, windowMs]);
  }

  async reset(scope: string, key: string): Promise<void> {
    await this.db.run('DELETE FROM login_throttle WHERE scope = ? AND key = ?', [scope, key]);
  }

  /** Drops the keys whose last failure is before `before`: they start over anyway. */
  async sweep(before: number): Promise<number> {
    return (await this.db.run('DELETE FROM login_throttle WHERE last_at < ?', [before])).changes;
  }
}
