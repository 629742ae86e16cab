import pg from 'pg';
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
    const connection = await this.pool.connect();
    try {
      await connection.query('BEGIN');
      const result = await work(new PostgresClient(this.pool, connection));
      await connection.query('COMMIT');
      return result;
    } catch (err) {
      await connection.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      connection.release();
    }
  }

  private query(sql: string, params: readonly unknown[]): Promise<pg.QueryResult> {
    return (this.connection ?? this.pool).query({ text: numbered(sql), values: params as unknown[], types: TYPES });
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
