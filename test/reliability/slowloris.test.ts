/**
 * RELIABILITY.md L4: 500 slowloris sockets, each sending a request's headers a line at a time
 * and never finishing them. flexd closes each at `headersTimeoutMs` (Node's headersTimeout,
 * enforced by a connection sweep flexd runs at least every second); normal clients are served
 * meanwhile as if the slow sockets were not there.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { test } from 'node:test';
import { cleanupStack } from '../helpers/cleanup.ts';
import { waitFor, withDeadline } from '../helpers/wait.ts';
import { deployFixture, hammer, keepAliveAgent, startRuntime, whoami } from '../lifecycle/helpers.ts';
import { percentile } from './helpers.ts';

const SLOW_SOCKETS = 500;
const HEADERS_TIMEOUT_MS = 2_000;
/** flexd sweeps for late headers every min(headersTimeoutMs / 2, 1 s). */
const SWEEP_MS = 1_000;
/** Each slow socket sends one more header line this often: never idle, never done. */
const DRIP_MS = 200;
/**
 * Allowance on top of the timeout and the sweep. The clock here starts when a socket connects,
 * but the runtime starts a request's header clock when it has accepted the socket and read its
 * first line, and it accepts these 500 on the same event loop that drips 2,500 header lines a
 * second to them and serves the clients: alone, the first closed at 2.9 s and the last at 5.1 s
 * (event loop at most 0.45 s late); with two full runs side by side (load 15–26) the last closed
 * at 4.7 s, 6.3 s and past 8 s. The slack is SLACK_MS, or SLACK_FACTOR times the worst lateness
 * of this process's event loop over that time (`monitorEventLoopDelay`) or the clients' p99
 * without slow sockets, whichever is largest. The bound stays below the two other limits that
 * would close a dripping socket: Node's own sweep of late headers (every 30 s unless flexd
 * shortens it) and Node's requestTimeout (flexd's `bodyTimeoutMs`, 10 minutes here). Without a
 * header timeout the sockets would not close at all.
 */
const SLACK_MS = 10_000;
const SLACK_FACTOR = 3;
const BODY_TIMEOUT_MS = 10 * 60_000;
/** How long the test waits for them at most, to print how late they were rather than just "timed out". */
const WAIT_MS = 60_000;
/**
 * What a normal client may wait at the 99th percentile while the slow sockets hang on and are
 * cut: measured 50 ms alone, up to 300 ms with other test files busy on the same 2 cores, 1.34 s
 * with two full runs side by side (load 25; 371 ms without the slow sockets: this process also
 * accepts them and drips to them). Slowloris doing harm shows as requests failing or held until
 * the slow sockets are cut (the 2 s header timeout and more). On a machine so loaded that the
 * same clients' p99 without any slow socket is already high, the bound is that p99 times
 * BASELINE_FACTOR (CI saw 1.4 s at load 35).
 */
const P99_BOUND_MS = 2_000;
const BASELINE_FACTOR = 4;
/** Requests the clients make with no slow socket, to measure that p99 first. */
const BASELINE_REQUESTS = 300;
const CLIENTS = 8;
const target = { service: 'patient', environment: 'Production' };

interface Slow { socket: Socket; openedAt: number; closedAt?: number; answer: string }

