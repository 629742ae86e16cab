/**
 * Issue 15, finding 4: a replica that writes on its channel what is cheap to write and costly to
 * parse — a 54 MB frame of tiny objects, nesting 54 MB deep, two million frames nobody asked
 * for, an answer whose string body holds a million tiny objects — never stalls flexd: another
 * environment's worst latency stays under 2 s (or 10 times its worst just before the attack, on a
 * machine so loaded that that is more) and flexd's memory grows by less than 600 MB while it
 * happens. The flooding replica is killed alone (src/child/json-bounds.ts, src/supervisor/replica.ts).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CleanupStack } from '../helpers/cleanup.ts';
import { withDeadline } from '../helpers/wait.ts';
import { callFunction, DEPLOY_TIMEOUT_MS, startRuntime, whoami, type Harness } from '../lifecycle/helpers.ts';
// npm test: own process (it reads this process's resident memory during each attack).

const FLOODER = fileURLToPath(new URL('../fixtures/security/flooder/', import.meta.url));
const WORST_LATENCY_MS = 2_000;
/** A stall of the main thread is seconds; a loaded machine slows every answer alike. */
const LATENCY_FACTOR = 10;
/** Calls of the bystander before the attack, for its baseline. */
const BASELINE_CALLS = 10;
const MEMORY_GROWTH_BYTES = 600 * 1024 * 1024;

describe('channel floods', () => {
  const cleanup = new CleanupStack();
  let h: Harness;
  let attacker: string;
  let bystander: string;

  before(async () => {
    h = await startRuntime(cleanup);
    for (const service of ['attacker', 'bystander']) {
      await withDeadline(`deploy of ${service}`, h.rt.deployDirectory(FLOODER, { service, environment: 'Development' }), DEPLOY_TIMEOUT_MS);
    }
    attacker = h.base('attacker', 'Development');
    bystander = h.base('bystander', 'Development');
  });
  after(() => cleanup.run());

  /** The bystander's latency, asked once. */
  async function ask(): Promise<number> {
    const started = Date.now();
    const res = await callFunction(bystander, 'whoami', {}, { timeoutMs: 30_000 });
    assert.equal(res.status, 200, res.text);
    return Date.now() - started;
  }

  /**
   * Runs `attack` while the bystander is asked every 20 ms (a sampling pace, not a wait); the
   * worst latency meanwhile, the limit it must stay under, and flexd's memory growth.
   */
  async function during<T>(attack: () => Promise<T>): Promise<{ result: T; worstMs: number; limitMs: number; growth: number }> {
    let baselineMs = 0;
    for (let i = 0; i < BASELINE_CALLS; i++) baselineMs = Math.max(baselineMs, await ask());
    const limitMs = Math.max(WORST_LATENCY_MS, LATENCY_FACTOR * baselineMs);
    global.gc?.();
    const baseline = process.memoryUsage.rss();
    let peak = baseline;
    const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage.rss()); }, 10);
    let running = true;
    let worstMs = 0;
    const probe = (async () => {
      while (running) {
        worstMs = Math.max(worstMs, await ask());
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    try {
      const result = await attack();
      return { result, worstMs, limitMs, growth: peak - baseline };
    } finally {
      running = false;
      await probe;
      clearInterval(sampler);
    }
  }

  for (const fn of ['tiny-objects', 'deep', 'unasked']) {
    it(`${fn}: the flooding replica is killed alone; another environment stays under 2 s (or 10x its baseline), flexd grows less than 600 MB`, async () => {
      const other = await whoami(bystander, 'the bystander before', { timeoutMs: 15_000 });
      const { result, worstMs, limitMs, growth } = await during(() => callFunction(attacker, fn, {}, { timeoutMs: 60_000 }));
      assert.equal(result.status, 502, result.text.slice(0, 500));
      assert.match(result.json?.debug ?? '', /broke the channel protocol/);
      assert.ok(worstMs < limitMs, `the bystander's worst latency: ${worstMs} ms (limit ${limitMs} ms)`);
      assert.ok(growth < MEMORY_GROWTH_BYTES, `flexd grew by ${Math.round(growth / 1e6)} MB`);
      assert.equal((await whoami(bystander, 'the bystander after')).pid, other.pid, 'the bystander kept its replica');
      await whoami(attacker, 'the attacker, replaced', { timeoutMs: 20_000 });
    });
  }

  it('a string body of a million tiny objects (past the structure bounds) is answered as the string, without parsing it on flexd\'s main thread', async () => {
    const { result, worstMs, limitMs, growth } = await during(() => callFunction(attacker, 'string-body', {}, { timeoutMs: 60_000 }));
    assert.equal(result.status, 200, result.text.slice(0, 300));
    assert.equal(typeof result.answer, 'string', 'sent as it came, not re-parsed');
    assert.ok(worstMs < limitMs, `the bystander's worst latency: ${worstMs} ms (limit ${limitMs} ms)`);
    assert.ok(growth < MEMORY_GROWTH_BYTES, `flexd grew by ${Math.round(growth / 1e6)} MB`);
  });
});
