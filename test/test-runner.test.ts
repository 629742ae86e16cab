/**
 * `npm test`'s runner (scripts/test.mjs) repeats why a file failed after the last file's output,
 * so a log that keeps only its tail (CI's) still says which test failed and with what error; and a
 * file that hangs is killed at the runner's guard and counted as failed, not left to hold the run;
 * a file is judged by what node:test reported, not only by its exit code, which its code may set;
 * light files share a process, one after the other, each with its own hooks and its own verdict.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { descendantsOf, processGone } from './helpers/processes.ts';
import { waitFor, withDeadline } from './helpers/wait.ts';

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

test('runner: a file that hangs is killed at the guard with what it started, its finished tests kept, and the run fails naming it', async () => {
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
  assert.match(failed.stdout, /test\/fixtures\/runner\/hangs\.ts still ran after 20 s: killed, with what it started/);
  const leftover = Number(/^# started pid (\d+)$/m.exec(failed.stdout)?.[1]);
  assert.ok(leftover > 0, `the hanging test said which process it started:\n${failed.stdout}`);
  try {
    await waitFor('the process the hanging file started to be gone', () => processGone(leftover), { timeoutMs: 30_000 });
  } finally {
    // not left behind when the check fails
    try { process.kill(leftover, 'SIGKILL'); } catch { /* gone, as it should be */ }
  }
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

test('runner: a run stopped by SIGTERM stops its files with what they started and removes its temporary folder', async () => {
  const runner = spawn(process.execPath, ['scripts/test.mjs', 'test/fixtures/runner/hangs.ts'], { cwd: ROOT, env: runnerEnv(), stdio: 'ignore' });
  const exited = new Promise<number | null>((resolve) => runner.once('exit', (code) => resolve(code)));
  let leftover: number | undefined;
  try {
    const started = await waitFor('the hanging file to start its process', async () =>
      (await descendantsOf(runner.pid!)).find((p) => p.cmdline.includes('setInterval(() => {}, 60_000)')), { timeoutMs: 120_000 });
    leftover = started.pid;
    // the run's own folder on the machine's tmpfs (scripts/test.mjs testTmpDir)
    const runTmp = `/dev/shm/flexd-test-${runner.pid}`;
    assert.equal(existsSync(runTmp), true, 'the run made its temporary folder');
    runner.kill('SIGTERM');
    assert.equal(await withDeadline('the runner to exit', exited, 30_000), 130);
    await waitFor('the process the file started to be gone', () => processGone(started.pid), { timeoutMs: 30_000 });
    assert.equal(existsSync(runTmp), false, 'the run\'s temporary folder is removed');
  } finally {
    runner.kill('SIGKILL');
    if (leftover !== undefined) try { process.kill(leftover, 'SIGKILL'); } catch { /* gone */ }
  }
});

