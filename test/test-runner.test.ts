/**
 * `npm test`'s runner (scripts/test.mjs) repeats why a file failed after the last file's output,
 * so a log that keeps only its tail (CI's) still says which test failed and with what error; and a
 * file that hangs is killed at the runner's guard and counted as failed, not left to hold the run;
 * a file is judged by what node:test reported, not only by its exit code, which its code may set.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The runner's environment, not that of this file's own run. */
function runnerEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  delete env.NODE_TEST_CONTEXT;
  delete env.NODE_OPTIONS;
  return env;
}

test('runner: a failed file\'s failing tests and their errors are repeated at the end of the run', async () => {
  const failed = await promisify(execFile)(process.execPath, ['scripts/test.mjs', 'test/fixtures/runner/fails.ts'], { cwd: ROOT, env: runnerEnv() })
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

test('runner: a file that hangs is killed at the guard, its finished tests kept, and the run fails naming it', async () => {
  // Long enough for the file's process to start and finish its first test on a loaded machine.
  const guardMs = 20_000;
  const started = Date.now();
  const failed = await promisify(execFile)(process.execPath, ['scripts/test.mjs', 'test/fixtures/runner/hangs.ts'], {
    cwd: ROOT, env: runnerEnv({ FLEXD_TEST_FILE_TIMEOUT_MS: String(guardMs) }), timeout: 10 * guardMs,
  }).then(() => undefined, (err: { code: number; stdout: string; stderr: string; killed?: boolean }) => err);
  assert.ok(failed, 'the run exits non-zero');
  assert.equal(failed.killed, false, 'the runner ended by itself, not by this test\'s own timeout');
  assert.equal(failed.code, 1);
  assert.ok(Date.now() - started >= guardMs, 'not before the guard');
  assert.match(failed.stdout, /^ok 1 - passes$/m, 'the test that finished before the hang is reported');
  assert.match(failed.stdout, /test\/fixtures\/runner\/hangs\.ts still ran after 20 s: killed/);
  assert.match(failed.stderr, /failed: test\/fixtures\/runner\/hangs\.ts \(SIGKILL\)\nnpm test: 1 files \(1 failed\)/);
});

test('runner: a file whose process exits 0 before node:test reported a failure is counted failed', async () => {
  const failed = await promisify(execFile)(process.execPath, ['scripts/test.mjs', 'test/fixtures/runner/exits-early.ts'], { cwd: ROOT, env: runnerEnv() })
    .then(() => undefined, (err: { code: number; stdout: string; stderr: string }) => err);
  assert.ok(failed, 'the run exits non-zero');
  assert.equal(failed.code, 1);
  assert.match(failed.stdout, /exits-early\.ts (ended before node:test reported its end|exited 0 although 1 of its tests failed)/);
  assert.match(failed.stderr, /FAIL test\/fixtures\/runner\/exits-early\.ts/);
  assert.match(failed.stderr, /npm test: 1 files \(1 failed\)/);
});
