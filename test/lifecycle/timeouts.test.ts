/**
 * RELIABILITY.md F6 and F7: handlers that never answer. A synchronous infinite loop gets the
 * timeout answer at the deadline and its replica — deaf to pings — is killed and replaced,
 * while the runtime and other environments stay quick. A handler that merely forgets
 * `complete()` gets the same timeout answer, but its replica is healthy and stays.
 *
 * One runtime for the file: each fault runs in an environment of its own, whose request timeout
 * (an environment setting, set before its first deploy) is the one its test is about; the
 * runtime-wide liveness ping is FAST's (2 s; test/lifecycle/helpers.ts). Every environment is
 * deployed first, then the tests run at once: each waits on its own timeout, and while F6's
 * replica spins the others only wait (a sleeping handler, requests held by their replicas).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { cleanupStack } from '../helpers/cleanup.ts';
import { waitFor, withDeadline } from '../helpers/wait.ts';
import {
  callFunction, COLD_START_MS, deployFixture, PROMPT_MS, request, startRuntime, waitForLog, waitForProcessGone, whoami,
  FAST, type Harness, type Target,
} from './helpers.ts';

/**
 * Long enough that the runtime's own answers during a loop come well before it on a machine at
 * load 20; the timeout answer must come at it, not at a later timer (at most one more timeout late).
 */
const REQUEST_TIMEOUT_MS = 6_000;
const LATEST_TIMEOUT_ANSWER_MS = 2 * REQUEST_TIMEOUT_MS;
/**
 * F7's late result: it comes four timeouts after the deadline, late even if the machine stalls the
 * timer. The timeout bounds every request of its environment, so it is no shorter than a whoami at
 * load 20 needs.
 */
const TARDY_TIMEOUT_MS = 2_000;
/**
 * The runtime's own request timeout, far from every environment's: a timeout answer that came at
 * the runtime's instead of the environment's would miss each test's window.
 */
const RUNTIME_REQUEST_TIMEOUT_MS = 60_000;

const loop: Target = { service: 'looper', environment: 'Development', settings: { requestTimeoutMs: REQUEST_TIMEOUT_MS } };
/** F6's other environment, on the runtime's own request timeout. */
const other: Target = { service: 'neighbour', environment: 'Development' };
/** The liveness test's block outlasts the ping's timeout but never its request's. */
const blocker: Target = { service: 'blocker', environment: 'Development', settings: { requestTimeoutMs: 60_000 } };
const forgetful: Target = { service: 'forgetful', environment: 'Development', settings: { requestTimeoutMs: REQUEST_TIMEOUT_MS } };
const tardy: Target = { service: 'tardy', environment: 'Development', settings: { requestTimeoutMs: TARDY_TIMEOUT_MS } };

