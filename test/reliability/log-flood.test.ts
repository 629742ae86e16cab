/**
 * RELIABILITY.md L6: a replica logging as fast as it can. Its environment's log ring stays at
 * `logRingBytes` (the oldest lines go), and another environment's requests are answered as
 * fast as before while the runtime stores the flood.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { cleanupStack } from '../helpers/cleanup.ts';
import { waitFor, withDeadline } from '../helpers/wait.ts';
import { callFunction, DEPLOY_TIMEOUT_MS, deployFixture, hammer, keepAliveAgent, logLines, startRuntime } from '../lifecycle/helpers.ts';
import { percentile, RELIABILITY_FIXTURES_DIR } from './helpers.ts';

const LOG_RING_BYTES = 256 * 1024;
/**
 * The flood: about a second of writing for the replica (~130k lines/s measured) and more for
 * flexd to store (~80k lines/s idle, less with the test's own clients on the same 2 cores).
 * Bounded by lines, not time: a replica that writes faster than its pipe drains buffers the
 * excess in its own memory (Node's stdout to a pipe is asynchronous), and a longer flood ends at
 * the memory cap instead.
 */
const FLOOD_LINES = 100_000;
/**
 * From the flood's start until flexd has stored its last line, and the flood request's own
 * timeout: writing 100,000 lines is CPU work, seconds on an idle machine, many times that at load 20+.
 */
const FLOOD_TIMEOUT_MS = 120_000;
/**
 * What a request to the quiet environment may wait at the 99th percentile during the flood: a
 * multiple of its p99 just before (measured on the same machine at the same load), never less than
 * the floor (a baseline of a few ms would make any scheduling hiccup a failure).
 */
const P99_FACTOR = 10;
const P99_FLOOR_MS = 250;
const CLIENTS = 4;
const chatty = { service: 'chatty', environment: 'Production' };
const quiet = { service: 'quiet', environment: 'Production' };

test('L6: a replica logging as fast as it can keeps its log ring at logRingBytes, and another environment\'s requests keep a bounded p99', async (t) => {
  const cleanup = cleanupStack(t);
  const h = await startRuntime(cleanup, { logRingBytes: LOG_RING_BYTES, requestTimeoutMs: FLOOD_TIMEOUT_MS });
  await withDeadline('deploy of chatty', h.rt.deployDirectory(join(RELIABILITY_FIXTURES_DIR, 'chatty'), chatty), DEPLOY_TIMEOUT_MS);
  await deployFixture(h, cleanup, 'versioned', '1.0.0', quiet);
  const { store } = h.rt.context;
  const envId = h.environmentId(chatty.service, chatty.environment);

  const baseline = hammer(h.base(quiet.service, quiet.environment), CLIENTS, keepAliveAgent(cleanup, CLIENTS));
  cleanup.after(() => baseline.stop());
  await waitFor('a baseline of 300 requests to the quiet environment', () => baseline.records.length >= 300, { timeoutMs: 60_000 });
  await baseline.stop();

  const load = hammer(h.base(quiet.service, quiet.environment), CLIENTS, keepAliveAgent(cleanup, CLIENTS));
  cleanup.after(() => load.stop());
  const floodAt = Date.now();
  const flood = await callFunction(h.base(chatty.service, chatty.environment), 'flood', { lines: FLOOD_LINES }, { timeoutMs: FLOOD_TIMEOUT_MS });
  assert.equal(flood.status, 200, flood.text);
  const { lines: written, ms } = flood.answer as { lines: number; ms: number };
  assert.equal(written, FLOOD_LINES);
  // The answer comes over IPC; most of the lines are still in the pipe (or the replica's stdout queue) behind it.
  const last = new RegExp(`^flood line ${written} `);
  await waitFor(`line ${written}, the flood's last, to be stored`, async () => (await logLines(h, chatty.service, chatty.environment)).some((l) => last.test(l.message)),
    { timeoutMs: FLOOD_TIMEOUT_MS - (Date.now() - floodAt) });
  const storedMs = Date.now() - floodAt;
  await load.stop();

  const stored = await logLines(h, chatty.service, chatty.environment);
  const bytes = store.logs.bytes(envId);
  const onDisk = (await store.logs.stored(envId)).bytes;
  assert.ok(bytes <= LOG_RING_BYTES, `the ring holds ${bytes} bytes, within its cap of ${LOG_RING_BYTES}`);
  assert.equal(onDisk, bytes, 'the ring\'s running total is what the table holds');
  assert.ok(bytes > LOG_RING_BYTES / 2, `the ring is kept full (${bytes} bytes), not emptied`);
  const newest = stored.filter((l) => l.message.startsWith('flood line ')).at(-1);
  assert.match(newest?.message ?? '', last, 'the newest line is kept, the oldest dropped');
  assert.match(stored.find((l) => l.message.startsWith('flood line '))?.message ?? '', /^flood line [1-9]\d{2,} /, 'the oldest lines are gone');
  assert.equal(await store.integrityCheck(), 'ok');

  const failed = load.records.filter((r) => r.status !== 200);
  assert.deepEqual(failed.slice(0, 5), [], `${failed.length} of ${load.records.length} requests to the quiet environment failed`);
  const latencies = load.records.map((r) => r.endedAt - r.startedAt);
  const before = baseline.records.map((r) => r.endedAt - r.startedAt);
  const p99 = percentile(latencies, 99);
  const P99_BOUND_MS = Math.max(P99_FLOOR_MS, P99_FACTOR * percentile(before, 99));
  assert.ok(load.records.length >= 100, `the quiet environment kept answering (${load.records.length} requests in ${storedMs} ms)`);
  assert.ok(p99 < P99_BOUND_MS, `the quiet environment's p99 during the flood, ${p99} ms, is under ${P99_BOUND_MS} ms`);
  t.diagnostic(`flood: the replica wrote ${written} lines in ${ms} ms (${Math.round(written / (ms / 1000))} lines/s); flexd stored the last of them ${storedMs} ms after the start `
    + `(${Math.round(written / (storedMs / 1000))} lines/s) through a ${LOG_RING_BYTES}-byte ring (${bytes} bytes, ${stored.length} lines kept)`);
  t.diagnostic(`quiet environment: ${load.records.length} requests while the flood was written and stored, p50 ${percentile(latencies, 50)} ms, p99 ${p99} ms, max ${Math.max(...latencies)} ms `
    + `(before it: p50 ${percentile(before, 50)} ms, p99 ${percentile(before, 99)} ms)`);
});
