/**
 * RELIABILITY.md F11: the disk fills up during a deploy. SQLite's `max_page_count` caps the
 * database just above its size, so the deploy's job still records its steps but the artifact
 * no longer fits: SQLITE_FULL, as on a full disk. The dependency tree is stored once and shared
 * with 1.0.0, so 2.0.0 carries 600 KB of data of its own to need the space.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cleanupStack } from '../helpers/cleanup.ts';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deployFixture, failedDeploy, fixtureCopy, hammer, keepAliveAgent, startRuntime, whoami } from '../lifecycle/helpers.ts';
import { sqliteConnection } from '../../src/store/index.ts';

const target = { service: 'hoarder', environment: 'Production' };
/** Pages (4 KiB) left free: room for the job's progress rows, far from the artifact's ~100. */
const SPARE_PAGES = 16;

test('F11: a deploy that finds the database full fails with StorageFull, leaves the database consistent and the current version serving, and the same deploy succeeds once space is back', async (t) => {
  const cleanup = cleanupStack(t);
  const h = await startRuntime(cleanup);
  await deployFixture(h, cleanup, 'versioned', '1.0.0', target);
  const base = h.base(target.service, target.environment);
  const envId = h.environmentId(target.service, target.environment);
  const { store } = h.rt.context;
  const db = sqliteConnection(store);
  const unlimited = db.pragma('max_page_count', { simple: true }) as number;
  const pages = db.pragma('page_count', { simple: true }) as number;
  db.pragma(`max_page_count = ${pages + SPARE_PAGES}`);

  const hoard = fixtureCopy(cleanup, 'versioned', '2.0.0');
  writeFileSync(join(hoard, 'hoard.bin'), randomBytes(600 * 1024));
  const load = hammer(base, 4, keepAliveAgent(cleanup, 4));
  const err = await h.rt.deployDirectory(hoard, target).then(() => assert.fail('the deploy of 2.0.0 succeeded; it should have failed'), (e: Error) => e);
  await load.stop();
  assert.match(err.message, /^StorageFull: flexd's database is full \(disk or max_page_count\): the version was not stored/);
  const job = (await store.jobs.latest(envId, 'deployService'))!;
  assert.equal(job.status, 'ERROR');
  assert.match(job.progress, /StorageFull/);
  assert.equal(await store.integrityCheck(), 'ok');
  assert.deepEqual((await store.versions.list(envId)).map((v) => v.version), ['1.0.0'], 'nothing of 2.0.0 stored');
  assert.equal((await store.versions.get((await store.services.getEnvironment(envId))!.activeVersionId!))!.version, '1.0.0');
  const failures = load.records.filter((r) => r.status !== 200 || r.header !== '1.0.0');
  assert.deepEqual(failures, [], 'the current version answered every request meanwhile');
  assert.ok(load.records.length > 0);
  assert.equal((await whoami(base, 'whoami after the failed deploy')).version, '1.0.0');

  db.pragma(`max_page_count = ${unlimited}`);
  await h.rt.deployDirectory(hoard, target);
  assert.equal((await whoami(base, 'whoami once space is back')).version, '2.0.0');
  assert.equal(await store.integrityCheck(), 'ok');
  t.diagnostic(`database capped at ${pages + SPARE_PAGES} pages; ${load.records.length} requests answered by 1.0.0 during the failed deploy`);
});

test('F11: a deploy whose progress the full database refuses to record still settles with its reason, and the environment\'s next deploy runs', async (t) => {
  const cleanup = cleanupStack(t);
  const h = await startRuntime(cleanup);
  await deployFixture(h, cleanup, 'versioned', '1.0.0', target);
  const { jobs } = h.rt.context.store;
  // On a full disk the WAL cannot grow and every write fails; here only the job's writes do.
  const update = jobs.update;
  jobs.update = () => { throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' }); };
  cleanup.after(() => { jobs.update = update; });

  const err = await failedDeploy(h, cleanup, 'versioned', '1.0.0', target);
  assert.match(err.message, /^DeploymentVersionTooLow/);
  jobs.update = update;
  await deployFixture(h, cleanup, 'versioned', '2.0.0', target);
  assert.equal((await whoami(h.base(target.service, target.environment), 'whoami after the next deploy')).version, '2.0.0');
});
