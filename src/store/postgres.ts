import pg from 'pg';
import { FlexdError } from '../errors.ts';
import { storeOver, type Store } from './index.ts';
import { PostgresClient, withConnection } from './postgres-client.ts';
import { POSTGRES_MIGRATIONS } from './postgres-migrations.ts';

/** The session advisory lock the migrating node holds (any number unique to flexd). */
const MIGRATION_LOCK = 0x666c6578; // 'flex'
/** Connections per node: requests are answered from memory; this is for management calls, jobs and logs. */
const POOL_SIZE = 10;
/** A connection attempt gives up after this: a management call then answers 503 instead of hanging. */
const CONNECT_TIMEOUT_MS = 5_000;

/**
 * The store on PostgreSQL (`flexd serve --database postgres://…`): one database shared by every
 * node. Opening brings the schema up to date once, under an advisory lock, so two nodes starting
 * together never both migrate; a schema newer than this flexd knows refuses to start.
 */
export async function openPostgresStore(url: string, node = ''): Promise<Store & { pool: pg.Pool; client: PostgresClient }> {
  const pool = new pg.Pool({ connectionString: url, max: POOL_SIZE, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
  // An idle connection the server dropped (it restarted) reports here; the pool replaces it.
  pool.on('error', () => {});
  try {
    await migrate(pool);
  } catch (err) {
    await pool.end().catch(() => {});
    throw err;
  }
  const client = new PostgresClient(pool);
  const store = storeOver(client, 'postgres', node, {
    integrityCheck: async () => { await client.get('SELECT 1 AS ok'); return 'ok'; },
    close: async () => { await pool.end(); },
  });
  return { ...store, pool, client };
}

async function migrate(pool: pg.Pool): Promise<void> {
  await withConnection(pool, async (connection) => {
    await connection.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    try {
      await connection.query('CREATE TABLE IF NOT EXISTS flexd_schema (version INTEGER NOT NULL)');
      const row = (await connection.query<{ version: number }>('SELECT version FROM flexd_schema')).rows[0];
      const current = row?.version ?? 0;
      if (current > POSTGRES_MIGRATIONS.length) {
        throw new FlexdError('SchemaTooNew', `the database's schema version ${current} is newer than this flexd knows (${POSTGRES_MIGRATIONS.length}); upgrade flexd`, { status: 500 });
      }
      for (let n = current; n < POSTGRES_MIGRATIONS.length; n++) {
        await connection.query('BEGIN');
        try {
          await connection.query(POSTGRES_MIGRATIONS[n]);
          if (n === 0 && !row) await connection.query('INSERT INTO flexd_schema (version) VALUES (1)');
          else await connection.query('UPDATE flexd_schema SET version = $1', [n + 1]);
          await connection.query('COMMIT');
        } catch (err) {
          await connection.query('ROLLBACK').catch(() => {});
          throw err;
        }
      }
    } finally {
      await connection.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => {});
    }
  });
}
