/**
 * RELIABILITY.md L1, L2 and F8: 50 keep-alive clients call a function back to back while versions
 * are deployed one after another, including versions that cannot start (they throw at top level,
 * do not parse, or require a package nobody installed). No request may fail, every answer names the
 * version that served it (header and body agree), and once a deploy has returned, only its version
 * answers. A version that cannot start fails its deploy with the reason and the tail of its output,
 * is started once (no restart loop), is not kept, and the replicas of the version before it stay.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CleanupStack, cleanupStack } from '../helpers/cleanup.ts';
import { waitFor, withDeadline } from '../helpers/wait.ts';
import {
  callFunction, deployFixture, failedDeploy, hammer, keepAliveAgent, logLines, processGone, PROMPT_MS, signal, startRuntime, strays, waitForProcessGone,
  type Harness, type LoadRecord,
} from './helpers.ts';

const CLIENTS = 50;
/** Answers each phase must see before the next deploy starts, so every swap happens under load. */
const ANSWERS_PER_PHASE = 300;
const target = { service: 'swapper', environment: 'Production' };

describe('deploys under the load of 50 keep-alive clients', () => {
  const suite = new CleanupStack();
  after(() => suite.run());
  let h: Harness;
  let load: ReturnType<typeof hammer>;

  /** Waits until the load has had `ANSWERS_PER_PHASE` answers to requests sent after `since`. */
  const answersSince = (since: number, label: string) =>
    waitFor(`${ANSWERS_PER_PHASE} answers ${label}`, () => load.records.filter((r) => r.startedAt > since).length >= ANSWERS_PER_PHASE, { timeoutMs: 30_000 });
  const failures = (records: readonly LoadRecord[]) => records.filter((r) => r.status !== 200 || !r.header || r.header !== r.body);

  before(async () => {
    h = await startRuntime(suite);
    await deployFixture(h, suite, 'versioned', '1.0.0', target);
    load = hammer(h.base(target.service, target.environment), CLIENTS, keepAliveAgent(suite, CLIENTS));
    suite.after(() => load.stop());
    await answersSince(0, 'from version 1.0.0');
  });

  test('L1: v2, v3 and v4 deployed one after another cost zero failed requests, each answer names its version, and after each swap only the new version answers', async () => {
    const start = Date.now();
    for (const version of ['2.0.0', '3.0.0', '4.0.0']) {
      await deployFixture(h, suite, 'versioned', version, target);
      const swappedAt = Date.now();
      await answersSince(swappedAt, `after the swap to ${version}`);
      assert.deepEqual(strays(load.records, swappedAt, version).slice(0, 5), [], `requests sent after the swap to ${version} returned must be answered by ${version}`);
    }
    const records = load.records.filter((r) => r.startedAt > start);
    assert.deepEqual(failures(records).slice(0, 5), [], `failed or unnamed answers among ${records.length}`);
    const served = new Set(records.map((r) => r.header));
    assert.deepEqual([...served].sort(), ['1.0.0', '2.0.0', '3.0.0', '4.0.0'], 'each version served its phase, and no other version answered');
  });

  /** Replicas that wrote a line matching `pattern`: a restart loop would show several. */
  const replicasThatSaid = async (pattern: RegExp) =>
    [...new Set((await logLines(h, target.service, target.environment)).filter((l) => pattern.test(l.message)).map((l) => l.containerId))];

  /**
   * Deploys `fixture` as 4.1.0 under the load and expects it refused with `reason`: the job ERROR
   * with the reason in its progress and the deploy's error, 4.0.0's replicas serving every request
   * throughout (the same processes as before), and 4.1.0 not kept.
   */
  async function refused(fixture: string, reason: RegExp): Promise<void> {
    const pool = h.pool(target.service, target.environment);
    const serving = pool.describe().map((r) => r.pid);
    const start = Date.now();
    const err = await failedDeploy(h, suite, fixture, '4.1.0', target);
    assert.match(`${err.message}\n${err.debug}`, reason, 'the deploy\'s error names the reason');
    const job = await h.rt.context.store.jobs.latest(h.environmentId(target.service, target.environment), 'deployService');
    assert.equal(job?.status, 'ERROR');
    assert.match(job!.progress, reason, `the job's progress names the reason:\n${job!.progress}`);
    await answersSince(Date.now(), `after the failed deploy of ${fixture}`);
    const records = load.records.filter((r) => r.startedAt > start);
    assert.deepEqual(failures(records).slice(0, 5), [], `failed answers among ${records.length}`);
    assert.deepEqual(strays(load.records, start, '4.0.0').slice(0, 5), [], `only 4.0.0 answers while and after ${fixture} fails`);
    assert.equal(pool.version, '4.0.0');
    assert.deepEqual(pool.describe().map((r) => r.pid), serving, '4.0.0\'s replicas never left the router');
    assert.equal(await h.rt.context.store.versions.newest(h.environmentId(target.service, target.environment)), '4.0.0', 'the failed version is not kept');
  }

  test('L2, F8: a version that throws at top level fails its deploy with the output tail, starts once, and 4.0.0 answers every request throughout', async () => {
    await refused('throws-at-start', /failed to start[\s\S]*last output[\s\S]*throws-at-start: this version cannot start/);
    assert.equal((await replicasThatSaid(/throws-at-start: this version cannot start/)).length, 1);
  });

  test('L2, F8: a version that does not parse fails its deploy naming the file and line, and 4.0.0 answers every request throughout', async () => {
    // As under node .: Node's own SyntaxError when the file loads, with the file and line relative to the project.
    await refused('syntax-error', /failed to start[\s\S]*index\.js:\d+[\s\S]*SyntaxError/);
  });

  test('L2, F8: a version that requires a missing package fails its deploy naming the package, starts once, and 4.0.0 answers every request throughout', async () => {
    await refused('missing-dependency', /failed to start[\s\S]*Cannot find module 'flexd-fixture-no-such-package'/);
    assert.equal((await replicasThatSaid(/Cannot find module 'flexd-fixture-no-such-package'/)).length, 1);
  });

  test('L1, F8: after the failed versions, nothing restarts them, and v5 swaps in as smoothly as the others', async (t) => {
    const start = Date.now();
    await deployFixture(h, suite, 'versioned', '5.0.0', target);
    const swappedAt = Date.now();
    await answersSince(swappedAt, 'after the swap to 5.0.0');
    await load.stop();
    const records = load.records.filter((r) => r.startedAt > start);
    assert.deepEqual(failures(records).slice(0, 5), [], `failed answers among ${records.length}`);
    assert.deepEqual(strays(load.records, swappedAt, '5.0.0').slice(0, 5), []);
    // Counted after the whole run of the load: a restart loop would have started them again by now.
    assert.equal((await replicasThatSaid(/throws-at-start: this version cannot start/)).length, 1);
    assert.equal((await replicasThatSaid(/Cannot find module/)).length, 1);
    const total = load.records.length;
    assert.deepEqual(failures(load.records).slice(0, 5), [], `no failure in the whole run of ${total} requests`);
    t.diagnostic(`${total} requests from ${CLIENTS} keep-alive clients across 4 swaps and 3 failed deploys, none failed`);
  });
});

