/**
 * Several flexd nodes on one PostgreSQL (issue 14): createRuntime instances with their own data
 * dirs and node names on one embedded PostgreSQL, real HTTP only. One server for the file.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Runtime } from '../../src/runtime.ts';
import { ECHO_PROJECT } from '../api/helpers.ts';
import { cleanupStack, type CleanupContext } from '../helpers/cleanup.ts';
import { startPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { waitFor, withDeadline } from '../helpers/wait.ts';
import { call, echo as echoAt } from './node-processes.ts';
import { runtimeNode } from './runtime-nodes.ts';

const ADMIN = { email: 'ops@example.com', password: 'two-nodes-password' };
/** A cold deploy installs kinvey-flex-sdk from the npm cache of the node that builds. */
const DEPLOY_TIMEOUT_MS = 240_000;
const target = { service: 'echo', environment: 'Development' };

const fileCleanup = cleanupStack({ after });
let pg: TestPostgres;
before(async () => { pg = await startPostgres(fileCleanup); });

const node = (cleanup: CleanupContext, database: string, name: string) => runtimeNode(cleanup, { database, name, admin: ADMIN });
const echo = (rt: Runtime) => echoAt(rt.url, target.service, target.environment);

async function logIn(rt: Runtime): Promise<string> {
  const r = await call(rt.url, null, 'POST', '/session', ADMIN);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return (r.body as { token: string }).token;
}

/** A GET of the management API through `rt` (the call and its body under a deadline). */
const api = (rt: Runtime, token: string, path: string) => call(rt.url, token, 'GET', path);

