/**
 * RELIABILITY.md L1 and L2: 50 keep-alive clients call a function back to back while versions
 * are deployed one after another — including one that cannot start. No request may fail, every
 * answer names the version that served it (header and body agree), and once a deploy has
 * returned, only its version answers.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CleanupStack, cleanupStack } from '../helpers/cleanup.ts';
import { waitFor, withDeadline } from '../helpers/wait.ts';
import {
  callFunction, deployFixture, failedDeploy, hammer, keepAliveAgent, processGone, PROMPT_MS, signal, startRuntime, strays, waitForProcessGone,
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

  test('L2: a version that throws at start is refused, and version 4.0.0 answers every request throughout, with zero failures', async () => {
    const start = Date.now();
    const err = await failedDeploy(h, suite, 'throws-at-start', '4.1.0', target);
    assert.match(`${err.message}\n${err.debug}`, /throws-at-start: this version cannot start/, 'the error quotes the output of the replica that failed');
    await answersSince(Date.now(), 'after the failed deploy');
    const records = load.records.filter((r) => r.startedAt > start);
    assert.deepEqual(failures(records).slice(0, 5), [], `failed answers among ${records.length}`);
    assert.deepEqual(strays(load.records, start, '4.0.0').slice(0, 5), [], 'only 4.0.0 answers while and after 4.1.0 fails');
    assert.equal(h.pool(target.service, target.environment).version, '4.0.0');
  });

  test('L1: after the failed version, v5 swaps in as smoothly as the others', async (t) => {
    const start = Date.now();
    await deployFixture(h, suite, 'versioned', '5.0.0', target);
    const swappedAt = Date.now();
    await answersSince(swappedAt, 'after the swap to 5.0.0');
    await load.stop();
    const records = load.records.filter((r) => r.startedAt > start);
    assert.deepEqual(failures(records).slice(0, 5), [], `failed answers among ${records.length}`);
    assert.deepEqual(strays(load.records, swappedAt, '5.0.0').slice(0, 5), []);
    const total = load.records.length;
    assert.deepEqual(failures(load.records).slice(0, 5), [], `no failure in the whole run of ${total} requests`);
    t.diagnostic(`${total} requests from ${CLIENTS} keep-alive clients across 4 swaps and 1 failed deploy, none failed`);
  });
});

test('a swap lets requests in flight finish on the old version while new requests already go to the new one, then stops the old replica', async (t) => {
  const cleanup = cleanupStack(t);
  const h = await startRuntime(cleanup);
  const drained = { service: 'drainer', environment: 'Development' };
  await deployFixture(h, cleanup, 'versioned', '1.0.0', drained);
  const base = h.base(drained.service, drained.environment);
  const pool = h.pool(drained.service, drained.environment);
  const [old] = pool.describe();
  const agent = keepAliveAgent(cleanup, 8);

  // Held until the test sends SIGUSR2 to the old replica.
  const held = Array.from({ length: 4 }, () => callFunction(base, 'hold', {}, { agent }));
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
  await deploy;
  // FAST's stop grace (1 s), then a SIGKILL; the rest is room for a loaded machine.
  await waitForProcessGone(old!.pid!, 'the drained 1.0.0 replica', 15_000);
});
