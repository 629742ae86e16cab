/**
 * Closing an embedded runtime (what `flexd serve` does on SIGTERM) in the middle of lifecycle
 * work: nothing it started may outlive `close()`.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cleanupStack } from '../helpers/cleanup.ts';
import { waitFor, withDeadline } from '../helpers/wait.ts';
import { callFunction, deployFixture, fixtureCopy, keepAliveAgent, processGone, PROMPT_MS, replicaProcessesOf, startRuntime } from './helpers.ts';

const target = { service: 'closing', environment: 'Development' };

test('closing the runtime while a swap drains the old replica stops that replica too', async (t) => {
  const cleanup = cleanupStack(t);
  const h = await startRuntime(cleanup, { stopGraceMs: 300 });
  await deployFixture(h, cleanup, 'versioned', '1.0.0', target);
  const base = h.base(target.service, target.environment);
  const pool = h.pool(target.service, target.environment);
  const [old] = pool.describe();
  const agent = keepAliveAgent(cleanup, 2);

  // Longer than the close's grace: the old replica is still draining when close() returns.
  const held = callFunction(base, 'slow', { ms: 30_000 }, { agent, timeoutMs: 30_000 }).catch((err: Error) => err);
  await waitFor('a request in flight on 1.0.0', () => pool.describe()[0]?.inFlight === 1);
  const deploy = deployFixture(h, cleanup, 'versioned', '2.0.0', target);
  await waitFor('the swap to 2.0.0', () => pool.version === '2.0.0');
  const [fresh] = pool.describe();

  await withDeadline('close()', h.close(), PROMPT_MS);
  assert.ok(await processGone(fresh!.pid!), 'the new replica is stopped');
  assert.ok(await processGone(old!.pid!), 'the draining old replica is stopped');
  // The request the old replica held is answered, not cut off: a 503 saying why.
  const answer = await withDeadline('the held request to be answered', held, PROMPT_MS);
  assert.ok(!(answer instanceof Error), `the held request got an answer, not ${answer}`);
  assert.equal(answer.status, 503, answer.text);
  assert.equal(answer.json?.error, 'ServiceUnavailable');
  assert.match(answer.json?.description, /shutting down/);
  // The swap had happened before close(): the deploy is done, not failed by the close.
  const job = await withDeadline('the deploy of 2.0.0 to settle', deploy, PROMPT_MS);
  assert.equal(job.status, 'COMPLETED', job.progress);
});

test('closing the runtime in the middle of a deploy leaves no replica running', async (t) => {
  const cleanup = cleanupStack(t);
  const h = await startRuntime(cleanup);
  const deploy = h.rt.deployDirectory(fixtureCopy(cleanup, 'versioned', '1.0.0'), target).catch((err: Error) => err);
  await withDeadline('close()', h.close(), PROMPT_MS);
  const outcome = await withDeadline('the interrupted deploy to settle', deploy, 30_000);
  assert.equal((outcome as { code?: string }).code, 'RuntimeClosed', 'the interrupted deploy fails, saying why');
  assert.match(String(outcome), /runtime is closed/);
  assert.deepEqual(await replicaProcessesOf(process.pid), [], 'replicas that outlived close()');
});