test('two nodes on one PostgreSQL: one name per live node, a session of A works on B, a deploy and variables through A serve on B, logs of both read through either, a new empty node serves at once and is counted in, a cleanly stopped node shows gone at once', async (t) => {
  const cleanup = cleanupStack(t);
  const database = await pg.createDatabase();
  const a = await node(cleanup, database, 'a');
  const b = await node(cleanup, database, 'b');

  await assert.rejects(node(cleanup, database, 'b'), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'NodeNameInUse');
    assert.match(err.message, /another live flexd node is named "b"/);
    assert.ok(!err.message.includes('\n'), 'one line');
    return true;
  });

  const token = await logIn(a);
  const nodes = (await api(b, token, '/v4/nodes'));
  assert.equal(nodes.status, 200, 'the session made on A works on B');
  assert.deepEqual(nodes.body.map((n: { name: string; live: boolean }) => [n.name, n.live]), [['a', true], ['b', true]]);
  for (const n of nodes.body) assert.deepEqual(Object.keys(n).sort(), ['environments', 'flexdVersion', 'lastSeen', 'live', 'name', 'replicas', 'startedAt']);

  await withDeadline('deploy through A', a.deployDirectory(ECHO_PROJECT, { ...target, version: '1.0.1', env: { KEY: 'one' } }), DEPLOY_TIMEOUT_MS);
  assert.deepEqual(await echo(a), { status: 200, KEY: 'one', version: '1.0.1' });
  const onB = await waitFor('B to serve 1.0.1', async () => { const r = await echo(b); return r.status === 200 ? r : undefined; }, { timeoutMs: 60_000 });
  assert.deepEqual(onB, { status: 200, KEY: 'one', version: '1.0.1' }, 'B serves what A deployed, with its variables');

  await withDeadline('setVariables through A', a.setVariables(target, { KEY: 'two' }), 60_000);
  await waitFor('B to see KEY=two', async () => ((await echo(b)).KEY === 'two' ? true : undefined), { timeoutMs: 60_000 });

  const status = await waitFor('status listing both nodes at 1.0.1', async () => {
    const svc = (await api(a, token, '/v4/services')).body.find((s: { name: string }) => s.name === target.service);
    const envs = (await api(a, token, `/v4/services/${svc.id}/environments`)).body;
    const s = (await api(b, token, `/v4/services/${svc.id}/environments/${envs[0].id}/status`)).body;
    return s.status === 'ONLINE' && s.nodes?.length === 2 && s.nodes.every((n: { version: string }) => n.version === '1.0.1') ? { s, svc, env: envs[0] } : undefined;
  }, { timeoutMs: 60_000 });
  assert.deepEqual(status.s.nodes.map((n: { name: string }) => n.name), ['a', 'b']);

  // Logs of both nodes, read through either, tell the replicas apart: each node's status lists its own replicas.
  const statusPath = `/v4/services/${status.svc.id}/environments/${status.env.id}/status`;
  const replicasOf = async (rt: Runtime) => new Set(((await api(rt, token, statusPath)).body.replicas as { containerId: string }[]).map((r) => r.containerId));
  const [replicasA, replicasB] = [await replicasOf(a), await replicasOf(b)];
  assert.ok(replicasA.size > 0 && replicasB.size > 0 && [...replicasA].every((id) => !replicasB.has(id)), `replicas of their own: A ${[...replicasA]}, B ${[...replicasB]}`);
  assert.equal((await echo(a)).status, 200);
  assert.equal((await echo(b)).status, 200);
  const path = `/v4/services/${status.svc.id}/environments/${status.env.id}/logs?limit=2000`;
  let lines: { _id: string; containerId: string; message: string }[] = [];
  await waitFor('echo lines of A\'s and of B\'s replica, read through B', async () => {
    await a.context.logs.flush();
    await b.context.logs.flush();
    lines = (await api(b, token, path)).body;
    const ids = new Set(lines.filter((l) => /echo called on version 1\.0\.1/.test(l.message)).map((l) => l.containerId));
    return [...replicasA].some((id) => ids.has(id)) && [...replicasB].some((id) => ids.has(id));
  }, { timeoutMs: 60_000 }).catch((err: Error) => { throw new Error(`${err.message}; A ${[...replicasA]}, B ${[...replicasB]}; lines: ${JSON.stringify(lines.slice(-20))}`); });
  assert.deepEqual(((await api(a, token, path)).body as { _id: string }[]).map((l) => l._id), lines.map((l) => l._id), 'A reads the same lines');

  // A new node with an empty data dir serves the current version and variables without a deploy,
  // and the status (through it) and the node list count it in.
  const c = await node(cleanup, database, 'c');
  assert.deepEqual(await echo(c), { status: 200, KEY: 'two', version: '1.0.1' });
  const three = await waitFor('status through C listing three nodes ONLINE at 1.0.1', async () => {
    const s = (await api(c, token, statusPath)).body;
    return s.status === 'ONLINE' && s.nodes?.length === 3 ? s : undefined;
  }, { timeoutMs: 60_000 });
  assert.deepEqual(three.nodes.map((n: { name: string; version: string; status: string }) => [n.name, n.version, n.status]), [['a', '1.0.1', 'ONLINE'], ['b', '1.0.1', 'ONLINE'], ['c', '1.0.1', 'ONLINE']]);
  const listed = (await api(a, token, '/v4/nodes')).body as { name: string; live: boolean; environments: number }[];
  assert.deepEqual(listed.map((n) => [n.name, n.live, n.environments]), [['a', true, 1], ['b', true, 1], ['c', true, 1]]);

  // A clean stop says so in the database before close() resolves: A shows gone at once, not once its
  // heartbeats lapse (a node that dies without a word: nodes-death.test.ts).
  await a.close();
  const gone = (await api(b, token, '/v4/nodes')).body as { name: string; live: boolean }[];
  assert.deepEqual(gone.map((n) => [n.name, n.live]), [['b', true], ['c', true], ['a', false]], 'A shown not live as soon as it stopped');
  assert.deepEqual(await echo(b), { status: 200, KEY: 'two', version: '1.0.1' }, 'B serves on');
});
