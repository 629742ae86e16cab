/**
 * Two flexd nodes behind a load balancer that alternates (issue 14): 16 clients send their
 * requests to A and B in turns while the nodes change what they run — a deploy through B, a
 * variable set through A, a rollback through A, a recycle through B. No request may be lost:
 * every answer is a 200 from a version (and variables) that was deployed, on both nodes, and a
 * node that answered from the new version never answers from the old one again. Each change ends
 * with both nodes on it, and the status through the other node says ONLINE there only then.
 * Last, a third node that starts while a change is made catches up with it (a new node serving
 * at once with nothing changing: two-nodes.test.ts).
 *
 * Real HTTP only (uploads as kinvey-cli sends them); one PostgreSQL and one pair of nodes for the
 * file; the steps share state and run in order.
 */
import assert from 'node:assert/strict';
import { cp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import type { Runtime } from '../../src/runtime.ts';
import { ECHO_PROJECT } from '../api/helpers.ts';
import { tarOf } from '../fixtures/deploy/archives.ts';
import { CleanupStack } from '../helpers/cleanup.ts';
import { startPostgres } from '../helpers/postgres.ts';
import { tempDir } from '../helpers/tmp.ts';
import { keepStoredTrees } from './stored-trees.ts';
import { runtimeNode } from './runtime-nodes.ts';
import { waitFor, withDeadline } from '../helpers/wait.ts';
import { callFunction, keepAliveAgent } from '../lifecycle/helpers.ts';

const ADMIN = { email: 'ops@example.com', password: 'fleet-swap-password' };
const SECRET = 'fleet-swap-secret';
const CLIENTS = 16;
/** A first deploy installs kinvey-flex-sdk with npm on the node that builds (the first run, before its tree is kept: stored-trees.ts). */
const DEPLOY_TIMEOUT_MS = 240_000;
/** A change of a version already built: a swap on each node. */
const CHANGE_TIMEOUT_MS = 120_000;
/** One request under load on a loaded 2-core machine; an answer later than this counts as lost. */
const REQUEST_TIMEOUT_MS = 60_000;
/** Requests each client still sends once both nodes serve the change (the tail of the swap, old replicas retiring). */
const REQUESTS_AFTER = 6;
/** A node is live for 20 s after its last heartbeat: the 16 clients load the machine, which delays beats. */
const LIVE_WINDOW_MS = 20_000;

interface Answer {
  client: number; node: 'a' | 'b'; startedAt: number; endedAt: number;
  status: number | 'error'; version?: string; KEY?: string | null; error?: string;
}

describe('16 clients alternating between two nodes while the nodes change what they run', () => {
  const cleanup = new CleanupStack();
  after(() => cleanup.run());

  let database: string;
  let a: Runtime;
  let b: Runtime;
  let token: string;
  let serviceId: string;
  let environmentId: string;
  let projectDir: string;
  const nodes = () => ({ a, b });
  /** Every request of the file: the clients', the polls' (sockets enough for the 16 clients on each node). */
  const agent = keepAliveAgent(cleanup, 2 * CLIENTS);

  const node = (name: string) => runtimeNode(cleanup, { database, name, admin: ADMIN, liveWindowMs: LIVE_WINDOW_MS, npmCache: true });

  async function call(rt: Runtime, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
    const init: RequestInit = { method, headers: { Authorization: `Kinvey ${token}` } };
    if (body instanceof FormData) init.body = body;
    else if (body !== undefined) {
      init.body = JSON.stringify(body);
      (init.headers as Record<string, string>)['Content-Type'] = 'application/json';
    }
    const { res, text } = await withDeadline(`${method} ${path}`, (async () => {
      const res = await fetch(`${rt.url}${path}`, init);
      return { res, text: await res.text() };
    })(), REQUEST_TIMEOUT_MS);
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  }

  /** The project as kinvey-cli uploads it (a tar without node_modules), as `version`, through `rt`. */
  async function upload(rt: Runtime, version: string): Promise<string> {
    const pkgFile = join(projectDir, 'package.json');
    await writeFile(pkgFile, JSON.stringify({ ...JSON.parse(await readFile(pkgFile, 'utf8')), version }, null, 2));
    const form = new FormData();
    form.append('type', 'deployService');
    form.append('params', JSON.stringify({ serviceId, serviceEnvironmentId: environmentId, version }));
    form.append('file', new Blob([new Uint8Array(await tarOf(projectDir))], { type: 'application/tar' }), 'archive.tar');
    const accepted = await call(rt, 'POST', '/v4/jobs', form);
    assert.equal(accepted.status, 201, JSON.stringify(accepted.body));
    return accepted.body.job;
  }

  /** Waits for a job through the node that did not accept it (a job is visible on every node). */
  async function jobDone(rt: Runtime, job: string, timeoutMs: number): Promise<void> {
    const done = await waitFor(`job ${job} to end`, async () => {
      const j = (await call(rt, 'GET', `/v4/jobs/${job}`)).body;
      return j.status === 'COMPLETED' || j.status === 'ERROR' ? j : undefined;
    }, { timeoutMs, intervalMs: 200 });
    assert.equal(done.status, 'COMPLETED', `job ${job}: ${done.progress}`);
  }

  /**
   * The echo function through `rt`: what it answers, or its status. Over node:http with one keep-alive
   * agent for the file (as fetch keeps its connections): the 16 clients run in this process beside
   * both nodes, and fetch's client side cost about twice node:http's CPU, taken from the nodes' swaps.
   */
  async function echo(rt: Runtime, timeoutMs = REQUEST_TIMEOUT_MS): Promise<{ status: number; version?: string; KEY?: string | null }> {
    const res = await callFunction(`${rt.url}/flex/${serviceId}/Development`, 'echo', {}, { agent, secret: SECRET, timeoutMs });
    if (res.status !== 200) return { status: res.status };
    const body = res.answer as { KEY: string | null; version: string };
    assert.equal(res.version, body.version);
    return { status: 200, version: body.version, KEY: body.KEY };
  }

  /** Both nodes answer with `want` (polled apart from the load). */
  async function bothServe(want: { version: string; KEY: string | null }, label: string): Promise<void> {
    for (const [name, rt] of Object.entries(nodes())) {
      await waitFor(`${name} to serve ${label}`, async () => {
        const r = await echo(rt);
        return r.status === 200 && r.version === want.version && r.KEY === want.KEY;
      }, { timeoutMs: CHANGE_TIMEOUT_MS, intervalMs: 100 });
    }
  }

  /**
   * Runs `change` while 16 clients alternate between A and B (client i's request n goes to
   * (i + n) % 2), then keeps them going until both nodes serve `want` and each client sent a few
   * more. Returns every answer.
   */
  async function underLoad(change: () => Promise<void>, want: { version: string; KEY: string | null }, label: string): Promise<Answer[]> {
    const answers: Answer[] = [];
    let stopping = false;
    const client = async (i: number) => {
      let after = 0;
      for (let n = 0; after < REQUESTS_AFTER; n++) {
        if (stopping) after++;
        const name = (i + n) % 2 === 0 ? 'a' : 'b';
        const startedAt = performance.now();
        try {
          const r = await echo(nodes()[name]);
          answers.push({ client: i, node: name, startedAt, endedAt: performance.now(), ...r });
        } catch (err) {
          answers.push({ client: i, node: name, startedAt, endedAt: performance.now(), status: 'error', error: String(err) });
        }
      }
    };
    const clients = Array.from({ length: CLIENTS }, (_, i) => client(i));
    try {
      await change();
      await bothServe(want, label);
    } finally {
      stopping = true;
      await Promise.all(clients);
    }
    return answers;
  }

  /**
   * No request lost: every answer a 200 from one of `allowed`; on each node both the old and the
   * new state were seen (the load did span the swap); once a node answered from the new state, a
   * request to it that started later never gets the old one.
   */
  function checkNoneLost(answers: Answer[], allowed: { version: string; KEY: string | null }[], next: { version: string; KEY: string | null }): void {
    const key = (x: { version?: string; KEY?: string | null }) => `${x.version}/${x.KEY}`;
    const failed = answers.filter((x) => x.status !== 200);
    assert.deepEqual(failed.slice(0, 5), [], `${failed.length} of ${answers.length} requests failed`);
    const known = new Set(allowed.map(key));
    const strange = answers.filter((x) => !known.has(key(x)));
    assert.deepEqual(strange.slice(0, 5), [], `answers from states never deployed: ${[...new Set(strange.map(key))]}`);
    for (const name of ['a', 'b'] as const) {
      const mine = answers.filter((x) => x.node === name);
      const firstNew = Math.min(...mine.filter((x) => key(x) === key(next)).map((x) => x.endedAt));
      assert.ok(Number.isFinite(firstNew), `node ${name} answered from ${key(next)} under the load`);
      assert.ok(mine.some((x) => key(x) !== key(next)), `node ${name} answered from the old state first (the load spanned its swap)`);
      const back = mine.filter((x) => x.startedAt > firstNew && key(x) !== key(next));
      assert.deepEqual(back.slice(0, 3), [], `node ${name} went back to the old state after serving ${key(next)}`);
    }
  }

  /** The status through `rt`: ONLINE at `version` with both nodes on it (polled: the other node's heartbeat follows its swap). */
  async function onlineThrough(rt: Runtime, version: string, names = ['a', 'b']): Promise<any> {
    let last: any;
    return waitFor(`status ONLINE at ${version} on ${names}`, async () => {
      last = (await call(rt, 'GET', `/v4/services/${serviceId}/environments/${environmentId}/status`)).body;
      return last.status === 'ONLINE' && last.version === version
        && JSON.stringify(last.nodes?.map((n: { name: string; version: string; status: string }) => [n.name, n.version, n.status]))
          === JSON.stringify(names.map((n) => [n, version, 'ONLINE'])) ? last : undefined;
    }, { timeoutMs: CHANGE_TIMEOUT_MS, intervalMs: 200 }).catch((err: Error) => { throw new Error(`${err.message}; last: ${JSON.stringify(last)}`); });
  }

  before(async () => {
    const pg = await startPostgres(cleanup);
    database = await pg.createDatabase();
    a = await node('a');
    b = await node('b');
    // kinvey-flex-sdk's tree as an earlier run stored it: the first deploy is about the nodes, not npm.
    await keepStoredTrees(cleanup, database);
    projectDir = join(await tempDir(cleanup, 'flexd-fleet-swap-project-'), 'project');
    await cp(ECHO_PROJECT, projectDir, { recursive: true });
    token = await withDeadline('the login', (async () => {
      const login = await fetch(`${a.url}/session`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(ADMIN) });
      assert.equal(login.status, 200);
      return ((await login.json()) as { token: string }).token;
    })(), REQUEST_TIMEOUT_MS);
    const svc = await call(a, 'POST', '/v4/services', { name: 'fleet-swap', type: 'internal' });
    serviceId = svc.body.id;
    const env = await call(a, 'POST', `/v4/services/${serviceId}/environments`, { name: 'Development', secret: SECRET, environmentVariables: { KEY: 'one' } });
    environmentId = env.body.id;
    await jobDone(b, await upload(a, '1.0.0'), DEPLOY_TIMEOUT_MS);
    await bothServe({ version: '1.0.0', KEY: 'one' }, '1.0.0');
  });

  test('a deploy through B swaps both nodes; no request of 16 alternating clients is lost', async () => {
    const answers = await underLoad(async () => {
      await jobDone(a, await upload(b, '1.0.1'), CHANGE_TIMEOUT_MS);
    }, { version: '1.0.1', KEY: 'one' }, '1.0.1');
    checkNoneLost(answers, [{ version: '1.0.0', KEY: 'one' }, { version: '1.0.1', KEY: 'one' }], { version: '1.0.1', KEY: 'one' });
    await onlineThrough(a, '1.0.1');
    await onlineThrough(b, '1.0.1');
  });

  test('a variable set through A reaches B\'s replicas; no request lost meanwhile', async () => {
    const answers = await underLoad(async () => {
      const r = await call(a, 'PUT', `/v4/services/${serviceId}/environments/${environmentId}`, { environmentVariables: { KEY: 'two' } });
      assert.equal(r.status, 200, JSON.stringify(r.body));
    }, { version: '1.0.1', KEY: 'two' }, 'KEY=two');
    checkNoneLost(answers, [{ version: '1.0.1', KEY: 'one' }, { version: '1.0.1', KEY: 'two' }], { version: '1.0.1', KEY: 'two' });
    const shown = await call(b, 'GET', `/v4/services/${serviceId}/environments/${environmentId}`);
    assert.deepEqual(shown.body.environmentVariables, { KEY: 'two' });
  });

  test('after a variable change through A, the status through A says ONLINE only once B serves the change too', async () => {
    const statusPath = `/v4/services/${serviceId}/environments/${environmentId}/status`;
    const r = await call(a, 'PUT', `/v4/services/${serviceId}/environments/${environmentId}`, { environmentVariables: { KEY: 'two-b' } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const seen: string[] = [];
    await waitFor('status through A ONLINE after the change', async () => {
      const s = (await call(a, 'GET', statusPath)).body;
      seen.push(s.status);
      // The recycle job is queued at once, so the status leaves ONLINE until it ends and every node runs its result.
      return s.status === 'ONLINE';
    }, { timeoutMs: CHANGE_TIMEOUT_MS, intervalMs: 20 });
    assert.deepEqual(await echo(b), { status: 200, version: '1.0.1', KEY: 'two-b' }, `B serves the change once the status says ONLINE (statuses seen: ${[...new Set(seen)]})`);
    assert.deepEqual(await echo(a), { status: 200, version: '1.0.1', KEY: 'two-b' });
    await call(a, 'PUT', `/v4/services/${serviceId}/environments/${environmentId}`, { environmentVariables: { KEY: 'two' } });
    await bothServe({ version: '1.0.1', KEY: 'two' }, 'KEY=two again');
  });

  test('a rollback through A acts on both nodes; no request lost meanwhile', async () => {
    const answers = await underLoad(async () => {
      const r = await call(a, 'POST', '/v4/jobs', { type: 'rollbackService', params: { serviceId, serviceEnvironmentId: environmentId, version: '1.0.0' } });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      await jobDone(b, r.body.job, CHANGE_TIMEOUT_MS);
    }, { version: '1.0.0', KEY: 'two' }, 'the rollback to 1.0.0');
    checkNoneLost(answers, [{ version: '1.0.1', KEY: 'two' }, { version: '1.0.0', KEY: 'two' }], { version: '1.0.0', KEY: 'two' });
    const status = await onlineThrough(b, '1.0.0');
    assert.equal(status.origin?.kind, 'rollback');
  });

  test('a recycle through B restarts the replicas of both nodes; no request lost meanwhile', async () => {
    const replicasOf = async (rt: Runtime) => new Set<string>((await call(rt, 'GET', `/v4/services/${serviceId}/environments/${environmentId}/status`)).body.replicas
      .map((r: { containerId: string }) => r.containerId));
    const before = { a: await replicasOf(a), b: await replicasOf(b) };
    assert.ok(before.a.size > 0 && before.b.size > 0);
    const answers = await underLoad(async () => {
      const r = await call(b, 'POST', '/v4/jobs', { type: 'recycleService', params: { serviceId, serviceEnvironmentId: environmentId } });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      await jobDone(a, r.body.job, CHANGE_TIMEOUT_MS);
      for (const [name, rt] of Object.entries(nodes())) {
        await waitFor(`fresh replicas on ${name}`, async () => {
          const now = await replicasOf(rt);
          return now.size > 0 && [...now].every((id) => !before[name as 'a' | 'b'].has(id));
        }, { timeoutMs: CHANGE_TIMEOUT_MS, intervalMs: 100 });
      }
    }, { version: '1.0.0', KEY: 'two' }, '1.0.0 after the recycle');
    const failed = answers.filter((x) => x.status !== 200 || x.version !== '1.0.0' || x.KEY !== 'two');
    assert.deepEqual(failed.slice(0, 5), [], `${failed.length} of ${answers.length} requests failed or answered from another state`);
    for (const name of ['a', 'b'] as const) assert.ok(answers.filter((x) => x.node === name).length >= CLIENTS, `load reached ${name}`);
    await onlineThrough(a, '1.0.0');
  });

  // A new node with an empty data dir serving at once, counted in the status and the node list: two-nodes.test.ts.

  test('a node that starts while a change is made catches up with it (the change falls between its restore and its listening)', async () => {
    // Hold the new node in its restore: it reads the version's files from version_blobs, which a
    // transaction of the test's keeps locked. The nodes already running never read them again.
    const locker = new pg.Client({ connectionString: database });
    await locker.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE version_blobs IN ACCESS EXCLUSIVE MODE');
      const starting = node('d');
      let settled = 'pending';
      starting.then(() => { settled = 'started'; }, (err: Error) => { settled = `failed: ${err.message}`; });
      let waiting: string[] = [];
      await waitFor('node d to wait for the version\'s files', async () => {
        // Inside a transaction the activity view is a snapshot taken once: drop it before each look.
        await locker.query('SELECT pg_stat_clear_snapshot()');
        const { rows } = await locker.query(`SELECT state, wait_event_type, query FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND datname = current_database()`);
        waiting = [settled, ...rows.map((x: { state: string; wait_event_type: string; query: string }) => `${x.state}/${x.wait_event_type}: ${x.query.slice(0, 100)}`)];
        return rows.some((x: { wait_event_type: string; query: string }) => x.wait_event_type === 'Lock' && x.query.includes('version_blobs'));
      }, { timeoutMs: 60_000, intervalMs: 50 }).catch((err: Error) => { throw new Error(`${err.message}; waiting: ${JSON.stringify(waiting)}`); });
      const r = await call(a, 'PUT', `/v4/services/${serviceId}/environments/${environmentId}`, { environmentVariables: { KEY: 'three' } });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      await bothServe({ version: '1.0.0', KEY: 'three' }, 'KEY=three');
      await locker.query('COMMIT');
      const d = await withDeadline('node d to start', starting, 120_000);
      await waitFor('node d to serve KEY=three', async () => (await echo(d)).KEY === 'three', { timeoutMs: CHANGE_TIMEOUT_MS, intervalMs: 100 });
      assert.deepEqual(await echo(d), { status: 200, version: '1.0.0', KEY: 'three' });
    } finally {
      await locker.end();
    }
  });
});
