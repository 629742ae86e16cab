// The same in strict TypeScript: `await using` closes the runtime when the test's scope ends.
// (flexd's CI type-checks this file with strict: true and runs it: test/embedding/consumer.test.ts.)
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRuntime, FlexdError, type EnvironmentStatus, type Target } from 'flexd';

const SERVICE_DIR = process.env.SERVICE_DIR ?? '.';
const target: Target = { service: 'orders', environment: 'Development' };

test('a typed runtime, closed by await using', async () => {
  await using rt = await createRuntime({ temporary: true, port: 0 });
  const job = await rt.deployDirectory(SERVICE_DIR, { ...target, version: 'auto' });
  const status: EnvironmentStatus = await rt.status(target);
  assert.equal(status.version, job.version);
  try {
    await rt.rollback(target, '99.0.0');
    assert.fail('rollback to a version never deployed');
  } catch (err) {
    if (!(err instanceof FlexdError)) throw err;
    assert.equal(err.code, 'VersionNotFound');
  }
});
