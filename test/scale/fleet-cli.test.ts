/**
 * The real kinvey-cli against two flexd nodes on one PostgreSQL (issue 14): a user logs in and
 * deploys through node A, exactly as against one flexd; node B serves the new version on its own
 * data plane, and the CLI pointed at B reads the status (ONLINE at the version, every node
 * listed) and the logs of both nodes (lines of A's and of B's replicas, told apart by
 * containerId). A second deploy through A: whenever B's status says ONLINE at the new version,
 * both data planes serve it. flexd's own CLI through B: `flexd logs` and `flexd logs --follow` show
 * the lines of both nodes. Real HTTP only; one PostgreSQL and one pair of nodes for the file,
 * the steps share state and run in order.
 */
import assert from 'node:assert/strict';
import { cp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Runtime } from '../../src/runtime.ts';
import { ECHO_PROJECT } from '../api/helpers.ts';
import { untilStatus } from '../helpers/api-status.ts';
import { CleanupStack } from '../helpers/cleanup.ts';
import { flexdCli } from '../helpers/cli.ts';
import { runKinvey } from '../helpers/kinvey.ts';
import { startPostgres } from '../helpers/postgres.ts';
import { tempDir } from '../helpers/tmp.ts';
import { keepStoredTrees } from './stored-trees.ts';
import { runtimeNode } from './runtime-nodes.ts';
import { waitFor, withDeadline } from '../helpers/wait.ts';

const ADMIN = { email: 'ops@example.com', password: 'fleet-cli-password' };
const SERVICE_NAME = 'fleet-cli';
const SECRET = 'fleet-cli-secret';
/** A first deploy installs kinvey-flex-sdk with npm on the node that builds (the first run, before its tree is kept: stored-trees.ts). */
const DEPLOY_TIMEOUT_MS = 240_000;
/** The other node hears of the change and swaps to replicas of a version already built. */
const FOLLOW_TIMEOUT_MS = 90_000;
/** Each poll starts a CLI process (about a second); no need to poll faster. */
const CLI_POLL_MS = 500;
/** A node is live for 20 s after its last heartbeat (every 500 ms): a loaded machine delays beats, never kills them. */
const LIVE_WINDOW_MS = 20_000;

interface Echo { status: number; KEY?: string | null; version?: string; header?: string | null }