test('L4: 500 slowloris sockets are closed at the header timeout with a 408, while normal clients are answered with a low p99', async (t) => {
  const cleanup = cleanupStack(t);
  const h = await startRuntime(cleanup, { headersTimeoutMs: HEADERS_TIMEOUT_MS, bodyTimeoutMs: BODY_TIMEOUT_MS });
  await deployFixture(h, cleanup, 'versioned', '1.0.0', target);
  const base = h.base(target.service, target.environment);
  const { hostname, port } = new URL(h.rt.url);
  const agent = keepAliveAgent(cleanup, CLIENTS);

  // The same clients first without any slow socket: what this machine gives them right now.
  const baseline = hammer(base, CLIENTS, agent);
  await waitFor('the baseline requests', () => (baseline.records.length >= BASELINE_REQUESTS ? true : undefined), { timeoutMs: 60_000 });
  await baseline.stop();
  const baselineP99 = percentile(baseline.records.map((r) => r.endedAt - r.startedAt), 99);
  const p99Bound = Math.max(P99_BOUND_MS, BASELINE_FACTOR * baselineP99);

  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  cleanup.after(() => loopDelay.disable());
  const slow: Slow[] = [];
  const connected = Array.from({ length: SLOW_SOCKETS }, (_, i) => new Promise<void>((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    const s: Slow = { socket, openedAt: 0, answer: '' };
    slow.push(s);
    socket.once('connect', () => {
      s.openedAt = Date.now();
      socket.write(`POST /flex/${target.service}/${target.environment}/_flexFunctions/whoami HTTP/1.1\r\nHost: flexd\r\nX-Slow-${i}: 0\r\n`);
      resolve();
    });
    socket.setEncoding('utf8').on('data', (chunk: string) => { s.answer += chunk; });
    socket.once('error', (err) => { if (!s.openedAt) reject(err); });
    socket.once('close', () => { s.closedAt = Date.now(); });
  }));
  cleanup.after(() => { for (const s of slow) s.socket.destroy(); });
  await withDeadline(`${SLOW_SOCKETS} slow sockets to connect`, Promise.all(connected), 60_000);
  let line = 0;
  const drip = setInterval(() => {
    line++;
    for (const s of slow) if (s.closedAt === undefined && s.socket.writable) s.socket.write(`X-Drip-${line}: ${'.'.repeat(8)}\r\n`);
  }, DRIP_MS);
  cleanup.after(() => clearInterval(drip));

  const load = hammer(base, CLIENTS, agent);
  cleanup.after(() => load.stop());
  await waitFor('every slow socket to be closed by flexd', () => slow.every((s) => s.closedAt !== undefined), { timeoutMs: WAIT_MS });
  loopDelay.disable();
  await load.stop();
  clearInterval(drip);
  const worstLoopDelayMs = Math.round(loopDelay.max / 1e6);
  const deadline = HEADERS_TIMEOUT_MS + SWEEP_MS + Math.max(SLACK_MS, SLACK_FACTOR * worstLoopDelayMs, SLACK_FACTOR * baselineP99);

  const lifetimes = slow.map((s) => s.closedAt! - s.openedAt);
  const early = lifetimes.filter((ms) => ms < HEADERS_TIMEOUT_MS - 100);
  assert.deepEqual(early, [], 'no slow socket is cut before the header timeout');
  const late = lifetimes.filter((ms) => ms > deadline);
  assert.deepEqual(late, [], `every slow socket is closed within ${deadline} ms (this process's event loop was up to ${worstLoopDelayMs} ms late)`);
  const without408 = slow.filter((s) => !s.answer.startsWith('HTTP/1.1 408 '));
  assert.equal(without408.length, 0, `each slow socket is told 408 Request Timeout (first other answer: ${JSON.stringify(without408[0]?.answer)})`);

  const failed = load.records.filter((r) => r.status !== 200);
  assert.deepEqual(failed.slice(0, 5), [], `${failed.length} of ${load.records.length} normal requests failed`);
  const latencies = load.records.map((r) => r.endedAt - r.startedAt);
  const p99 = percentile(latencies, 99);
  assert.ok(p99 < p99Bound, `normal clients' p99 ${p99} ms stays under ${p99Bound} ms (without slow sockets: ${baselineP99} ms)`);
  assert.equal((await whoami(base, 'whoami after the slow sockets are gone')).version, '1.0.0');
  t.diagnostic(`slow sockets closed after ${Math.min(...lifetimes)}–${Math.max(...lifetimes)} ms (headersTimeoutMs ${HEADERS_TIMEOUT_MS}, event loop up to ${worstLoopDelayMs} ms late); `
    + `${load.records.length} normal requests meanwhile, p50 ${percentile(latencies, 50)} ms, p99 ${p99} ms, max ${Math.max(...latencies)} ms; p99 without them ${baselineP99} ms`);
});
