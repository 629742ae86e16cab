/**
 * Closing an embedded runtime (what `flexd serve` does on SIGTERM) in the middle of lifecycle
 * work: nothing it started may outlive `close()`.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { cleanupStack } from '../helpers/cleanup.ts';
import { waitFor, withDeadline } from '../helpers/wait.ts';
import { callFunction, DEPLOY_TIMEOUT_MS, deployFixture, FAULTS_DIR, fixtureCopy, keepAliveAgent, logLines, processGone, PROMPT_MS, replicaProcessesOf, startRuntime } from './helpers.ts';

const target = { service: 'closing', environment: 'Development' };
/**
 * How long close() may take on a machine at load 20. Each test sets the interval close() would wait
 * out if it were broken (the request timeout a drain waits for, the ready timeout of a starting
 * replica) to four times this, so "at once" is told apart from "when that ran out".
 */
const CLOSE_MS = 30_000;
const WAITED_OUT_MS = 4 * CLOSE_MS;

test('closing the runtime while a swap drains the old replica stops that replica too', async (t) => {
  const cleanup = cleanupStack(t);
  // A drain waits up to the request timeout: a close() that waited for the old replica would take that long.
  const h = await startRuntime(cleanup, { stopGraceMs: 300, requestTimeoutMs: WAITED_OUT_MS });
  await deployFixture(h, cleanup, 'versioned', '1.0.0', target);
  const base = h.base(target.service, target.environment);
  const pool = h.pool(target.service, target.environment);
  const [old] = pool.describe();
  const agent = keepAliveAgent(cleanup, 2);

  // Longer than the close's grace: the old replica is still draining when close() returns.
  const held = callFunction(base, 'slow', { ms: WAITED_OUT_MS }, { agent, timeoutMs: WAITED_OUT_MS }).catch((err: Error) => err);
  await waitFor('a request in flight on 1.0.0', () => pool.describe()[0]?.inFlight === 1);
  const deploy = deployFixture(h, cleanup, 'versioned', '2.0.0', target);
  await waitFor('the swap to 2.0.0', () => pool.version === '2.0.0');
  const [fresh] = pool.describe();

  await withDeadline('close()', h.close(), CLOSE_MS);
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

test('closing the runtime in the middle of a deploy leaves no replica running: neither one still being built nor one still starting', async (t) => {
  const cleanup = cleanupStack(t);
  // A close() that waited for the starting replica would take its ready timeout.
  const h = await startRuntime(cleanup, { readyTimeoutMs: WAITED_OUT_MS });
  // One deploy whose replica is starting (held-start waits for a SIGUSR2 that never comes)...
  const held = { service: 'closing-held', environment: 'Development' };
  const starting = h.rt.deployDirectory(join(FAULTS_DIR, 'held-start'), held).catch((err: Error) => err);
  const replica = await waitFor('the held-start replica waiting for its signal', async () => {
    if (!(await logLines(h, held.service, held.environment)).some((l) => /held-start: waiting for SIGUSR2/.test(l.message))) return undefined;
    return (await replicaProcessesOf(process.pid))[0];
  }, { timeoutMs: DEPLOY_TIMEOUT_MS });
  // ...and one still building when close() comes, right after it was asked for.
  const building = h.rt.deployDirectory(fixtureCopy(cleanup, 'versioned', '1.0.0'), target).catch((err: Error) => err);

  await withDeadline('close()', h.close(), CLOSE_MS);
  assert.ok(await processGone(replica), 'the starting replica is stopped by the time close() returns');
  for (const [label, deploy] of [['the deploy being built', building], ['the deploy whose replica was starting', starting]] as const) {
    // close() cut the call short: it says so at once, not when the replica's start would have timed out
    const outcome = await withDeadline(`${label} to settle`, deploy, PROMPT_MS);
    assert.equal((outcome as { code?: string }).code, 'RuntimeClosed', `${label} fails, saying why: ${outcome}`);
    assert.match(String(outcome), /runtime is closed/);
  }
  assert.deepEqual(await replicaProcessesOf(process.pid), [], 'replicas that outlived close()');
});
