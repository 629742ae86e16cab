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
import { withDeadline, waitFor } from '../helpers/wait.ts';
import { DEPLOY_TIMEOUT_MS, deployFixture, FAULTS_DIR, fixtureCopy, hammer, keepAliveAgent, logLines, replicaProcessesOf, startRuntime, whoami, type Harness } from '../lifecycle/helpers.ts';
import { sqliteConnection } from '../../src/store/index.ts';

const target = { service: 'hoarder', environment: 'Production' };
/** Pages (4 KiB) left free: room for the job's progress rows, far from the artifact's ~100. */
const SPARE_PAGES = 16;
/** The database is capped at its size: filling its free space takes a few thousand rows at most. */
const MAX_FILLER_ROWS = 1_000_000;

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
  const err = await withDeadline('the deploy of 2.0.0 on a full database', h.rt.deployDirectory(hoard, target), DEPLOY_TIMEOUT_MS)
    .then(() => assert.fail('the deploy of 2.0.0 succeeded; it should have failed'), (e: Error) => e);
  await load.stop();
  assert.equal((err as Error & { code?: string }).code, 'StorageFull');
  assert.match(err.message, /^flexd's database is full \(disk or max_page_count\): the version was not stored/);
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
  await withDeadline('the deploy of 2.0.0 once space is back', h.rt.deployDirectory(hoard, target), DEPLOY_TIMEOUT_MS);
  assert.equal((await whoami(base, 'whoami once space is back')).version, '2.0.0');
  assert.equal(await store.integrityCheck(), 'ok');
  t.diagnostic(`database capped at ${pages + SPARE_PAGES} pages; ${load.records.length} requests answered by 1.0.0 during the failed deploy`);
});

test('F11: a deploy whose progress the full database refuses to record still settles with its reason, and the environment\'s next deploy runs', async (t) => {
  const cleanup = cleanupStack(t);
  const h = await startRuntime(cleanup);
  await deployFixture(h, cleanup, 'versioned', '1.0.0', target);
  const envId = h.environmentId(target.service, target.environment);
  const { store } = h.rt.context;
  const db = sqliteConnection(store);
  const unlimited = db.pragma('max_page_count', { simple: true }) as number;
  const [serving] = await replicaProcessesOf(process.pid);

  // 2.0.0's job is recorded and its version stored; its replica then waits for SIGUSR2 (held-start).
  const deploy = h.rt.deployDirectory(join(FAULTS_DIR, 'held-start'), target);
  const starting = await waitFor('the 2.0.0 replica waiting for its signal', async () => {
    if (!(await logLines(h, target.service, target.environment)).some((l) => /held-start: waiting for SIGUSR2/.test(l.message))) return undefined;
    return (await replicaProcessesOf(process.pid)).find((pid) => pid !== serving);
  }, { timeoutMs: DEPLOY_TIMEOUT_MS });
  // Now the disk fills: no page may be added, and the jobs table's pages (where the job's row
  // grows with each progress line) are filled with inert rows of no environment to the last byte.
  db.pragma(`max_page_count = ${db.pragma('page_count', { simple: true }) as number}`);
  for (const bytes of [1024, 64, 1]) fill(db, bytes);
  // A page may keep a few dozen bytes no new row fits in, where the held job's row could still
  // grow by its last line: the other jobs' rows (which share its page) take them up byte by byte.
  const held = db.prepare("SELECT id FROM jobs WHERE type = 'deployService' ORDER BY created_at DESC, rowid DESC LIMIT 1").get() as { id: string };
  takeSlack(db, held.id);
  process.kill(starting, 'SIGUSR2');

  const done = await withDeadline('the deploy on a full database to settle', deploy, DEPLOY_TIMEOUT_MS);
  assert.equal(done.status, 'COMPLETED', done.progress);
  assert.match(done.progress, /Deployed version 2\.0\.0$/, 'the caller hears how it ended');
  const stored = (await store.jobs.get(done.id))!;
  assert.notEqual(stored.status, 'COMPLETED', 'the full database refused to record the end (else this test made no fault)');
  assert.doesNotMatch(stored.progress, /Deployed version/);
  assert.equal(await store.integrityCheck(), 'ok');
  assert.equal((await whoami(h.base(target.service, target.environment), 'whoami after the deploy')).version, '2.0.0');

  db.prepare("DELETE FROM jobs WHERE type = 'filler'").run();
  db.pragma(`max_page_count = ${unlimited}`);
  await deployFixture(h, cleanup, 'versioned', '3.0.0', target);
  assert.equal((await whoami(h.base(target.service, target.environment), 'whoami after the next deploy')).version, '3.0.0');
  assert.equal((await store.jobs.latest(envId, 'deployService'))!.status, 'COMPLETED');
});

/** Grows every job row but `except`'s by one byte at a time until SQLite answers SQLITE_FULL. */
function takeSlack(db: ReturnType<typeof sqliteConnection>, except: string): void {
  const grow = db.prepare("UPDATE jobs SET progress = progress || 'x' WHERE id = ?");
  const others = db.prepare("SELECT id FROM jobs WHERE id <> ? AND type <> 'filler'").all(except) as { id: string }[];
  for (const { id } of others) {
    for (let i = 0; i < 8192; i++) {
      try {
        grow.run(id);
      } catch (err) {
        if ((err as { code?: string }).code === 'SQLITE_FULL') break;
        throw err;
      }
    }
  }
}

/**
 * Inserts job rows of no environment, with `bytes` of progress each, until SQLite answers
 * SQLITE_FULL; a cap that never answers it (the fault not made) fails instead of filling the disk.
 */
function fill(db: ReturnType<typeof sqliteConnection>, bytes: number): void {
  const insert = db.prepare("INSERT INTO jobs (id, type, status, progress, created_at, updated_at) VALUES (?, 'filler', 'COMPLETED', ?, '2000-01-01', '2000-01-01')");
  for (let i = 0; i < MAX_FILLER_ROWS; i++) {
    try {
      insert.run(`filler-${bytes}-${i}`, 'x'.repeat(bytes));
    } catch (err) {
      if ((err as { code?: string }).code === 'SQLITE_FULL') return;
      throw err;
    }
  }
  throw new Error(`${MAX_FILLER_ROWS} rows of ${bytes} bytes went in without SQLITE_FULL: max_page_count did not cap the database`);
}
