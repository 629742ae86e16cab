/**
 * RELIABILITY.md F8: a version that cannot start — it throws at top level, does not parse, or
 * requires a package nobody installed. The deploy job ends in ERROR with the reason and the
 * tail of the replica's output; the previous version keeps serving without one failed request;
 * the broken version is started once, not again and again.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CleanupStack } from '../helpers/cleanup.ts';
import { waitFor } from '../helpers/wait.ts';
import { failedDeploy, deployFixture, hammer, keepAliveAgent, logLines, startRuntime, type Harness } from './helpers.ts';

const CLIENTS = 10;
const ANSWERS_PER_PHASE = 100;
const target = { service: 'steady', environment: 'Production' };

describe('a version that crashes at start, deployed under load', () => {
  const suite = new CleanupStack();
  after(() => suite.run());
  let h: Harness;
  let load: ReturnType<typeof hammer>;
  let servingPid: number | undefined;

  const answersSince = (since: number, label: string) =>
    waitFor(`${ANSWERS_PER_PHASE} answers ${label}`, () => load.records.filter((r) => r.startedAt > since).length >= ANSWERS_PER_PHASE, { timeoutMs: 30_000 });

  before(async () => {
    h = await startRuntime(suite);
    await deployFixture(h, suite, 'versioned', '1.0.0', target);
    servingPid = h.pool(target.service, target.environment).describe()[0]?.pid;
    load = hammer(h.base(target.service, target.environment), CLIENTS, keepAliveAgent(suite, CLIENTS));
    suite.after(() => load.stop());
    await answersSince(0, 'before the bad deploys');
  });

  /** Deploys `fixture` as 2.0.0, expects the job to fail with `reason`, and checks that 1.0.0 served throughout. */
  async function refused(fixture: string, reason: RegExp): Promise<void> {
    const start = Date.now();
    const err = await failedDeploy(h, suite, fixture, '2.0.0', target);
    const job = (await h.rt.context.store.jobs.latest(h.environmentId(target.service, target.environment), 'deployService'));
    assert.equal(job?.status, 'ERROR');
    assert.match(job!.progress, reason, `the job's progress names the reason:\n${job!.progress}`);
    assert.match(`${err.message}\n${err.debug}`, reason);
    await answersSince(Date.now(), `after the failed deploy of ${fixture}`);
    const records = load.records.filter((r) => r.startedAt > start);
    assert.deepEqual(records.filter((r) => r.status !== 200 || r.header !== '1.0.0').slice(0, 5), [], `every one of ${records.length} requests answered by 1.0.0`);
    const pool = h.pool(target.service, target.environment);
    assert.equal(pool.version, '1.0.0');
    assert.deepEqual(pool.describe().map((r) => r.pid), [servingPid], 'the old replica serves alone');
    assert.equal((await h.rt.context.store.versions.newest(h.environmentId(target.service, target.environment))), '1.0.0', 'the failed version is not kept');
  }

  /** Replicas that wrote a line matching `pattern`: a restart loop would show several. */
  async function replicasThatSaid(pattern: RegExp): Promise<string[]> {
    return [...new Set((await logLines(h, target.service, target.environment)).filter((l) => pattern.test(l.message)).map((l) => l.containerId))];
  }

  test('F8: a version that throws at top level fails its deploy with the output tail, starts once, and 1.0.0 keeps serving every request', async () => {
    await refused('throws-at-start', /failed to start[\s\S]*last output[\s\S]*throws-at-start: this version cannot start/);
    assert.equal((await replicasThatSaid(/throws-at-start: this version cannot start/)).length, 1);
  });

  test('F8: a version that does not parse fails its deploy naming the file and line, and 1.0.0 keeps serving every request', async () => {
    // As under node .: Node's own SyntaxError when the file loads, with the file and line relative to the project.
    await refused('syntax-error', /failed to start[\s\S]*index\.js:\d+[\s\S]*SyntaxError/);
  });

  test('F8: a version that requires a missing package fails its deploy naming the package, starts once, and 1.0.0 keeps serving every request', async () => {
    await refused('missing-dependency', /failed to start[\s\S]*Cannot find module 'flexd-fixture-no-such-package'/);
    assert.equal((await replicasThatSaid(/Cannot find module 'flexd-fixture-no-such-package'/)).length, 1);
  });

  test('F8: after the failed deploys, nothing restarts the broken versions and 2.0.0 of a working build deploys normally', async () => {
    await answersSince(Date.now(), 'after all the failed deploys');
    assert.equal((await replicasThatSaid(/throws-at-start: this version cannot start/)).length, 1);
    assert.equal((await replicasThatSaid(/Cannot find module/)).length, 1);
    const start = Date.now();
    await deployFixture(h, suite, 'versioned', '2.0.0', target);
    const deployedAt = Date.now();
    await answersSince(deployedAt, 'after 2.0.0');
    await load.stop();
    const since = load.records.filter((r) => r.startedAt > deployedAt);
    assert.deepEqual(since.filter((r) => r.header !== '2.0.0').slice(0, 5), [], `every one of ${since.length} requests after the deploy answered by 2.0.0`);
    assert.deepEqual(load.records.filter((r) => r.startedAt > start && r.status !== 200).slice(0, 5), []);
    assert.deepEqual(load.records.filter((r) => r.status !== 200).slice(0, 5), [], `no failure among all ${load.records.length} requests`);
  });
});