describe('request timeouts and liveness, each fault in an environment of its own', { concurrency: true }, () => {
  const cleanup = cleanupStack({ after });
  let h: Harness;
  before(async () => {
    h = await startRuntime(cleanup, { requestTimeoutMs: RUNTIME_REQUEST_TIMEOUT_MS });
    await Promise.all([
      deployFixture(h, cleanup, 'busy-loop', '1.0.0', loop),
      deployFixture(h, cleanup, 'versioned', '1.0.0', other),
      deployFixture(h, cleanup, 'busy-loop', '1.0.0', blocker),
      deployFixture(h, cleanup, 'never-completes', '1.0.0', forgetful),
      deployFixture(h, cleanup, 'never-completes', '1.0.0', tardy),
    ]);
  });

  test('F6: a synchronous infinite loop gets a 504 at the deadline, its replica is SIGKILLed and replaced, and the runtime and other environments keep answering fast', async () => {
    // The liveness ping is FAST's: the loop is ended by the request timeout, as a request in time is.
    const base = h.base(loop.service, loop.environment);
    const { pid } = await whoami(base, 'whoami before the loop');

    const started = Date.now();
    let timedOut = false;
    const spinning = callFunction(base, 'spin', {}, { timeoutMs: LATEST_TIMEOUT_ANSWER_MS + PROMPT_MS }).finally(() => { timedOut = true; });
    await waitFor('the looping request in flight', () => h.pool(loop.service, loop.environment).describe()[0]?.inFlight === 1);
    // While the replica spins, the runtime's own health endpoints and another environment answer:
    // each before the looping request is given up, which is what a runtime blocked by it could not do.
    for (let i = 0; i < 3; i++) {
      for (const [label, answer] of [
        ['the healthcheck', request(`${base}/healthcheck`, { timeoutMs: PROMPT_MS })],
        ['the runtime\'s /healthz', request(`${h.rt.url}/healthz`, { timeoutMs: PROMPT_MS })],
        ['the other environment', callFunction(h.base(other.service, other.environment), 'whoami', {}, { timeoutMs: PROMPT_MS })],
      ] as const) {
        assert.equal((await answer).status, 200, label);
        assert.equal(timedOut, false, `${label} answered only after the loop's request timed out`);
      }
    }

    const res = await withDeadline('the timeout answer', spinning, LATEST_TIMEOUT_ANSWER_MS + PROMPT_MS);
    const tookMs = Date.now() - started;
    assert.equal(res.status, 504, res.text);
    assert.equal(res.json?.error, 'RequestTimeout');
    assert.ok(tookMs >= REQUEST_TIMEOUT_MS && tookMs < LATEST_TIMEOUT_ANSWER_MS, `answered after ${tookMs} ms`);

    await waitForProcessGone(pid, 'the looping replica');
    await waitForLog(h, loop.service, loop.environment, /not responding after a request timeout; killing it/);
    await waitForLog(h, loop.service, loop.environment, /killed by SIGKILL/);
    const after = await whoami(base, 'whoami after the replacement', { timeoutMs: COLD_START_MS });
    assert.notEqual(after.pid, pid);
  });

  test('liveness: a handler that blocks its event loop for longer than the liveness timeout, but within the request timeout, is answered and its replica kept', async () => {
    // FAST's liveness ping (every 2 s, 2 s to answer; the floor a stalled machine survives): a ping goes out
    // within an interval of the block's start and is overdue a timeout later; the block lasts twice that, so
    // at least one ping misses its deadline while the request is in flight, with seconds to spare. The block
    // sleeps the replica's thread (Atomics.wait) instead of computing: to the pings it is the same, and it
    // costs no CPU.
    const blockMs = 2 * (FAST.livenessIntervalMs! + FAST.livenessTimeoutMs!);
    const base = h.base(blocker.service, blocker.environment);
    const { pid } = await whoami(base, 'whoami before the work');
    const res = await callFunction(base, 'block', { body: { ms: blockMs } }, { timeoutMs: 60_000 });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json?.response?.body?.pid, pid);
    assert.equal((await whoami(base, 'whoami after the work')).pid, pid);
  });

  test('F7: a handler that never calls complete() gets a 504 at the deadline; the same replica stays and its in-flight count returns to zero', async () => {
    const target = forgetful;
    const base = h.base(target.service, target.environment);
    const pool = h.pool(target.service, target.environment);
    const { pid } = await whoami(base, 'whoami before');

    const started = Date.now();
    const answers = await withDeadline('the timeout answers', Promise.all([callFunction(base, 'hang'), callFunction(base, 'hang')]), LATEST_TIMEOUT_ANSWER_MS + PROMPT_MS);
    const tookMs = Date.now() - started;
    for (const res of answers) {
      assert.equal(res.status, 504, res.text);
      assert.equal(res.json?.error, 'RequestTimeout');
    }
    assert.ok(tookMs >= REQUEST_TIMEOUT_MS && tookMs < LATEST_TIMEOUT_ANSWER_MS, `answered after ${tookMs} ms`);
    assert.deepEqual(pool.describe().map((r) => ({ pid: r.pid, inFlight: r.inFlight, state: r.state })), [{ pid, inFlight: 0, state: 'ready' }]);
    assert.equal(pool.queued, 0);
    // The ping after the timeout has had its answer once the next request goes through the same replica.
    assert.equal((await whoami(base, 'whoami after')).pid, pid);
    assert.equal(pool.describe()[0]?.pid, pid);
  });

  test('F7: a result that arrives after its request timed out is dropped with a log line, and the replica keeps serving', async () => {
    const target = tardy;
    const requestTimeoutMs = TARDY_TIMEOUT_MS;
    const base = h.base(target.service, target.environment);
    const { pid } = await whoami(base, 'whoami before');

    const lateMs = 4 * requestTimeoutMs;
    const res = await withDeadline('the timeout answer', callFunction(base, 'late', { ms: lateMs }), 2 * requestTimeoutMs + PROMPT_MS);
    assert.equal(res.status, 504, res.text);
    await waitForLog(h, target.service, target.environment, /dropped a result that arrived after its request had timed out/, lateMs + PROMPT_MS);
    assert.equal((await whoami(base, 'whoami after')).pid, pid);
  });
});
