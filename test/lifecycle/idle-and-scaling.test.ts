/**
 * SPEC §5 idle eviction and scaling: an environment nobody calls drops to zero replicas and
 * the next request cold-starts one without an error; a busy environment grows up to
 * maxReplicas and shrinks back once idle.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cleanupStack } from '../helpers/cleanup.ts';
import { serverLogLine, serverLogRecorder } from '../helpers/server-log.ts';
import { waitFor, withDeadline } from '../helpers/wait.ts';
import { callFunction, COLD_START_MS, deployFixture, keepAliveAgent, logLines, signal, startRuntime, waitForLog, waitForProcessGone, whoami } from './helpers.ts';

test('an environment idle past idleTimeoutMs has no replica process left (one server log line says so), and the next request is answered by a cold start with a log line giving its duration', async (t) => {
  const cleanup = cleanupStack(t);
  const serverLog = serverLogRecorder();
  const h = await startRuntime(cleanup, { idleTimeoutMs: 500, memoryCheckIntervalMs: 50, logger: serverLog.logger });
  const target = { service: 'sleepy', environment: 'Development' };
  await deployFixture(h, cleanup, 'versioned', '1.0.0', target);
  const base = h.base(target.service, target.environment);
  const pool = h.pool(target.service, target.environment);
  const { pid } = await whoami(base, 'whoami before idling');

  await waitFor('the pool to drop to zero replicas', () => pool.replicaCount === 0);
  await waitForProcessGone(pid, 'the idle replica');
  await waitForLog(h, target.service, target.environment, /idle for \d+ ms: stopping 1 replica/);
  const idle = await serverLogLine(serverLog, 'environment idle: replicas stopped', { ...target, replicas: 1 });
  assert.ok(idle.idleMs >= 500, `idle for ${idle.idleMs} ms`);

  const cold = await withDeadline('the cold start answer', callFunction(base, 'whoami', {}, { timeoutMs: COLD_START_MS }), COLD_START_MS);
  assert.equal(cold.status, 200, cold.text);
  assert.notEqual(cold.answer.pid, pid);
  assert.equal(cold.version, '1.0.0');
  const line = await waitForLog(h, target.service, target.environment, /cold start: replica ready in (\d+) ms/);
  t.diagnostic(line.message);
});

test('under in-flight load an environment scales up to maxReplicas, spreads requests over them, and scales back down when idle', async (t) => {
  const cleanup = cleanupStack(t);
  // The held requests wait through a cold start of the second replica (seconds at load 20): FAST's
  // 10 s request timeout would answer them 504 first on a loaded machine.
  const h = await startRuntime(cleanup, { maxReplicas: 2, scaleUpInFlight: 2, scaleDownIdleMs: 300, memoryCheckIntervalMs: 50, requestTimeoutMs: 120_000 });
  const target = { service: 'elastic', environment: 'Development' };
  await deployFixture(h, cleanup, 'versioned', '1.0.0', target);
  const base = h.base(target.service, target.environment);
  const pool = h.pool(target.service, target.environment);
  assert.equal(pool.replicaCount, 1);
  const agent = keepAliveAgent(cleanup, 8);

  const [only] = pool.describe();
  // Two in flight on the only replica (held until SIGUSR2): the third finds it at the target and adds a replica.
  const hold = () => callFunction(base, 'hold', {}, { agent, timeoutMs: 120_000 });
  const held = [hold(), hold()];
  await waitFor('two requests in flight', () => pool.describe()[0]?.inFlight === 2);
  held.push(hold());
  await waitFor('a second ready replica', () => pool.describe().filter((r) => r.state === 'ready').length === 2, { timeoutMs: COLD_START_MS });
  await waitForLog(h, target.service, target.environment, /scaled up to 2 replicas/);
  const added = pool.describe().find((r) => r.pid !== only!.pid)!;
  // The least busy replica, the new one, takes the next requests.
  for (let i = 0; i < 3; i++) assert.equal((await whoami(base, `whoami #${i} while the first replica is busy`)).pid, added.pid);
  assert.equal(pool.replicaCount, 2, 'never more than maxReplicas');
  signal(only!.pid!, 'SIGUSR2');
  for (const res of await withDeadline('the held requests', Promise.all(held), 15_000)) {
    assert.equal(res.status, 200, res.text);
    assert.equal(res.answer.pid, only!.pid);
  }

  await waitFor('the pool to scale back to one replica', () => pool.replicaCount === 1);
  await waitForLog(h, target.service, target.environment, /scaled down to 1 replicas/);
  assert.equal((await callFunction(base, 'whoami')).status, 200);
  assert.equal((await logLines(h, target.service, target.environment)).filter((l) => /scaled up/.test(l.message)).length, 1);
});
