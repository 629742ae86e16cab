import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runsAsRoot } from '../../src/isolation/accounts.ts';
import { createRuntime } from '../../src/runtime.ts';
import { tempDir } from '../helpers/tmp.ts';

test('uid ranges: two root-run flexd processes on one host never share a uid range; an explicit range another holds is refused', { skip: !runsAsRoot() && 'needs root' }, async (t) => {
  const start = 3_000_000 + Math.floor(Math.random() * 1_000) * 100;
  const a = await createRuntime({ dataDir: await tempDir(t, 'flexd-range-a-'), port: 0, uidRangeStart: start, uidRangeSize: 100 });
  t.after(() => a.close());
  // The same explicit range: refused, naming it.
  await assert.rejects(createRuntime({ dataDir: await tempDir(t, 'flexd-range-b-'), port: 0, uidRangeStart: start, uidRangeSize: 100 }),
    (err: Error & { code?: string }) => err.code === 'UidRangeInUse' && err.message.includes(String(start)));
  // The default range moves up past any range already held.
  const b = await createRuntime({ dataDir: await tempDir(t, 'flexd-range-c-'), port: 0 });
  t.after(() => b.close());
  const c = await createRuntime({ dataDir: await tempDir(t, 'flexd-range-d-'), port: 0 });
  t.after(() => c.close());
  const rangeB = b.context.settings.uidRangeStart;
  const rangeC = c.context.settings.uidRangeStart;
  assert.notEqual(rangeB, rangeC);
  assert.equal(Math.abs(rangeB - rangeC) % b.context.settings.uidRangeSize, 0);
});