describe('kinvey-cli 6.1.3 against two flexd nodes on one PostgreSQL', () => {
  const cleanup = new CleanupStack();
  after(() => cleanup.run());

  let a: Runtime;
  let b: Runtime;
  /** one operator's HOME per node: the CLI keeps the host it logged in to in its profile */
  let homeA: string;
  let homeB: string;
  let projectDir: string;
  let serviceId: string;
  let environmentId: string;

  const throughA = (...args: string[]) => runKinvey({ home: homeA, cwd: projectDir }, args);
  const throughB = (...args: string[]) => runKinvey({ home: homeB, cwd: projectDir }, args);

  async function ok(run: Promise<{ code: number | null; stdout: string; stderr: string }>, what: string): Promise<string> {
    const r = await run;
    assert.equal(r.code, 0, `kinvey ${what} failed:\n${r.stderr}\n${r.stdout}`);
    return r.stdout;
  }

  async function json(run: Promise<{ code: number | null; stdout: string; stderr: string }>, what: string): Promise<any> {
    return JSON.parse(await ok(run, what)).result;
  }

  const statusThroughB = () => json(throughB('flex', 'status', '--service', serviceId, '--output', 'json'), 'flex status (B)');

  async function echo(rt: Runtime): Promise<Echo> {
    const { res, text } = await withDeadline(`echo on ${rt.url}`, (async () => {
      const res = await fetch(`${rt.url}/flex/${serviceId}/Development/_flexFunctions/echo`, {
        method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Auth-Key': SECRET }, body: '{}',
      });
      return { res, text: await res.text() };
    })(), 30_000);
    if (res.status !== 200) return { status: res.status };
    const body = (JSON.parse(text) as { response: { body: { KEY: string | null; version: string } } }).response.body;
    return { status: 200, KEY: body.KEY, version: body.version, header: res.headers.get('x-flexd-version') };
  }

  before(async () => {
    const pg = await startPostgres(cleanup);
    const database = await pg.createDatabase();
    const node = (name: string) => runtimeNode(cleanup, { database, name, admin: ADMIN, liveWindowMs: LIVE_WINDOW_MS, npmCache: true });
    a = await node('a');
    b = await node('b');
    // kinvey-flex-sdk's tree as an earlier run stored it: the first deploy is about the nodes and the CLI, not npm.
    await keepStoredTrees(cleanup, database);
    homeA = await tempDir(cleanup, 'flexd-fleet-cli-home-a-');
    homeB = await tempDir(cleanup, 'flexd-fleet-cli-home-b-');
    projectDir = join(await tempDir(cleanup, 'flexd-fleet-cli-project-'), 'project');
    await cp(ECHO_PROJECT, projectDir, { recursive: true });
  });

  test('the CLI logs in through A, creates a service there, and a profile on B sees it with the same account', async () => {
    assert.match(await ok(throughA('profile', 'create', 'a', '--instance-id', a.url, '--email', ADMIN.email, '--password', ADMIN.password), 'profile create a'), /Created profile: a/);
    assert.match(await ok(throughB('profile', 'create', 'b', '--instance-id', b.url, '--email', ADMIN.email, '--password', ADMIN.password), 'profile create b'), /Created profile: b/);
    assert.equal(JSON.parse(await readFile(join(homeB, '.kinvey-cli'), 'utf8')).profiles.b.host, `${b.url}/`);
    const [org] = await json(throughA('org', 'list', '--output', 'json'), 'org list');
    const created = await json(throughA('flex', 'create', SERVICE_NAME, '--org', org.id, '--secret', SECRET, '--output', 'json'), 'flex create');
    serviceId = created.id;
    const listed = await json(throughB('flex', 'list', '--org', org.id, '--output', 'json'), 'flex list (B)');
    assert.deepEqual(listed.map((s: { id: string; name: string }) => [s.id, s.name]), [[serviceId, SERVICE_NAME]], 'B lists the service made through A');
    const fresh = await statusThroughB();
    assert.equal(fresh.status, 'NEW');
    environmentId = fresh.svcEnvId;
  });

  test('flex deploy through A: B serves the new version on its own data plane', async () => {
    assert.match(await ok(throughA('flex', 'deploy', '--service', serviceId), 'flex deploy (A)'), /Deploy initiated/);
    const onB = await waitFor('B to serve 1.0.0', async () => { const r = await echo(b); return r.status === 200 ? r : undefined; }, { timeoutMs: DEPLOY_TIMEOUT_MS, intervalMs: 250 });
    assert.deepEqual(onB, { status: 200, KEY: null, version: '1.0.0', header: '1.0.0' });
    assert.deepEqual(await echo(a), { status: 200, KEY: null, version: '1.0.0', header: '1.0.0' });
  });

  test('flex status through B: ONLINE at 1.0.0, both nodes listed at that version', async () => {
    let last: any;
    const atOneZero = (s: any) => s.status === 'ONLINE' && s.nodes?.length === 2 && s.nodes.every((n: { version: string }) => n.version === '1.0.0');
    // Over HTTP through B while the nodes settle (a CLI call per poll costs more than the rest of the file), then through the CLI.
    await untilStatus({ url: b.url, ...ADMIN }, serviceId, environmentId, atOneZero, FOLLOW_TIMEOUT_MS);
    const online = await waitFor('status through B ONLINE at 1.0.0 on both nodes', async () => {
      last = await statusThroughB();
      return atOneZero(last) ? last : undefined;
    }, { timeoutMs: FOLLOW_TIMEOUT_MS, intervalMs: CLI_POLL_MS }).catch((err: Error) => { throw new Error(`${err.message}; last status: ${JSON.stringify(last)}`); });
    assert.equal(online.version, '1.0.0');
    assert.equal(online.deployment.status, 'COMPLETED');
    assert.equal(online.deployUserInfo.email, ADMIN.email);
    assert.deepEqual(online.nodes.map((n: { name: string; status: string }) => [n.name, n.status]), [['a', 'ONLINE'], ['b', 'ONLINE']]);
    for (const n of online.nodes) assert.ok(n.replicas >= 1, `node ${n.name} runs replicas`);
    // The table view of the same answer: test/kinvey-cli.test.ts (the CLI renders it, whatever the node count).
  });

  /** The replicas each node runs, as its own status lists them (over HTTP: what is checked below is the CLI's logs). */
  const replicasOf = async (rt: Runtime) => new Set<string>((await untilStatus({ url: rt.url, ...ADMIN }, serviceId, environmentId, () => true, FOLLOW_TIMEOUT_MS))
    .replicas.map((r: { containerId: string }) => r.containerId.slice(0, 12)));

  test('flex logs through B shows the lines of both nodes, with different containerIds', async () => {
    const onA = await replicasOf(a);
    const onB = await replicasOf(b);
    assert.ok(onA.size > 0 && onB.size > 0);
    for (const id of onA) assert.ok(!onB.has(id), `container ${id} is not on both nodes`);
    assert.equal((await echo(a)).status, 200);
    assert.equal((await echo(b)).status, 200);
    let lines: { containerId: string; message: string }[] = [];
    await waitFor('echo lines of A and of B in flex logs through B', async () => {
      lines = (await json(throughB('flex', 'logs', '--service', serviceId, '--number', '2000', '--output', 'json'), 'flex logs (B)'))
        .filter((l: { message: string }) => l.message === 'echo called on version 1.0.0');
      const from = new Set(lines.map((l) => l.containerId.slice(0, 12)));
      return [...onA].some((id) => from.has(id)) && [...onB].some((id) => from.has(id));
    }, { timeoutMs: 60_000, intervalMs: CLI_POLL_MS }).catch((err: Error) => { throw new Error(`${err.message}; lines: ${JSON.stringify(lines)}; A ${[...onA]}, B ${[...onB]}`); });
    // The table view: test/kinvey-cli.test.ts; the same lines read through A: two-nodes.test.ts (the route the CLI calls).
  });

  test('a second deploy through A: whenever B says ONLINE at 1.0.1, both data planes serve 1.0.1', async () => {
    const pkgFile = join(projectDir, 'package.json');
    const pkg = JSON.parse(await readFile(pkgFile, 'utf8'));
    await writeFile(pkgFile, JSON.stringify({ ...pkg, version: '1.0.1' }, null, 2));
    assert.match(await ok(throughA('flex', 'deploy', '--service', serviceId, '--set-vars', 'KEY=fleet'), 'flex deploy 1.0.1 (A)'), /Deploy initiated/);
    await untilStatus({ url: b.url, ...ADMIN }, serviceId, environmentId, (s) => s.status === 'ONLINE' && s.version === '1.0.1', DEPLOY_TIMEOUT_MS);
    const online = await waitFor('status through B ONLINE at 1.0.1', async () => {
      const s = await statusThroughB();
      return s.status === 'ONLINE' && s.version === '1.0.1' ? s : undefined;
    }, { timeoutMs: DEPLOY_TIMEOUT_MS, intervalMs: CLI_POLL_MS });
    assert.deepEqual(online.nodes.map((n: { name: string; version: string }) => [n.name, n.version]), [['a', '1.0.1'], ['b', '1.0.1']]);
    // ONLINE at a version means every live node serves it: both answer from 1.0.1 from then on.
    assert.deepEqual(await echo(a), { status: 200, KEY: 'fleet', version: '1.0.1', header: '1.0.1' }, 'A serves what B reports');
    assert.deepEqual(await echo(b), { status: 200, KEY: 'fleet', version: '1.0.1', header: '1.0.1' }, 'B serves what B reports');
    const shown = await json(throughB('flex', 'show', '--service', serviceId, '--output', 'json'), 'flex show (B)');
    assert.deepEqual(shown.environmentVariables, { KEY: 'fleet' });
  });

  test('flexd logs and flexd logs --follow through B show the lines of both nodes', async () => {
    const onA = await replicasOf(a);
    const onB = await replicasOf(b);
    const cli = await flexdCli(await tempDir(cleanup, 'flexd-fleet-cli-flexd-home-'));
    await cli.ok(['login', '--host', b.url, '--email', ADMIN.email, '--password', ADMIN.password]);
    const follower = cli.start(['logs', '--service', SERVICE_NAME, '--follow', '--tail', '1']);
    cleanup.after(() => { if (follower.exitCode === null) follower.kill('SIGKILL'); });
    let followed = '';
    follower.stdout!.setEncoding('utf8').on('data', (d: string) => { followed += d; });
    follower.stderr!.setEncoding('utf8').on('data', (d: string) => { followed += d; });
    await waitFor('--follow to print the newest line', () => followed.includes('\n'), { timeoutMs: 60_000 });
    const before = followed.length;
    const linesOf = (ids: Set<string>, text: string) => text.split('\n').filter((l) => /echo called on version 1\.0\.1/.test(l) && [...ids].some((id) => l.includes(id)));
    await waitFor('--follow through B to print new lines of A and of B', async () => {
      assert.equal((await echo(a)).status, 200);
      assert.equal((await echo(b)).status, 200);
      const fresh = followed.slice(before);
      return linesOf(onA, fresh).length > 0 && linesOf(onB, fresh).length > 0;
    }, { timeoutMs: 60_000, intervalMs: 500 }).catch((err: Error) => { throw new Error(`${err.message}; followed: ${followed.slice(-2000)}; A ${[...onA]}, B ${[...onB]}`); });
    follower.kill('SIGTERM');
    const listed = await cli.json<{ containerId: string; message: string }[]>(['logs', '--service', SERVICE_NAME, '-n', '2000']);
    const from = new Set(listed.filter((l) => l.message === 'echo called on version 1.0.1').map((l) => l.containerId.slice(0, 12)));
    assert.ok([...onA].some((id) => from.has(id)) && [...onB].some((id) => from.has(id)), `flexd logs through B lists both nodes' containers: ${[...from]}`);
  });
});
