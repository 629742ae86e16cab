/**
 * Spares (supervisor/pool.ts): an environment with a free replica slot keeps one replica process
 * booted ahead of need, spawned exactly as a replica is, its project not yet run. A cold start
 * takes it; the replica it becomes is the one a spawned replica is; a lost spare is replaced;
 * nothing outlives close(); with `spareReplica: false` an idle environment keeps no process.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cleanupStack } from '../helpers/cleanup.ts';
import { waitFor, withDeadline } from '../helpers/wait.ts';
import { callFunction, COLD_START_MS, deployFixture, processGone, replicaProcessesOf, signal, startRuntime, waitForLog, waitForProcessGone, type Harness } from './helpers.ts';

type Identity = Record<string, unknown> & { pid: number };

async function identity(h: Harness, target: { service: string; environment: string }, label: string): Promise<Identity> {
  const res = await withDeadline(label, callFunction(h.base(target.service, target.environment), 'identity'), 30_000);
  assert.equal(res.status, 200, res.text);
  return res.answer as Identity;
}

/** What differs between any two replicas by design: the pid, and each replica's own folder (HOME, TMPDIR, its permission paths). */
function comparable(id: Identity): Record<string, unknown> {
  const { pid: _pid, ...rest } = id;
  return JSON.parse(JSON.stringify(rest).replace(/replicas\/[A-Za-z0-9_-]+\//g, 'replicas/<container>/')) as Record<string, unknown>;
}

function waitForBootedSpare(h: Harness, target: { service: string; environment: string }, other?: number): Promise<number> {
  const pool = h.pool(target.service, target.environment);
  return waitFor('a booted spare', () => {
    const spare = pool.spareState;
    return spare.state === 'booted' && spare.pid !== other ? spare.pid : undefined;
  }, { timeoutMs: COLD_START_MS });
}

test('a cold start takes the booted spare, and the replica it becomes is what a spawned replica is: argv, cwd, environment, account, heap cap, module graph, stack traces', async (t) => {
  const cleanup = cleanupStack(t);
  // Idle long enough that the deploy's replica still serves the first request on a loaded machine:
  // were the reference itself a former spare, the comparison below would compare a spare with a spare.
  const h = await startRuntime(cleanup, { idleTimeoutMs: 3_000, memoryCheckIntervalMs: 50, spareReplica: true });
  const target = { service: 'spare', environment: 'Development' };
  await deployFixture(h, cleanup, 'identity', '1.0.0', target);
  const pool = h.pool(target.service, target.environment);
  assert.deepEqual(pool.spareState, { state: 'none' }, 'the one replica slot is taken: no spare beside it');
  const deployed = pool.describe()[0]?.pid;
  // Spawned by the deploy: the reference.
  const spawned = await identity(h, target, 'identity of the spawned replica');
  assert.equal(spawned.pid, deployed, 'the reference is the replica the deploy spawned');

  await waitFor('the pool to idle to zero replicas', () => pool.replicaCount === 0);
  await waitForProcessGone(spawned.pid, 'the idled replica');
  const sparePid = await waitForBootedSpare(h, target);
  assert.deepEqual(await replicaProcessesOf(process.pid), [sparePid], 'the spare is the only replica process left');

  const fromSpare = await identity(h, target, 'identity of the cold start');
  assert.equal(fromSpare.pid, sparePid, 'the spare answered the cold start');
  await waitForLog(h, target.service, target.environment, /cold start: replica ready in \d+ ms \(from a booted spare\)/);
  assert.deepEqual(comparable(fromSpare), comparable(spawned));
  assert.equal(fromSpare.isMain, true);
  assert.equal(fromSpare.parent, null);
  assert.match(String((fromSpare.handlerStack as string[])[1]), /at thrower \(.*index\.js:\d+:\d+\)/);
  if (process.getuid?.() === 0) assert.ok(typeof fromSpare.uid === 'number' && fromSpare.uid !== 0, `as root, a spare runs as the environment's account like any replica (uid ${fromSpare.uid})`);

  // The spare became the replica: the slot is taken again, so no spare until it idles; then a new one.
  assert.equal(pool.spareState.state, 'none');
  await waitFor('the pool to idle to zero replicas again', () => pool.replicaCount === 0);
  const next = await waitForBootedSpare(h, target, sparePid);
  assert.notEqual(next, sparePid, 'a fresh spare replaces the one taken');
});

test('a spare that dies is replaced, a recycle takes the spare, and close() leaves no spare behind', async (t) => {
  const cleanup = cleanupStack(t);
  // Two replica slots, one replica: the second slot holds a spare while the environment serves.
  const h = await startRuntime(cleanup, { minReplicas: 1, maxReplicas: 2, scaleDownIdleMs: 60_000, spareReplica: true });
  const target = { service: 'spare-lost', environment: 'Development' };
  await deployFixture(h, cleanup, 'identity', '1.0.0', target);
  const pool = h.pool(target.service, target.environment);
  const first = await waitForBootedSpare(h, target);
  assert.equal(pool.replicaCount, 1);

  signal(first, 'SIGKILL');
  await waitForProcessGone(first, 'the killed spare');
  const second = await waitForBootedSpare(h, target, first);
  await waitForLog(h, target.service, target.environment, /spare replica killed by SIGKILL/);

  // A recycle with unchanged variables: the fresh replica is the spare (it never ran the project).
  const before = (await identity(h, target, 'identity before the recycle')).pid;
  await withDeadline('the recycle', h.rt.recycle(target), 30_000);
  const after = await identity(h, target, 'identity after the recycle');
  assert.equal(after.pid, second, 'the recycle took the spare');
  await waitForProcessGone(before, 'the recycled replica');
  const third = await waitForBootedSpare(h, target, second);

  await h.close();
  assert.ok(await processGone(third), 'the spare stopped with the runtime');
  assert.deepEqual(await replicaProcessesOf(process.pid), [], 'no replica or spare outlived close()');
});

test('with spareReplica off, an environment idled to zero keeps no process and a cold start spawns', async (t) => {
  const cleanup = cleanupStack(t);
  const h = await startRuntime(cleanup, { idleTimeoutMs: 400, memoryCheckIntervalMs: 50, spareReplica: false });
  const target = { service: 'no-spare', environment: 'Development' };
  await deployFixture(h, cleanup, 'identity', '1.0.0', target);
  const pool = h.pool(target.service, target.environment);
  const spawned = await identity(h, target, 'identity of the first replica');
  await waitFor('the pool to idle to zero replicas', () => pool.replicaCount === 0);
  await waitForProcessGone(spawned.pid, 'the idled replica');
  assert.deepEqual(pool.spareState, { state: 'off' });
  assert.deepEqual(await replicaProcessesOf(process.pid), []);
  const cold = await identity(h, target, 'identity of the cold start');
  assert.deepEqual(comparable(cold), comparable(spawned));
  await waitForLog(h, target.service, target.environment, /cold start: replica ready in \d+ ms \(spawned\)/);
});