test('a swap lets requests in flight finish on the old version while new requests already go to the new one, then stops the old replica', async (t) => {
  const cleanup = cleanupStack(t);
  // The held requests wait through a whole deploy of 2.0.0 (seconds at load 20): FAST's 10 s request
  // timeout would answer them 504 before the swap on a loaded machine.
  const h = await startRuntime(cleanup, { requestTimeoutMs: 120_000 });
  const drained = { service: 'drainer', environment: 'Development' };
  await deployFixture(h, cleanup, 'versioned', '1.0.0', drained);
  const base = h.base(drained.service, drained.environment);
  const pool = h.pool(drained.service, drained.environment);
  const [old] = pool.describe();
  const agent = keepAliveAgent(cleanup, 8);

  // Held until the test sends SIGUSR2 to the old replica.
  const held = Array.from({ length: 4 }, () => callFunction(base, 'hold', {}, { agent, timeoutMs: 120_000 }));
  await waitFor('4 requests in flight on 1.0.0', () => pool.describe()[0]?.inFlight === 4);
  const deploy = deployFixture(h, cleanup, 'versioned', '2.0.0', drained);
  await waitFor('the swap to 2.0.0', () => pool.version === '2.0.0', { timeoutMs: 30_000 });
  const fresh = await callFunction(base, 'whoami', {}, { agent });
  assert.equal(fresh.version, '2.0.0', 'a request after the swap goes to the new version at once');
  assert.ok(old && !(await processGone(old.pid!)), 'the old replica still runs while it drains');

  signal(old!.pid!, 'SIGUSR2');
  for (const res of await withDeadline('the requests in flight on 1.0.0', Promise.all(held), PROMPT_MS)) {
    assert.equal(res.status, 200, res.text);
    assert.equal(res.version, '1.0.0');
  }
  // It returns once the old replica has drained and stopped: FAST's stop grace (1 s) at most, and room for a loaded machine.
  const job = await withDeadline('the deploy of 2.0.0 to finish once its old replica drained', deploy, 15_000);
  assert.equal(job.status, 'COMPLETED', job.progress);
  // FAST's stop grace (1 s), then a SIGKILL; the rest is room for a loaded machine.
  await waitForProcessGone(old!.pid!, 'the drained 1.0.0 replica', 15_000);
});
