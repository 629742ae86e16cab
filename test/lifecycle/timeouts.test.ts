/**
 * RELIABILITY.md F6 and F7: handlers that never answer. A synchronous infinite loop gets the
 * timeout answer at the deadline and its replica — deaf to pings — is killed and replaced,
 * while the runtime and other environments stay quick. A handler that merely forgets
 * `complete()` gets the same timeout answer, but its replica is healthy and stays.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cleanupStack } from '../helpers/cleanup.ts';
import { waitFor, withDeadline } from '../helpers/wait.ts';
import { callFunction, deployFixture, PROMPT_MS, request, startRuntime, waitForLog, waitForProcessGone, whoami } from './helpers.ts';

const REQUEST_TIMEOUT_MS = 1_500;
/** How late after the deadline the timeout answer may come on a loaded box. */
const DEADLINE_SLACK_MS = 1_000;
/** What "keeps answering fast" means for the runtime's own routes and other environments. */
const FAST_ANSWER_MS = 1_000;

test('F6: a synchronous infinite loop gets a 504 at the deadline, its replica is SIGKILLed and replaced, and the runtime and other environments keep answering fast', async (t) => {
  const cleanup = cleanupStack(t);
  // Pings go unanswered during the loop, but a replica busy with a request in time is left to
  // the request timeout (F10 covers a replica frozen by SIGSTOP).
  const h = await startRuntime(cleanup, { requestTimeoutMs: REQUEST_TIMEOUT_MS, livenessIntervalMs: 100, livenessTimeoutMs: 100 });
  const loop = { service: 'looper', environment: 'Development' };
  const other = { service: 'neighbour', environment: 'Development' };
  await deployFixture(h, cleanup, 'busy-loop', '1.0.0', loop);
  await deployFixture(h, cleanup, 'versioned', '1.0.0', other);
  const base = h.base(loop.service, loop.environment);
  const { pid } = await whoami(base, 'whoami before the loop');

  const started = Date.now();
  const spinning = callFunction(base, 'spin');
  await waitFor('the looping request in flight', () => h.pool(loop.service, loop.environment).describe()[0]?.inFlight === 1);
  // While the replica spins: the runtime's own health endpoints, and another environment.
  for (let i = 0; i < 5; i++) {
    const health = await request(`${base}/healthcheck`, { timeoutMs: PROMPT_MS });
    assert.equal(health.status, 200);
    assert.ok(health.ms < FAST_ANSWER_MS, `healthcheck took ${health.ms} ms`);
    const healthz = await request(`${h.rt.url}/healthz`, { timeoutMs: PROMPT_MS });
    assert.equal(healthz.status, 200);
    assert.ok(healthz.ms < FAST_ANSWER_MS, `the runtime's /healthz took ${healthz.ms} ms`);
    const neighbour = await callFunction(h.base(other.service, other.environment), 'whoami', {}, { timeoutMs: PROMPT_MS });
    assert.equal(neighbour.status, 200);
    assert.ok(neighbour.ms < FAST_ANSWER_MS, `the other environment took ${neighbour.ms} ms`);
  }

  const res = await withDeadline('the timeout answer', spinning, REQUEST_TIMEOUT_MS + DEADLINE_SLACK_MS + PROMPT_MS);
  const tookMs = Date.now() - started;
  assert.equal(res.status, 504, res.text);
  assert.equal(res.json?.error, 'RequestTimeout');
  assert.ok(tookMs >= REQUEST_TIMEOUT_MS && tookMs < REQUEST_TIMEOUT_MS + DEADLINE_SLACK_MS, `answered after ${tookMs} ms`);

  await waitForProcessGone(pid, 'the looping replica');
  await waitForLog(h, loop.service, loop.environment, /not responding after a request timeout; killing it/);
  await waitForLog(h, loop.service, loop.environment, /killed by SIGKILL/);
  const after = await whoami(base, 'whoami after the replacement');
  assert.notEqual(after.pid, pid);
});

test('liveness: a handler computing synchronously for longer than the liveness timeout, but within the request timeout, is answered and its replica kept', async (t) => {
  const cleanup = cleanupStack(t);
  const h = await startRuntime(cleanup, { requestTimeoutMs: 20_000, livenessIntervalMs: 100, livenessTimeoutMs: 100 });
  const svc = { service: 'cruncher', environment: 'Development' };
  await deployFixture(h, cleanup, 'busy-loop', '1.0.0', svc);
  const base = h.base(svc.service, svc.environment);
  const { pid } = await whoami(base, 'whoami before the work');
  const res = await callFunction(base, 'crunch', { body: { ms: 1_500 } }, { timeoutMs: 15_000 });
  assert.equal(res.status, 200, res.text);
  assert.equal(res.json?.response?.body?.pid, pid);
  assert.equal((await whoami(base, 'whoami after the work')).pid, pid);
});

test('F7: a handler that never calls complete() gets a 504 at the deadline; the same replica stays and its in-flight count returns to zero', async (t) => {
  const cleanup = cleanupStack(t);
  const h = await startRuntime(cleanup, { requestTimeoutMs: REQUEST_TIMEOUT_MS, livenessTimeoutMs: 300 });
  const target = { service: 'forgetful', environment: 'Development' };
  await deployFixture(h, cleanup, 'never-completes', '1.0.0', target);
  const base = h.base(target.service, target.environment);
  const pool = h.pool(target.service, target.environment);
  const { pid } = await whoami(base, 'whoami before');

  const started = Date.now();
  const answers = await withDeadline('the timeout answers', Promise.all([callFunction(base, 'hang'), callFunction(base, 'hang')]), REQUEST_TIMEOUT_MS + PROMPT_MS);
  const tookMs = Date.now() - started;
  for (const res of answers) {
    assert.equal(res.status, 504, res.text);
    assert.equal(res.json?.error, 'RequestTimeout');
  }
  assert.ok(tookMs < REQUEST_TIMEOUT_MS + DEADLINE_SLACK_MS, `answered after ${tookMs} ms`);
  assert.deepEqual(pool.describe().map((r) => ({ pid: r.pid, inFlight: r.inFlight, state: r.state })), [{ pid, inFlight: 0, state: 'ready' }]);
  assert.equal(pool.queued, 0);
  // The ping after the timeout has had its answer once the next request goes through the same replica.
  assert.equal((await whoami(base, 'whoami after')).pid, pid);
  assert.equal(pool.describe()[0]?.pid, pid);
});

test('F7: a result that arrives after its request timed out is dropped with a log line, and the replica keeps serving', async (t) => {
  const cleanup = cleanupStack(t);
  const h = await startRuntime(cleanup, { requestTimeoutMs: 500 });
  const target = { service: 'tardy', environment: 'Development' };
  await deployFixture(h, cleanup, 'never-completes', '1.0.0', target);
  const base = h.base(target.service, target.environment);
  const { pid } = await whoami(base, 'whoami before');

  const res = await withDeadline('the timeout answer', callFunction(base, 'late', { ms: 800 }), PROMPT_MS);
  assert.equal(res.status, 504, res.text);
  await waitForLog(h, target.service, target.environment, /dropped a result that arrived after its request had timed out/);
  assert.equal((await whoami(base, 'whoami after')).pid, pid);
});
