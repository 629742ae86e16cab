/**
 * Issue 9, findings 1 and 4: a replica's channel is hostile ground. Garbage, an oversized
 * frame or an unknown message kills that replica alone; flexd and every other environment keep
 * serving. A request flexd cannot serialise is refused for itself and never counts as a crash.
 * A second completion, or a change to the answer after completing, never alters the answer.
 *
 * One runtime for the file. A test that kills its replica does it in an environment of its own
 * (so its log and crash count are its own); the others share the `attacker` environment, and the
 * `bystander` environment is the neighbour every test checks is untouched.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CleanupStack } from '../helpers/cleanup.ts';
import { callFunction, startRuntime, waitForLog, whoami, type Harness } from '../lifecycle/helpers.ts';
import { deployIsolationFixture } from './helpers.ts';

const attacker = { service: 'attacker', environment: 'Development' };
/** A log line's way to the store on a loaded machine: a deadline that catches a hang. */
const LOG_MS = 30_000;
const bystander = { service: 'bystander', environment: 'Development' };

describe('channel: a hostile replica', () => {
  const suite = new CleanupStack();
  after(() => suite.run());
  let h: Harness;

  before(async () => {
    h = await startRuntime(suite);
    await Promise.all([deployIsolationFixture(h, 'hostile', attacker), deployIsolationFixture(h, 'hostile', bystander)]);
  });

  for (const [fn, note] of [
    ['garbage', /broke the channel protocol: a frame that is not JSON/],
    ['oversize', /broke the channel protocol: a frame (of more than 67108864 bytes|that is not a JSON object)/],
    ['unknown', /broke the channel protocol: a message of unknown shape \(type "hello"\)/],
  ] as const) {
    test(`channel: a replica that ${fn === 'garbage' ? 'writes garbage to every fd from 3 to 20' : fn === 'oversize' ? 'writes 65 MiB without a frame end' : 'sends a message of unknown type'} is killed and replaced; flexd and another environment keep serving`, async () => {
      const victim = { service: `attacker-${fn}`, environment: 'Development' };
      await deployIsolationFixture(h, 'hostile', victim);
      const base = h.base(victim.service, victim.environment);
      const before = await whoami(base, 'the attacker before');
      const other = await whoami(h.base(bystander.service, bystander.environment), 'the bystander before');

      const res = await callFunction(base, fn);
      assert.equal(res.status, 502, res.text);
      assert.equal(res.json?.error, 'ReplicaDied');
      await waitForLog(h, victim.service, victim.environment, note, LOG_MS);

      const after = await whoami(base, 'the attacker, replaced', { timeoutMs: 15_000 });
      assert.notEqual(after.pid, before.pid);
      const still = await whoami(h.base(bystander.service, bystander.environment), 'the bystander after');
      assert.equal(still.pid, other.pid, 'the other environment kept its replica');
    });
  }

  test('channel: a forged result for a task never sent is dropped; the real answer stands', async () => {
    const base = h.base(attacker.service, attacker.environment);
    const res = await callFunction(base, 'forged');
    assert.equal(res.status, 200, res.text);
    assert.equal(typeof res.answer.pid, 'number');
    await waitForLog(h, attacker.service, attacker.environment, /dropped a result that arrived after its request/, LOG_MS);
  });

  test('channel: done() twice, or changing the response after completing, never changes what was answered', async () => {
    const base = h.base(attacker.service, attacker.environment);
    for (let i = 0; i < 3; i++) {
      const twice = await callFunction(base, 'twice');
      assert.equal(twice.status, 200, twice.text);
      assert.deepEqual(twice.answer, { n: 1 });
      const mutated = await callFunction(base, 'mutate');
      assert.equal(mutated.status, 200, mutated.text);
      assert.deepEqual(mutated.answer, { n: 1, list: [1] });
    }
  });

  test('channel: an answer JSON cannot carry fails that request alone; the replica keeps serving', async () => {
    const base = h.base(attacker.service, attacker.environment);
    const before = await whoami(base, 'before');
    const res = await callFunction(base, 'circular');
    assert.equal(res.status, 500, res.text);
    assert.equal(res.json?.error, 'FlexRuntimeError');
    assert.match(res.json?.debug, /AnswerNotSerialisable/);
    assert.equal((await whoami(base, 'after')).pid, before.pid);
  });

  test('channel: ten 200,000-deep JSON bodies are refused for themselves with 400, count no crash, and the next request is answered by the same replica', async () => {
    const base = h.base(attacker.service, attacker.environment);
    const before = await whoami(base, 'before');
    const deep = `${'['.repeat(200_000)}${']'.repeat(200_000)}`;
    for (let i = 0; i < 10; i++) {
      const res = await fetch(`${base}/_flexFunctions/depth`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: deep });
      const text = await res.text();
      assert.equal(res.status, 400, `#${i + 1}: ${text.slice(0, 300)}`);
      assert.equal(JSON.parse(text).error, 'BadRequest');
    }
    const normal = await callFunction(base, 'depth', { body: [[[1]]] });
    assert.equal(normal.status, 200, normal.text);
    assert.equal(normal.answer.pid, before.pid);
    assert.equal(h.pool(attacker.service, attacker.environment).suspension, null);
  });
});
