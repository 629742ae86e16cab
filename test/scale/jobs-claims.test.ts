/**
 * Issue 14, job claims on a real PostgreSQL: several nodes' stores (each its own pool, as each
 * node has) claim lapsed jobs at once. `FOR UPDATE SKIP LOCKED` gives every job to exactly one
 * node, as the attempt that node then holds; nobody waits on another's claim.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { cleanupStack } from '../helpers/cleanup.ts';
import { startPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { openPostgresStore } from '../../src/store/postgres.ts';
import type { Claim, Store } from '../../src/store/index.ts';

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
  // Every node fires several claims at once, round after round, until nothing is left.
  const claims: { node: string; claim: Claim }[] = [];
  await Promise.all(Object.entries(nodes).map(async ([node, store]) => {
    for (;;) {
      const round = await Promise.all(Array.from({ length: 6 }, () => store.jobs.claim(600_000, 5)));
      const got = round.filter((c): c is Claim => c !== undefined);
      for (const claim of got) claims.push({ node, claim });
      if (got.length === 0) return;
    }
  }));

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
