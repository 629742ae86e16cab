/**
 * RELIABILITY.md F2, F3 and F10: a replica killed or frozen from outside. flexd notices, answers
 * the requests it held with an error at once (never a hang or a reset socket), replaces it, and
 * the next request is answered. Each exit is one line of the server log, with its reason, in JSON
 * and in text.
 *
 * One runtime serves the tests that need no setting of their own, each on an environment of its own.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { cleanupStack, CleanupStack } from '../helpers/cleanup.ts';
import { serverLogLine, serverLogRecorder } from '../helpers/server-log.ts';
import { waitFor, withDeadline } from '../helpers/wait.ts';
import {
  callFunction, COLD_START_MS, deployFixture, FAST, keepAliveAgent, killLater, signal, startRuntime, waitForLog, waitForProcessGone, whoami, type Harness,
} from './helpers.ts';

describe('replicas killed or frozen on a shared runtime', () => {
  const suite = new CleanupStack();
  after(() => suite.run());
  const serverLog = serverLogRecorder();
  let h: Harness;

  before(async () => {
    h = await startRuntime(suite, { logger: serverLog.logger });
  });

  test('F2: an idle replica killed with SIGKILL is replaced at once, the next request answers 200, and a log line and a server log line name the exit', async () => {
    const target = { service: 'victim', environment: 'Development' };
    await deployFixture(h, suite, 'versioned', '1.0.0', target);
    const base = h.base(target.service, target.environment);
    const pool = h.pool(target.service, target.environment);
    const before = await whoami(base, 'whoami before the kill');
    const [replica] = pool.describe();
    assert.equal(replica?.pid, before.pid);

    signal(before.pid, 'SIGKILL');
    await waitForProcessGone(before.pid, 'the killed replica');
    await waitFor('a ready replacement', () => pool.describe().some((r) => r.state === 'ready' && r.pid !== before.pid), { timeoutMs: COLD_START_MS });

    const after = await whoami(base, 'whoami after the kill');
    assert.notEqual(after.pid, before.pid);
    await waitForLog(h, target.service, target.environment, new RegExp(`${replica!.containerId}.*killed by SIGKILL`));
    const exit = await serverLogLine(serverLog, 'replica exited; restarting', { ...target, containerId: replica!.containerId, reason: 'crash', restartInMs: 0 });
    assert.match(exit.detail, /SIGKILL/);
  });

  test('F10: a replica frozen with SIGSTOP is found by the liveness ping and replaced, its request in flight gets an error answer, and the server log says liveness', async () => {
    // FAST's liveness ping (every 2 s, 2 s to answer): a shorter one would also take a healthy replica
    // stalled by a loaded machine for frozen.
    const detectionMs = 3 * (FAST.livenessIntervalMs! + FAST.livenessTimeoutMs!);
    const target = { service: 'frozen', environment: 'Development' };
    await deployFixture(h, suite, 'versioned', '1.0.0', target);
    const base = h.base(target.service, target.environment);
    const pool = h.pool(target.service, target.environment);
    const { pid } = await whoami(base, 'whoami before the freeze');
    const { containerId } = pool.describe()[0]!;
    suite.after(killLater(pid));

    const held = callFunction(base, 'slow', { ms: 60_000 });
    await waitFor('the request in flight', () => pool.describe()[0]?.inFlight === 1);
    signal(pid, 'SIGSTOP');

    const res = await withDeadline('the answer to the frozen request', held, detectionMs);
    assert.equal(res.status, 502, res.text);
    assert.match(res.json?.debug, /liveness/);
    await waitForProcessGone(pid, 'the frozen replica', detectionMs);
    await waitForLog(h, target.service, target.environment, /did not answer a liveness ping/);
    // Restarted at once, or (after a stall the machine caused) only when the next request comes.
    const exit = await serverLogLine(serverLog, ['replica exited; restarting', 'replica exited'], { ...target, containerId, reason: 'liveness', level: 'warn' });
    assert.match(exit.detail, /liveness/);
    const after = await whoami(base, 'whoami after the freeze', { timeoutMs: COLD_START_MS });
    assert.notEqual(after.pid, pid);
  });

  test('F2: a replica killed while a subprocess of its own holds its output open is still replaced at once, and the subprocess goes with it', async () => {
    const parent = { service: 'parent', environment: 'Development' };
    await deployFixture(h, suite, 'spawns-helper', '1.0.0', { ...parent, settings: { permissionModel: false } });
    const base = h.base(parent.service, parent.environment);
    const pool = h.pool(parent.service, parent.environment);
    const before = await callFunction(base, 'whoami');
    assert.equal(before.status, 200, before.text);
    const { pid, helper } = before.answer as { pid: number; helper: number };
    // Numbers, or "the helper is gone" below would hold for a pid that never was.
    assert.ok(Number.isInteger(pid) && Number.isInteger(helper), `the replica names itself and its helper: ${before.text}`);
    suite.after(killLater(helper));

    signal(pid, 'SIGKILL');
    // "At once" against the helper's ten minutes (it holds the killed replica's output open that
    // long): a cold start of the replacement takes seconds on a machine at load 20, so the bound is
    // COLD_START_MS, a tenth of what waiting for the helper would take.
    await waitFor('a ready replacement', () => pool.describe().some((r) => r.state === 'ready' && r.pid !== pid), { timeoutMs: COLD_START_MS });
    await waitForProcessGone(helper, 'the helper of the killed replica');
    const after = await callFunction(base, 'whoami');
    assert.equal(after.status, 200, after.text);
    assert.notEqual(after.answer.pid, pid);
    signal(after.answer.helper, 'SIGKILL');
  });
});

test('F3: requests in flight on a replica killed with SIGKILL each get a prompt 502, and the queued ones are answered by the replacement', async (t) => {
  const cleanup = cleanupStack(t);
  const target = { service: 'victim', environment: 'Development' };
  const IN_FLIGHT = 4;
  const QUEUED = 3;
  // maxInFlightPerReplica is the runtime's setting: a runtime of its own.
  const h = await startRuntime(cleanup, { maxInFlightPerReplica: IN_FLIGHT });
  await deployFixture(h, cleanup, 'versioned', '1.0.0', target);
  const base = h.base(target.service, target.environment);
  const pool = h.pool(target.service, target.environment);
  const { pid } = await whoami(base, 'whoami before the kill');
  const agent = keepAliveAgent(cleanup, IN_FLIGHT + QUEUED);

  // Long enough that only the kill can end them; the queued ones are quick once they get a replica.
  const held = Array.from({ length: IN_FLIGHT }, () => callFunction(base, 'slow', { ms: 60_000 }, { agent, timeoutMs: 60_000 }));
  await waitFor(`${IN_FLIGHT} requests in flight`, () => pool.describe()[0]?.inFlight === IN_FLIGHT);
  const queued = Array.from({ length: QUEUED }, () => callFunction(base, 'slow', { ms: 10 }, { agent, timeoutMs: COLD_START_MS }));
  await waitFor(`${QUEUED} requests queued`, () => pool.queued === QUEUED);

  signal(pid, 'SIGKILL');
  // "Prompt" against the held requests' 60 s: only the kill can have ended them within a quarter of it.
  const died = await withDeadline('answers to the requests in flight', Promise.all(held), 15_000);
  for (const res of died) {
    assert.equal(res.status, 502, res.text);
    assert.equal(res.json?.error, 'ReplicaDied');
    assert.match(res.json?.debug, /SIGKILL/);
  }
  const served = await withDeadline('answers to the queued requests (a cold start of the replacement)', Promise.all(queued), COLD_START_MS);
  for (const res of served) {
    assert.equal(res.status, 200, res.text);
    assert.notEqual(res.answer.pid, pid, 'a queued request was answered by the replacement');
  }
});
