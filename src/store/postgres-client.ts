import pg from 'pg';
import { FlexdError } from '../errors.ts';
import { POSTGRES, type SqlClient } from './sql.ts';

/**
 * The store's queries on PostgreSQL through `pg`'s pool. The queries are written once with `?`
 * placeholders (sql.ts); here they are numbered `$1, $2, …` (each text once, then cached).
 * BIGINT (int8) columns come back as numbers: flexd's are times in milliseconds, sizes and
 * row ids, all far below 2^53.
 */
export class PostgresClient implements SqlClient {
  readonly dialect = POSTGRES;

  constructor(readonly pool: pg.Pool, private readonly connection?: pg.PoolClient) {}

  async all<T>(sql: string, params: readonly unknown[] = []): Promise<T[]> {
    return (await this.query(sql, params)).rows as T[];
  }

  async get<T>(sql: string, params: readonly unknown[] = []): Promise<T | undefined> {
    return (await this.query(sql, params)).rows[0] as T | undefined;
  }

  async run(sql: string, params: readonly unknown[] = []): Promise<{ changes: number }> {
    return { changes: (await this.query(sql, params)).rowCount ?? 0 };
  }

  async transaction<T>(work: (tx: SqlClient) => Promise<T>): Promise<T> {
    if (this.connection) return work(this);
    try {
      return await withConnection(this.pool, async (connection) => {
        await connection.query('BEGIN');
        try {
          const result = await work(new PostgresClient(this.pool, connection));
          await connection.query('COMMIT');
          return result;
        } catch (err) {
          await connection.query('ROLLBACK').catch(() => {});
          throw err;
        }
      });
    } catch (err) {
      throw databaseUnavailable(err) ?? err;
    }
  }

  private async query(sql: string, params: readonly unknown[]): Promise<pg.QueryResult> {
    try {
      return await (this.connection ?? this.pool).query({ text: numbered(sql), values: params as unknown[], types: TYPES });
    } catch (err) {
      throw databaseUnavailable(err) ?? err;
    }
  }
}

/**
 * Runs `use` on a connection of its own from `pool`, then gives it back. While a connection is
 * checked out the pool listens for none of its errors: a server that goes away meanwhile would
 * emit one nobody hears, and Node would end flexd for it. It is heard here; the query waiting on
 * the connection fails with the same error, which is how the caller learns of it. A broken
 * connection is closed, not pooled again.
 */
export async function withConnection<T>(pool: pg.Pool, use: (connection: pg.PoolClient) => Promise<T>): Promise<T> {
  const connection = await pool.connect();
  let broken = false;
  const lost = () => { broken = true; };
  connection.on('error', lost);
  try {
    return await use(connection);
  } finally {
    connection.removeListener('error', lost);
    connection.release(broken);
  }
}

const numberedCache = new Map<string, string>();

/** `?` → `$1, $2, …` (flexd's SQL has no `?` inside string literals). */
export function numbered(sql: string): string {
  let text = numberedCache.get(sql);
  if (text === undefined) {
    let n = 0;
    text = sql.replace(/\?/g, () => `$${++n}`);
    numberedCache.set(sql, text);
  }
  return text;
}

/** int8 (COUNT, SUM, BIGSERIAL, BIGINT columns) as a JavaScript number. */
const INT8_OID = 20;
const NUMERIC_OID = 1700;
const TYPES = {
  getTypeParser(oid: number, format?: string) {
    if (oid === INT8_OID || oid === NUMERIC_OID) return (value: string) => Number(value);
    return pg.types.getTypeParser(oid, format as 'text');
  },
} as pg.CustomTypesConfig;

/** SQLSTATE classes 08 (connection exception) and 57P (operator intervention: the server shutting down or starting). */
const AWAY_SQLSTATE = /^(08|57P)/;
const AWAY_ERRNO = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND']);
/** How long a client is told to wait before trying again while the database is away. */
const RETRY_AFTER_SECONDS = 5;

/**
 * A failure that means "the database cannot be reached" as the 503 `DatabaseUnavailable` the
 * management API answers (serving goes on from memory meanwhile); undefined for any other error.
 */
export function databaseUnavailable(err: unknown): FlexdError | undefined {
  const e = err as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : '';
  const message = typeof e?.message === 'string' ? e.message : '';
  if (AWAY_SQLSTATE.test(code) || AWAY_ERRNO.has(code) || /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Cannot use a pool after calling end/i.test(message)) {
    return new FlexdError('DatabaseUnavailable', 'flexd\'s database (PostgreSQL) cannot be reached: the change was not made. Services keep serving; try again shortly.',
      { status: 503, retryAfterSeconds: RETRY_AFTER_SECONDS, debug: message || code });
  }
  return undefined;
}
