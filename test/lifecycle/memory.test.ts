/**
 * RELIABILITY.md F4 and F5: a handler that runs out of memory — in the JS heap (the
 * `--max-old-space-size` flag, 75 % of memoryLimitMb) or in Buffers outside it (the RSS
 * watchdog). The request gets an error that says memory, the replica is replaced, and the
 * runtime and every other environment carry on.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cleanupStack } from '../helpers/cleanup.ts';
import { serverLogLine, serverLogRecorder } from '../helpers/server-log.ts';
import { waitFor, withDeadline } from '../helpers/wait.ts';
import { callFunction, COLD_START_MS, deployFixture, startRuntime, waitForLog, waitForProcessGone, whoami } from './helpers.ts';

const MEMORY_LIMIT_MB = 96;
const hog = (fixture: string) => ({ service: fixture, environment: 'Development' });
const bystander = { service: 'bystander', environment: 'Development' };

test('F4: a handler that exhausts the JS heap gets a 502 saying the replica ran out of memory; the replica is replaced and another environment keeps serving', async (t) => {
  const cleanup = cleanupStack(t);
  // The watchdog polls rarely here, so it is V8's heap limit that ends the replica, not the RSS cap.
  const h = await startRuntime(cleanup, { memoryLimitMb: MEMORY_LIMIT_MB, memoryCheckIntervalMs: 60_000 });
  const target = hog('heap-hog');
  await deployFixture(h, cleanup, 'heap-hog', '1.0.0', target);
  await deployFixture(h, cleanup, 'versioned', '1.0.0', bystander);
  const base = h.base(target.service, target.environment);
  const { pid } = await whoami(base, 'whoami before the heap runs out');
  const other = await whoami(h.base(bystander.service, bystander.environment), 'the bystander before');

  const res = await withDeadline('the answer to the request that exhausts the heap', callFunction(base, 'exhaust'), 30_000);
  assert.equal(res.status, 502, res.text);
  assert.equal(res.json?.error, 'ReplicaDied');
  assert.match(`${res.json?.description} ${res.json?.debug}`, /out of memory/i);
  await waitForProcessGone(pid, 'the replica that ran out of heap');
  await waitForLog(h, target.service, target.environment, /ran out of memory/);

  // Replaced by the pool itself, not only cold-started by the next request.
  await waitFor('a ready replacement', () => h.pool(target.service, target.environment).describe().some((r) => r.state === 'ready' && r.pid !== pid), { timeoutMs: COLD_START_MS });
  const after = await whoami(base, 'whoami after the replacement');
  assert.notEqual(after.pid, pid);
  assert.deepEqual(await whoami(h.base(bystander.service, bystander.environment), 'the bystander after'), other, 'the other environment kept its replica');
});

test('F5: a handler growing Buffers past the cap is killed by the memory watchdog well before the request timeout, with a log line and a server log line saying why; the replica is replaced', async (t) => {
  const cleanup = cleanupStack(t);
  const serverLog = serverLogRecorder();
  // A request timeout far past the answer's deadline: an answer that came from the timeout would be a 504 and late.
  const h = await startRuntime(cleanup, { memoryLimitMb: MEMORY_LIMIT_MB, memoryCheckIntervalMs: 100, requestTimeoutMs: 120_000, logger: serverLog.logger });
  const target = hog('buffer-hog');
  await deployFixture(h, cleanup, 'buffer-hog', '1.0.0', target);
  await deployFixture(h, cleanup, 'versioned', '1.0.0', bystander);
  const base = h.base(target.service, target.environment);
  const { pid } = await whoami(base, 'whoami before the Buffers grow');
  const other = await whoami(h.base(bystander.service, bystander.environment), 'the bystander before');

  // The watchdog's answer (a 502 naming the cap) within a quarter of the request timeout: growing past
  // 96 MB takes the replica well under a second, the watchdog polls every 100 ms, and the rest is room
  // for a machine at load 20.
  const res = await withDeadline('the answer to the request that grows Buffers', callFunction(base, 'grow', {}, { timeoutMs: 30_000 }), 30_000);
  assert.equal(res.status, 502, res.text);
  assert.equal(res.json?.error, 'ReplicaDied');
  assert.match(`${res.json?.description} ${res.json?.debug}`, new RegExp(`memory cap of ${MEMORY_LIMIT_MB} MB`));
  await waitForProcessGone(pid, 'the replica over the cap');
  await waitForLog(h, target.service, target.environment, new RegExp(`over the memory cap of ${MEMORY_LIMIT_MB} MB`));
  // Restarted at once, or (after a stall the machine caused) only when the next request comes.
  const memory = await serverLogLine(serverLog, ['replica exited; restarting', 'replica exited'], { ...target, reason: 'memory', level: 'warn' });
  assert.match(memory.detail, new RegExp(`memory cap of ${MEMORY_LIMIT_MB} MB`));

  await waitFor('a ready replacement', () => h.pool(target.service, target.environment).describe().some((r) => r.state === 'ready' && r.pid !== pid), { timeoutMs: COLD_START_MS });
  assert.notEqual((await whoami(base, 'whoami after the replacement')).pid, pid);
  assert.deepEqual(await whoami(h.base(bystander.service, bystander.environment), 'the bystander after'), other);
});
