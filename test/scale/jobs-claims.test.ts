/**
 * Issue 14, job claims on a real PostgreSQL: several nodes' stores (each its own pool, as each
 * node has) claim lapsed jobs at once. `FOR UPDATE SKIP LOCKED` gives every job to exactly one
 * node, as the attempt that node then holds; nobody waits on another's claim. And two nodes' job
 * runners: a retaken job's first run, finishing late, changes nothing, and its waiters hear the
 * retaker's result.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { cleanupStack } from '../helpers/cleanup.ts';
import { startPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { openPostgresStore } from '../../src/store/postgres.ts';
import type { Claim, Store } from '../../src/store/index.ts';
import { JobRunner } from '../../src/deploy/jobs.ts';
import { silentLogger } from '../../src/logger.ts';
import { withDeadline } from '../helpers/wait.ts';

const fileCleanup = cleanupStack({ after });
let postgres: TestPostgres;
before(async () => { postgres = await startPostgres(fileCleanup); });

const JOBS = 24;

test('three nodes claiming lapsed jobs all at once: each job goes to exactly one node, as the attempt the database records for it', async (t) => {
  const cleanup = cleanupStack(t);
  const url = await postgres.createDatabase();
  const nodes: Record<string, Store> = {};
  for (const name of ['a', 'b', 'c']) {
    const store = await openPostgresStore(url, name);
    cleanup.after(() => store.close());
    nodes[name] = store;
  }
  const { a } = nodes;
  const org = await a.accounts.defaultOrganization();
  const svc = await a.services.createService(org.id, 'claims');
  const env = await a.services.createEnvironment(svc.id, { name: 'Development', secret: 'x' });
  const created = new Set<string>();
  for (let i = 0; i < JOBS; i++) {
    // Leases of no length: as if their node died the moment it took them.
    const job = await a.jobs.create({ type: 'recycleService', serviceId: svc.id, environmentId: env.id, params: {}, userEmail: null, upload: Buffer.from(`upload ${i}`), leaseMs: 0 });
    created.add(job.id);
  }
  // Every node fires several claims at once, round after round, until a round gets nothing. A round
  // that gets something claims at least one of the JOBS, so JOBS + 1 rounds are always enough: more is a bug.
  const claims: { node: string; claim: Claim }[] = [];
  await withDeadline('the nodes to claim every job', Promise.all(Object.entries(nodes).map(async ([node, store]) => {
    for (let rounds = 0; rounds <= JOBS; rounds++) {
      const round = await Promise.all(Array.from({ length: 6 }, () => store.jobs.claim(600_000, 5)));
      const got = round.filter((c): c is Claim => c !== undefined);
      for (const claim of got) claims.push({ node, claim });
      if (got.length === 0) return;
    }
    throw new Error(`node ${node} still claimed jobs after ${JOBS + 1} rounds (${claims.length} claims in all)`);
  })), 120_000);

  const ids = claims.map((c) => c.claim.job.id);
  assert.equal(ids.length, JOBS, 'one claim per job');
  assert.deepEqual(new Set(ids), created, 'every job claimed, none twice');
  for (const { node, claim } of claims) {
    assert.equal(claim.gaveUp, false);
    assert.equal(claim.job.attempt, 2);
    const stored = (await a.jobs.get(claim.job.id))!;
    assert.deepEqual([stored.node, stored.attempt, stored.status], [node, 2, 'QUEUED'], 'the database records the claim the node got');
    // The node that got it holds it: its first write goes through; any other attempt's is refused.
    assert.equal(await nodes[node].jobs.update({ jobId: stored.id, attempt: 2 }, 'BUILDING', 'Building'), true);
    assert.equal(await a.jobs.update({ jobId: stored.id, attempt: 1 }, 'BUILDING', 'stale'), false);
  }
  const spread = Object.keys(nodes).map((n) => claims.filter((c) => c.node === n).length);
  t.diagnostic(`claims per node: ${spread.join(', ')}`);
  assert.equal(await a.jobs.claim(600_000, 5), undefined, 'nothing left with a lapsed lease');
});

// The JobRunner is flexd's own; what a job does is its caller's (enqueue's and retake's function),
// here a run that waits for the test: the same retake through real deploys is scale/jobs-retake.test.ts.
test('job runners of two nodes: B retakes a job whose lease A let lapse and finishes it; A\'s run, finishing late, is refused, and a caller waiting on A hears B\'s result', async (t) => {
  const cleanup = cleanupStack(t);
  const url = await postgres.createDatabase();
  const a = await openPostgresStore(url, 'a');
  cleanup.after(() => a.close());
  const b = await openPostgresStore(url, 'b');
  cleanup.after(() => b.close());
  const org = await a.accounts.defaultOrganization();
  const svc = await a.services.createService(org.id, 'runners');
  const env = await a.services.createEnvironment(svc.id, { name: 'Development', secret: 'x' });
  // Leases far longer than the test: only the explicit lapse below lets B in.
  const options = { leaseMs: 600_000, pollMs: 600_000, maxAttempts: 3, shared: true };
  const runnerA = new JobRunner(a, silentLogger, options);
  const runnerB = new JobRunner(b, silentLogger, { ...options, retake: () => async (progress) => { progress('DEPLOYING', 'B at work'); return 'Done by B'; } });
  cleanup.after(async () => { await runnerA.release(); await runnerB.release(); });

  let finishA!: () => void;
  const aMayFinish = new Promise<void>((resolve) => { finishA = resolve; });
  let aStarted!: () => void;
  const started = new Promise<void>((resolve) => { aStarted = resolve; });
  const job = await a.jobs.create({ type: 'recycleService', serviceId: svc.id, environmentId: env.id, params: {}, userEmail: null, leaseMs: options.leaseMs });
  runnerA.enqueue(job, async (progress) => {
    progress('DEPLOYING', 'A at work');
    aStarted();
    await aMayFinish;
    return 'Done by A';
  });
  await withDeadline('A to start its run', started, 30_000);
  const waitingOnA = runnerA.wait(job.id);
  // That a claim leaves a live lease alone is the store's, checked on both engines in store/contract.test.ts
  // (and in the first test: nothing is claimable once every job is held). A wake of B here and a read
  // right after would race B's claim round on B's pool: the read could come first and show nothing.

  // A pauses past its lease (here: its lease is made to lapse), and B, woken, retakes the job.
  assert.deepEqual(await a.jobs.renew([{ jobId: job.id, attempt: 1 }], 0), []);
  runnerB.wake();
  const byB = await withDeadline('B to finish the retaken job', runnerB.wait(job.id), 60_000);
  assert.deepEqual([byB.status, byB.node, byB.attempt], ['COMPLETED', 'b', 2]);
  assert.match(byB.progress, /Retaken by node "b" \(attempt 2\)[\s\S]*Done by B$/);

  finishA();
  const heardOnA = await withDeadline('the caller waiting on A to hear the end', waitingOnA, 60_000);
  assert.deepEqual([heardOnA.status, heardOnA.node, heardOnA.progress], ['COMPLETED', 'b', byB.progress], 'the caller on A hears how B\'s run ended');
  await withDeadline('A\'s late run to end', runnerA.idle(), 60_000);
  const stored = (await a.jobs.get(job.id))!;
  assert.deepEqual([stored.status, stored.node, stored.attempt, stored.progress], ['COMPLETED', 'b', 2, byB.progress], 'A\'s late end changed nothing');
});
