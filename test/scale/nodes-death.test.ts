/**
 * Issue 14, nodes living and dying: three flexd nodes as separate OS processes on one embedded
 * PostgreSQL (one server and one set of nodes for the file), real HTTP only. A deploy through one
 * node serves on all three; failed logins through one node throttle on another; `kill -9` of a
 * node costs nothing — the others answer every request and show it gone — and the killed node,
 * started again on its old data dir, catches up with everything changed while it was down.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { cleanupStack } from '../helpers/cleanup.ts';
import { startPostgres } from '../helpers/postgres.ts';
import { waitFor } from '../helpers/wait.ts';
import { call, echo, echoArchive, finished, logIn, makeTarget, startNode, uploadDeploy, type NodeProcess } from './node-processes.ts';
import { keepStoredTrees } from './stored-trees.ts';

const SERVICE = 'echo';
const ENVIRONMENT = 'Development';

const fileCleanup = cleanupStack({ after });
let database: string;
let a: NodeProcess;
let b: NodeProcess;
let c: NodeProcess;
let token: string;
let target: { serviceId: string; environmentId: string };

before(async () => {
  database = await (await startPostgres(fileCleanup)).createDatabase();
  // Started together on a new database, as an operator starting a cluster would: one of them makes the admin.
  [a, b, c] = await Promise.all(['a', 'b', 'c'].map((name) => startNode(fileCleanup, { database, name })));
  // kinvey-flex-sdk's tree as an earlier run stored it: the deploy below is about the nodes, not npm.
  await keepStoredTrees(fileCleanup, database);
  token = await logIn(a.url);
  target = await makeTarget(a.url, token, SERVICE, ENVIRONMENT);
});

async function status(node: NodeProcess) {
  return (await call(node.url, token, 'GET', `/v4/services/${target.serviceId}/environments/${target.environmentId}/status`)).body;
}

test('three nodes on one PostgreSQL: a deploy through one is served by all three, and the status lists three nodes ONLINE at its version', async () => {
  const jobId = await uploadDeploy(c.url, token, target, await echoArchive(fileCleanup, '1.0.0'), '1.0.0');
  const done = await finished(c.url, token, jobId);
  assert.equal(done.node, 'c', 'the node that accepted the upload ran the job');
  for (const node of [a, b, c]) {
    const answer = await waitFor(`node ${node.name} to serve 1.0.0`, async () => {
      const r = await echo(node.url, SERVICE, ENVIRONMENT);
      return r.version === '1.0.0' ? r : undefined;
    }, { timeoutMs: 60_000, intervalMs: 100 });
    assert.deepEqual(answer, { status: 200, KEY: null, version: '1.0.0' });
  }
  const s = await waitFor('status ONLINE on three nodes', async () => {
    const now = await status(b);
    return now.status === 'ONLINE' && now.nodes?.length === 3 ? now : undefined;
  }, { timeoutMs: 30_000, intervalMs: 100 });
  assert.deepEqual(s.nodes.map((n: { name: string; version: string; status: string }) => [n.name, n.version, n.status]),
    [['a', '1.0.0', 'ONLINE'], ['b', '1.0.0', 'ONLINE'], ['c', '1.0.0', 'ONLINE']]);
  const nodes = (await call(a.url, token, 'GET', '/v4/nodes')).body as { name: string; live: boolean; environments: number }[];
  assert.deepEqual(nodes.map((n) => [n.name, n.live]), [['a', true], ['b', true], ['c', true]]);
});

test('the login throttle is the cluster\'s: failures through A throttle the same account and address at B', async () => {
  const guess = (node: NodeProcess, i: number) => call(node.url, null, 'POST', '/session', { email: 'guesser-target@example.com', password: `wrong-${i}` });
  // Ten free failures, all through A.
  for (let i = 0; i < 10; i++) assert.equal((await guess(a, i)).status, 401, `failure ${i + 1} through A`);
  // Past the free ones each failure doubles the wait (1 s, 2 s, 4 s): go on through A until it asks for 4 s or more,
  // so that B is asked well within the wait, however loaded this machine is.
  let i = 10;
  await waitFor('A to ask for a wait of 4 s or more', async () => {
    const r = await guess(a, i++);
    if (r.status !== 401 && r.status !== 429) throw new Error(`A answered ${r.status}`);
    return r.status === 429 && Number(r.headers.get('retry-after')) >= 4 ? true : undefined;
  }, { timeoutMs: 60_000, intervalMs: 100 });
  const atB = await guess(b, 99);
  assert.equal(atB.status, 429, `B throttles what failed through A: ${JSON.stringify(atB.body)}`);
  assert.equal(atB.body.code, 'TooManyLoginAttempts');
  assert.ok(Number(atB.headers.get('retry-after')) >= 1);
  assert.equal((await guess(c, 100)).status, 429, 'and so does C');
  // The admin at the same address is not locked out by it.
  assert.equal(typeof await logIn(b.url), 'string');
});

test('kill -9 of A: B and C answer every request meanwhile, GET /v4/nodes shows A gone within 60 s; A started again on its old data dir serves the version and variables changed through B while it was down', async (t) => {
  await a.kill();
  const killedAt = Date.now();
  const answers: number[] = [];
  const gone = await waitFor('A shown live: false', async () => {
    answers.push((await echo(b.url, SERVICE, ENVIRONMENT)).status, (await echo(c.url, SERVICE, ENVIRONMENT)).status);
    const list = (await call(b.url, token, 'GET', '/v4/nodes')).body as { name: string; live: boolean }[];
    return list.find((n) => n.name === 'a')?.live === false ? list : undefined;
  }, { timeoutMs: 60_000, intervalMs: 250 });
  t.diagnostic(`A shown gone ${Date.now() - killedAt} ms after kill -9 (live window 8 s); ${answers.length} requests to B and C meanwhile`);
  assert.deepEqual(gone.map((n) => [n.name, n.live]), [['b', true], ['c', true], ['a', false]]);
  // Two requests per look, from the kill until A showed gone (the live window, 8 s, at least).
  assert.deepEqual(answers, answers.map(() => 200), 'every request answered while A died');
  const s = await waitFor('status ONLINE on the live nodes', async () => {
    const now = await status(c);
    return now.status === 'ONLINE' && now.nodes?.length === 2 ? now : undefined;
  }, { timeoutMs: 30_000, intervalMs: 100 });
  assert.deepEqual(s.nodes.map((n: { name: string }) => n.name), ['b', 'c'], 'a dead node is not waited for');

  // While A is down: a new version and a variable, through B.
  const deployed = await finished(b.url, token, await uploadDeploy(b.url, token, target, await echoArchive(fileCleanup, '2.0.0'), '2.0.0'));
  assert.equal(deployed.node, 'b');
  const put = await call(b.url, token, 'PUT', `/v4/services/${target.serviceId}/environments/${target.environmentId}`, { environmentVariables: { KEY: 'while-a-was-down' } });
  assert.equal(put.status, 200, JSON.stringify(put.body));
  await finished(b.url, token, put.headers.get('x-flexd-job')!);
  await waitFor('C to follow the change made through B', async () => ((await echo(c.url, SERVICE, ENVIRONMENT)).KEY === 'while-a-was-down' ? true : undefined), { timeoutMs: 60_000, intervalMs: 100 });
  assert.deepEqual(await echo(c.url, SERVICE, ENVIRONMENT), { status: 200, KEY: 'while-a-was-down', version: '2.0.0' });

  // A comes back on its old data dir: it serves the new version with the new variable from its first request.
  a = await startNode(fileCleanup, { database, name: 'a', dataDir: a.dataDir });
  assert.deepEqual(await echo(a.url, SERVICE, ENVIRONMENT), { status: 200, KEY: 'while-a-was-down', version: '2.0.0' });
  const back = await waitFor('status ONLINE on three nodes at 2.0.0', async () => {
    const now = await status(a);
    return now.status === 'ONLINE' && now.nodes?.length === 3 ? now : undefined;
  }, { timeoutMs: 30_000, intervalMs: 100 });
  assert.deepEqual(back.nodes.map((n: { name: string; version: string }) => [n.name, n.version]), [['a', '2.0.0'], ['b', '2.0.0'], ['c', '2.0.0']]);
  const nodes = (await call(c.url, token, 'GET', '/v4/nodes')).body as { name: string; live: boolean }[];
  assert.deepEqual(nodes.map((n) => [n.name, n.live]), [['a', true], ['b', true], ['c', true]]);
});