/** Runs the runner on fixtures that a durations file of its own calls light, so they share processes. */
async function runGrouped(t: { after: (fn: () => void) => void }, fixtures: string[]) {
  const dir = mkdtempSync(join(tmpdir(), 'flexd-runner-plan-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const durations = join(dir, 'durations.json');
  const files = fixtures.map((f) => `test/fixtures/runner/${f}`);
  writeFileSync(durations, JSON.stringify(Object.fromEntries(files.map((f) => [f, { ms: 1000, cpuMs: 1000 }]))));
  const env = runnerEnv({ FLEXD_TEST_DURATIONS: durations });
  const plan = (await promisify(execFile)(process.execPath, ['scripts/test.mjs', ...files], { cwd: ROOT, env: { ...env, FLEXD_TEST_PLAN: '1' } })).stdout;
  const run = await promisify(execFile)(process.execPath, ['scripts/test.mjs', ...files], { cwd: ROOT, env })
    .then(() => undefined, (err: { code: number; stdout: string; stderr: string }) => err);
  return { plan, run };
}

/** The pid each fixture printed from its tests (`# <name> test, pid N`). */
function pids(stdout: string): Record<string, number> {
  return Object.fromEntries([...stdout.matchAll(/^# (group-[a-z-]+) (?:test|before), pid (\d+)$/gm)].map((m) => [m[1], Number(m[2])]));
}

test('runner: light files share a process one after the other, each with its own hooks and verdict; a failing or unimportable file fails alone; a file can ask for its own process', async (t) => {
  const { plan, run } = await runGrouped(t, ['group-hooks.ts', 'group-fails.ts', 'group-import-fails.ts', 'group-passes.ts', 'group-own-process.ts']);
  // the group first: together its files take longest
  assert.equal(plan, 'test/fixtures/runner/group-fails.ts test/fixtures/runner/group-hooks.ts test/fixtures/runner/group-import-fails.ts test/fixtures/runner/group-passes.ts\n'
    + 'test/fixtures/runner/group-own-process.ts\n');
  assert.ok(run, 'the run exits non-zero');
  assert.equal(run.code, 1);
  const seen = pids(run.stdout);
  assert.deepEqual(Object.keys(seen).sort(), ['group-fails', 'group-hooks', 'group-own-process', 'group-passes'], run.stdout);
  assert.equal(seen['group-hooks'], seen['group-fails'], 'one process');
  assert.equal(seen['group-passes'], seen['group-fails'], 'one process, also after a file that could not be imported');
  assert.notEqual(seen['group-own-process'], seen['group-fails'], 'the file that asked for its own process has one');
  // the hooks of group-hooks.ts ran around its own test, before the next file's tests
  // group-hooks.ts is imported once group-fails.ts has ended, and its hooks run around its own
  // test only, before the next file's tests
  const order = [...run.stdout.matchAll(/^# (group-[a-z-]+ (?:imported|before|test|after))/gm)].map((m) => m[1]).filter((l) => !l.startsWith('group-own-process'));
  assert.deepEqual(order, ['group-fails test', 'group-hooks imported', 'group-hooks before', 'group-hooks test', 'group-hooks after', 'group-passes imported', 'group-passes test']);
  for (const [file, verdict] of [['group-fails', 'FAIL'], ['group-hooks', 'ok  '], ['group-import-fails', 'FAIL'], ['group-passes', 'ok  '], ['group-own-process', 'ok  ']]) {
    assert.match(run.stderr, new RegExp(`^${verdict} test/fixtures/runner/${file}\\.ts`, 'm'), `${file}: ${verdict}\n${run.stderr}`);
  }
  assert.match(run.stderr, /\(those 4 in one process: /);
  assert.match(run.stderr, /the group failure this recap must repeat/);
  assert.match(run.stderr, /this file cannot be imported/);
  assert.match(run.stderr, /failed: test\/fixtures\/runner\/group-fails\.ts\nfailed: test\/fixtures\/runner\/group-import-fails\.ts\nnpm test: 5 files \(2 failed\)/);
  assert.match(run.stdout, /tests: 4 passed, 2 failed/);
});

test('runner: a group whose process exits 0 in the middle fails the file that ended it and every file after it', async (t) => {
  const { plan, run } = await runGrouped(t, ['group-passes.ts', 'group-exits.ts', 'group-hooks.ts']);
  assert.equal(plan, 'test/fixtures/runner/group-exits.ts test/fixtures/runner/group-hooks.ts test/fixtures/runner/group-passes.ts\n');
  assert.ok(run, 'the run exits non-zero');
  assert.equal(run.code, 1);
  assert.doesNotMatch(run.stdout, /# group-(hooks|passes) test/, 'the files after it never ran');
  for (const file of ['group-exits', 'group-hooks', 'group-passes']) assert.match(run.stderr, new RegExp(`^FAIL test/fixtures/runner/${file}\\.ts`, 'm'));
  assert.match(run.stderr, /npm test: 3 files \(3 failed\)/);
});
