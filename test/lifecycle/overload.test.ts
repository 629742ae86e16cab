/**
 * RELIABILITY.md L3: a burst of ten times the queue cap against a slow handler. What fits (the
 * replica's in-flight slots plus the queue) is answered; the rest is refused at once with a 503
 * `Overloaded` and a Retry-After, instead of piling up.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cleanupStack } from '../helpers/cleanup.ts';
import { withDeadline } from '../helpers/wait.ts';
import { callFunction, deployFixture, keepAliveAgent, startRuntime } from './helpers.ts';
// npm test: own process (it reads this process's resident memory around a burst).

const MAX_IN_FLIGHT = 2;
const MAX_QUEUE = 5;
const BURST = 10 * MAX_QUEUE;
/**
 * How long an admitted request holds its slot (a timer: no CPU). The refusals must all come before
 * the first admitted answer, so this is also how long a stall of a loaded machine may be without
 * reordering them.
 */
const HANDLER_MS = 2_000;

test('L3: a burst of 10× the queue cap gets fast 503 Overloaded answers for the excess, and every admitted request is answered', async (t) => {
  const cleanup = cleanupStack(t);
  const h = await startRuntime(cleanup, { maxInFlightPerReplica: MAX_IN_FLIGHT, maxQueue: MAX_QUEUE });
  const target = { service: 'narrow', environment: 'Development' };
  await deployFixture(h, cleanup, 'versioned', '1.0.0', target);
  const base = h.base(target.service, target.environment);
  const agent = keepAliveAgent(cleanup, BURST);
  // Open the sockets first, so the burst measures flexd and not TCP handshakes.
  await Promise.all(Array.from({ length: BURST }, () => callFunction(base, 'whoami', {}, { agent })));
  const rssBefore = process.memoryUsage.rss();

  const answers = await withDeadline('the burst', Promise.all(Array.from({ length: BURST }, () => callFunction(base, 'slow', { ms: HANDLER_MS }, { agent, timeoutMs: 60_000 }))), 60_000);
  const admitted = answers.filter((r) => r.status === 200);
  const refused = answers.filter((r) => r.status !== 200);

  assert.deepEqual(refused.filter((r) => r.status !== 503 || r.json?.error !== 'Overloaded').map((r) => `${r.status} ${r.text}`), [], 'every refusal is a 503 Overloaded');
  assert.ok(admitted.length >= MAX_IN_FLIGHT + MAX_QUEUE, `${admitted.length} admitted; at least the slots and the queue`);
  // A slot that frees during the burst may admit a few more; never most of the burst.
  assert.ok(refused.length >= BURST - 2 * (MAX_IN_FLIGHT + MAX_QUEUE), `${refused.length} refused of ${BURST}`);
  // Refused at once: before even the first admitted request, which holds a slot HANDLER_MS, was answered.
  const fastestAdmitted = Math.min(...admitted.map((r) => r.ms));
  for (const r of refused) {
    assert.ok(r.headers['retry-after'], 'a refusal says when to retry');
    assert.ok(r.ms < fastestAdmitted, `a refusal took ${r.ms} ms, the first admitted answer ${fastestAdmitted} ms`);
  }
  const slowest = Math.max(...admitted.map((r) => r.ms));
  // The admitted ones run MAX_IN_FLIGHT at a time: the last waits for its share of the queue, not
  // more (twice that share, for a loaded machine; waiting behind the refused ones would be many times it).
  const bound = 2 * Math.ceil(admitted.length / MAX_IN_FLIGHT) * HANDLER_MS;
  assert.ok(slowest < bound, `the slowest admitted request took ${slowest} ms (bound ${bound} ms)`);
  const pool = h.pool(target.service, target.environment);
  assert.equal(pool.queued, 0);
  assert.equal(pool.describe()[0]?.inFlight, 0);
  t.diagnostic(`${admitted.length} admitted (slowest ${slowest} ms), ${refused.length} refused; runtime RSS ${Math.round(rssBefore / 1048576)} → ${Math.round(process.memoryUsage.rss() / 1048576)} MB`);
});
