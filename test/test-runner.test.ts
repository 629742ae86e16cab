/**
 * `npm test`'s runner (scripts/test.mjs) repeats why a file failed after the last file's output,
 * so a log that keeps only its tail (CI's) still says which test failed and with what error.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

test('runner: a failed file\'s failing tests and their errors are repeated at the end of the run', async () => {
  const env = { ...process.env };
  // not as a subtest of this file's own run
  delete env.NODE_TEST_CONTEXT;
  delete env.NODE_OPTIONS;
  const failed = await promisify(execFile)(process.execPath, ['scripts/test.mjs', 'test/fixtures/runner/fails.ts'], { cwd: ROOT, env })
    .then(() => undefined, (err: { code: number; stdout: string; stderr: string }) => err);
  assert.ok(failed, 'the run exits non-zero');
  assert.equal(failed.code, 1);
  const tail = failed.stderr.slice(failed.stderr.lastIndexOf('FAIL test/fixtures/runner/fails.ts'));
  const recap = tail.slice(tail.indexOf('--- why test/fixtures/runner/fails.ts failed ---'));
  assert.notEqual(tail.indexOf('--- why'), -1, `a recap after the file's own line:\n${failed.stderr}`);
  assert.match(recap, /not ok 2 - fails with its own message/);
  assert.match(recap, /the failure this recap must repeat/);
  assert.match(recap, /the value it should have/);
  assert.doesNotMatch(recap, /ok 1 - passes/, 'passing tests are not repeated');
  assert.doesNotMatch(recap, /node:internal/, 'Node\'s own stack frames are left out');
  assert.match(recap, /failed: test\/fixtures\/runner\/fails\.ts\nnpm test: 1 files \(1 failed\)/);
  assert.match(failed.stdout, /tests: 1 passed, 1 failed/);
});
