/**
 * PostgreSQL stopped and started under two nodes (issue 14): serving never stops, a change
 * answers 503 DatabaseUnavailable meanwhile, and everything recovers without a restart — a
 * change made through A once the database is back reaches B over the re-established LISTEN.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pgDriver from 'pg';
import type { Runtime } from '../../src/runtime.ts';
import { ECHO_PROJECT } from '../api/helpers.ts';
import { cleanupStack, type CleanupContext } from '../helpers/cleanup.ts';
import { startPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { waitFor, withDeadline } from '../helpers/wait.ts';
import { call, echo as echoAt } from './node-processes.ts';
import { runtimeNode } from './runtime-nodes.ts';

const ADMIN = { email: 'ops@example.com', password: 'database-away-password' };
const DEPLOY_TIMEOUT_MS = 240_000;
const target = { service: 'echo', environment: 'Development' };

const fileCleanup = cleanupStack({ after });
let pg: TestPostgres;
before(async () => { pg = await startPostgres(fileCleanup); });

const node = (cleanup: CleanupContext, database: string, name: string) => runtimeNode(cleanup, { database, name, admin: ADMIN });
const echo = (rt: Runtime) => echoAt(rt.url, target.service, target.environment);

test('PostgreSQL away: both nodes keep serving, a change answers 503 DatabaseUnavailable, and once it is back a change through A reaches B with no restart', async (t) => {
  const cleanup = cleanupStack(t);
  const database = await pg.createDatabase();
  const a = await node(cleanup, database, 'a');
  const b = await node(cleanup, database, 'b');
  const login = await call(a.url, null, 'POST', '/session', ADMIN);
  assert.equal(login.status, 200, JSON.stringify(login.body));
  const { token } = login.body as { token: string };
  await withDeadline('deploy through A', a.deployDirectory(ECHO_PROJECT, { ...target, version: '1.0.0', env: { KEY: 'before' } }), DEPLOY_TIMEOUT_MS);
  await waitFor('B serving', async () => ((await echo(b)).KEY === 'before' ? true : undefined), { timeoutMs: 60_000 });

  await pg.stop();
  const answers: number[] = [];
  for (let i = 0; i < 20; i++) answers.push((await echo(i % 2 ? a : b)).status);
  assert.deepEqual(answers, Array(20).fill(200), 'every request answered while the database is away');
  const refused = await call(a.url, token, 'POST', '/v4/services', { name: 'later', type: 'internal' });
  assert.equal(refused.status, 503);
  assert.equal(refused.headers.get('retry-after'), '5');
  assert.equal((refused.body as { code: string }).code, 'DatabaseUnavailable');
  await assert.rejects(a.setVariables(target, { KEY: 'lost' }), (err: Error & { code?: string }) => err.code === 'DatabaseUnavailable');
  assert.equal((await echo(b)).KEY, 'before', 'nothing half-applied');

  await pg.start();
  // Both nodes listen again before the change is made: each node re-reads everything once its
  // listening connection is back, so a change made before that would reach B without a NOTIFY.
  // What a backend ran last is in pg_stat_activity: a node's listening connection ends with its LISTENs.
  const watcher = new pgDriver.Client({ connectionString: database });
  await withDeadline('a connection to the database', watcher.connect(), 60_000);
  cleanup.after(() => watcher.end());
  let listening: unknown[] = [];
  await waitFor('both nodes listening again', async () => {
    listening = (await watcher.query(`SELECT pid, state, query FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN %'`)).rows;
    return listening.length === 2;
  }, { timeoutMs: 60_000, intervalMs: 250 }).catch((err: Error) => { throw new Error(`${err.message}; LISTEN backends: ${JSON.stringify(listening)}`); });
  await waitFor('a change through A accepted again', async () => {
    const res = await call(a.url, token, 'POST', '/v4/services', { name: 'later', type: 'internal' });
    return res.status === 201 ? true : undefined;
  }, { timeoutMs: 60_000, intervalMs: 250 });
  await withDeadline('setVariables through A after the outage', a.setVariables(target, { KEY: 'after' }), 60_000);
  await waitFor('B to serve the change made after the outage (told by NOTIFY on its new connection)', async () => ((await echo(b)).KEY === 'after' ? true : undefined), { timeoutMs: 60_000 });
  assert.equal((await echo(a)).KEY, 'after');
});
