import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { installDependencies } from '../../src/deploy/install.ts';
import type { CleanupContext } from '../helpers/cleanup.ts';
import { writeTree } from '../helpers/file-tree.ts';
import { tempDir } from '../helpers/tmp.ts';
import { waitFor, withDeadline } from '../helpers/wait.ts';

/** What the registry here publishes of kinvey-flex-sdk (`npm view kinvey-flex-sdk versions`). */
const PUBLISHED = ['1.2.0', '2.0.2', '2.1.0', '3.1.2', '3.2.0', '3.3.0'];

interface FakeNpm {
  /** answer to `npm view kinvey-flex-sdk versions --json`, or 'fail' */
  versions?: string[] | 'fail';
  /** ok; fail-with-lockfile (a 404 while a lockfile is present); fail (50 lines of errors); hang; hang-ignoring-sigterm */
  install: 'ok' | 'fail-with-lockfile' | 'fail' | 'hang' | 'hang-ignoring-sigterm';
}

interface NpmCall { argv: string[]; cwd: string; pid: number; lockfile: boolean; sdk: string | undefined }

/**
 * A stand-in for npm: a node script that records each call (argv, cwd, whether a lockfile is
 * there, the kinvey-flex-sdk it was asked for) and behaves as told. Each test gets its own, so
 * the per-command cache of `npm view` starts empty.
 */
async function fakeNpm(t: CleanupContext, behaviour: FakeNpm): Promise<{ command: string; calls: () => Promise<NpmCall[]> }> {
  // A hanging fake that flexd failed to stop must not outlive its test (it would hold the file's
  // process open): killed first (t.after runs in registration order), then its folder removed.
  let calls = async (): Promise<NpmCall[]> => [];
  t.after(async () => { for (const { pid } of await calls()) if (isRunning(pid)) process.kill(pid, 'SIGKILL'); });
  const dir = await tempDir(t, 'flexd-fake-npm-');
  const log = path.join(dir, 'npm-calls.jsonl');
  const command = path.join(dir, 'fake-npm');
  await fs.writeFile(command, `#!/usr/bin/env node
const fs = require('node:fs');
const behaviour = ${JSON.stringify({ versions: PUBLISHED, ...behaviour })};
const pkg = JSON.parse(fs.readFileSync('package.json', 'utf8'));
fs.appendFileSync(${JSON.stringify(log)}, JSON.stringify({ argv: process.argv.slice(2), cwd: process.cwd(), pid: process.pid,
  lockfile: fs.existsSync('package-lock.json'), sdk: (pkg.dependencies || {})['kinvey-flex-sdk'] }) + '\\n');
const out = (line) => process.stdout.write(line + '\\n');
const err = (line) => process.stderr.write(line + '\\n');
if (process.argv[2] === 'view') {
  if (behaviour.versions === 'fail') { err('npm error code ECONNREFUSED'); process.exit(1); }
  out(JSON.stringify(behaviour.versions, null, 2));
} else if (behaviour.install === 'ok') {
  out('added 1 package in 0s');
} else if (behaviour.install === 'fail-with-lockfile' && fs.existsSync('package-lock.json')) {
  err('npm error code E404');
  err('npm error 404 Not Found - GET https://registry.npmjs.org/left-pad/-/left-pad-0.0.1.tgz');
  process.exit(1);
} else if (behaviour.install === 'fail-with-lockfile') {
  out('added 2 packages in 0s');
} else if (behaviour.install === 'fail') {
  for (let i = 1; i <= 50; i += 1) err('npm error line ' + i);
  process.exit(1);
} else {
  if (behaviour.install === 'hang-ignoring-sigterm') process.on('SIGTERM', () => {});
  out('resolving…');
  setInterval(() => {}, 1000);
}
`, { mode: 0o755 });
  calls = async () => (await fs.readFile(log, 'utf8').catch(() => '')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as NpmCall);
  return { command, calls: () => calls() };
}

/**
 * The install timeout of the tests with a hanging npm: the fake npm is a node process, which on a
 * loaded machine takes seconds to start and say "resolving…"; the timeout must fall after that.
 */
const HANG_TIMEOUT_MS = 8_000;

/** A project folder with this package.json (and lockfile, when given). */
function project(root: string, pkg: object, lockfile?: object): Promise<string> {
  return writeTree(path.join(root, 'project'), { 'package.json': pkg, ...(lockfile ? { 'package-lock.json': lockfile } : {}) });
}

function lockPinning(name: string, version: string, resolved = `https://registry.npmjs.org/${name}/-/${name}-${version}.tgz`) {
  return {
    name: 'svc', version: '1.0.0', lockfileVersion: 3, requires: true,
    packages: {
      '': { name: 'svc', version: '1.0.0', dependencies: { [name]: version } },
      [`node_modules/${name}`]: { version, resolved, integrity: 'sha512-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==' },
    },
  };
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('install: a project without dependencies does not run npm at all', async (t) => {
  const tmp = await tempDir(t, 'flexd-install-');
  const npm = await fakeNpm(t, { install: 'fail' });
  const dir = await project(tmp, { name: 'svc', version: '1.0.0', dependencies: {} });
  const progress: string[] = [];

  const result = await installDependencies(dir, { cacheDir: path.join(tmp, 'cache'), npmCommand: npm.command, onProgress: (l) => progress.push(l) });

  assert.deepEqual(result, { substitutions: [] });
  assert.deepEqual(await npm.calls(), []);
  assert.deepEqual(progress, ['No dependencies to install.']);
});

test('install: npm runs in the install folder with --omit=dev, --prefer-offline and the shared cache, lifecycle scripts allowed', async (t) => {
  const tmp = await tempDir(t, 'flexd-install-');
  const npm = await fakeNpm(t, { install: 'ok' });
  const dir = await project(tmp, { name: 'svc', version: '1.0.0', dependencies: { 'kinvey-flex-sdk': '^3.0.0' } });
  const cacheDir = path.join(tmp, 'cache');
  const progress: string[] = [];

  const result = await installDependencies(dir, { cacheDir, npmCommand: npm.command, onProgress: (l) => progress.push(l) });

  assert.deepEqual(result.substitutions, []);
  const [view, install] = await npm.calls();
  assert.deepEqual(view.argv.slice(0, 5), ['view', 'kinvey-flex-sdk', 'versions', 'dist-tags', '--json']);
  assert.equal(install.cwd, dir);
  for (const flag of ['--omit=dev', '--prefer-offline', '--no-audit', '--no-fund']) assert.ok(install.argv.includes(flag), flag);
  assert.ok(!install.argv.includes('--ignore-scripts'), 'native addons are built by their install scripts');
  assert.equal(install.argv[install.argv.indexOf('--cache') + 1], cacheDir);
  assert.equal(install.sdk, '^3.0.0', 'a range the registry satisfies is left as written');
  assert.equal(progress.at(-1), 'added 1 package in 0s');
});

// Which spec becomes which release is sdkReplacement's table (test/deploy/policy.test.ts); the
// vanished exact pin with a lockfile pinning it too is deployed end to end against the real
// registry in test/build/builds.test.ts ("install policy: a vanished exact pin"). Here: that the
// install asks npm for the published versions, installs what the policy chose and says so.
test('install: an unpublished SDK pin or an unknown dist-tag is installed as the release the policy chose from npm\'s list, and said; a spec left alone is installed as written', async (t) => {
  const cases: Array<[string, string | null]> = [
    ['2.0.5', '2.1.0'], // the newest of its major
    ['4.0.0', null], // no 4.x at all: left for npm to report
    ['next', '3.3.0'], // a tag the registry lacks: the newest release
  ];
  for (const [requested, expected] of cases) {
    const tmp = await tempDir(t, 'flexd-install-');
    const npm = await fakeNpm(t, { install: 'ok' });
    const dir = await project(tmp, { name: 'svc', version: '1.0.0', dependencies: { 'kinvey-flex-sdk': requested } });

    const progress: string[] = [];
    const { substitutions } = await installDependencies(dir, { cacheDir: path.join(tmp, 'cache'), npmCommand: npm.command, onProgress: (l) => progress.push(l) });

    const calls = await npm.calls();
    assert.deepEqual(calls.map((c) => c.argv[0]), ['view', 'install'], `${requested}: the versions are asked for, then installed`);
    assert.equal(calls[1]!.sdk, expected ?? requested, requested);
    assert.deepEqual(substitutions, expected === null ? [] : [`kinvey-flex-sdk ${requested} is not available; using ${expected}`]);
    for (const line of substitutions) assert.ok(progress.includes(line), `${requested}: "${line}" is in the progress`);
  }
});

test('install: a lockfile pinning a removed package fails, its tail is reported, and npm retries without it', async (t) => {
  const tmp = await tempDir(t, 'flexd-install-');
  const npm = await fakeNpm(t, { install: 'fail-with-lockfile' });
  const dir = await project(tmp, { name: 'svc', version: '1.0.0', dependencies: { 'kinvey-flex-sdk': '^3.0.0', 'left-pad': '*' } },
    lockPinning('left-pad', '0.0.1'));
  const progress: string[] = [];

  const { substitutions } = await installDependencies(dir, { cacheDir: path.join(tmp, 'cache'), npmCommand: npm.command, onProgress: (l) => progress.push(l) });

  const installs = (await npm.calls()).filter((c) => c.argv[0] === 'install');
  assert.deepEqual(installs.map((c) => c.lockfile), [true, false]);
  assert.ok(progress.some((l) => l.includes('404 Not Found - GET https://registry.npmjs.org/left-pad')), 'the failure tail is in the progress');
  assert.match(substitutions.join('\n'), /Retrying without package-lock\.json/);
  assert.equal(progress.at(-1), 'added 2 packages in 0s');
});

test('install: a failed install is DependencyInstallFailed carrying the last 20 lines of npm\'s output', async (t) => {
  const tmp = await tempDir(t, 'flexd-install-');
  const npm = await fakeNpm(t, { install: 'fail' });
  const dir = await project(tmp, { name: 'svc', version: '1.0.0', dependencies: { 'kinvey-flex-sdk': '^3.0.0' } });

  await assert.rejects(installDependencies(dir, { cacheDir: path.join(tmp, 'cache'), npmCommand: npm.command, onProgress: () => {} }),
    (err: { code: string; status: number; message: string }) => {
      assert.equal(err.code, 'DependencyInstallFailed');
      assert.equal(err.status, 400);
      assert.match(err.message, /exit code 1/);
      assert.match(err.message, /npm error line 31\n[^]*npm error line 50$/);
      assert.doesNotMatch(err.message, /npm error line 30\n/);
      return true;
    });
});

// "resolving…" comes after the fake's SIGTERM handler is in place: where the SIGTERM is ignored, only the SIGKILL ends it.
for (const [install, what] of [
  ['hang', 'npm still running at the timeout is killed and the install fails saying so'],
  ['hang-ignoring-sigterm', 'npm that ignores SIGTERM is killed after the grace'],
] as const) {
  test(`install: ${what}`, async (t) => {
    const tmp = await tempDir(t, 'flexd-install-');
    const npm = await fakeNpm(t, { install });
    const dir = await project(tmp, { name: 'svc', version: '1.0.0', dependencies: { 'kinvey-flex-sdk': '^3.0.0' } });

    await withDeadline(`the install of an npm that does "${install}" to fail`, assert.rejects(
      installDependencies(dir, { cacheDir: path.join(tmp, 'cache'), npmCommand: npm.command, onProgress: () => {}, timeoutMs: HANG_TIMEOUT_MS }),
      { code: 'DependencyInstallFailed', message: /did not finish within 8 s and was stopped[^]*resolving…/ },
    ), 60_000);
    const calls = (await npm.calls()).filter((c) => c.argv[0] === 'install');
    assert.equal(calls.length, 1, 'npm install ran');
    assert.equal(isRunning(calls[0]!.pid), false);
  });
}

test('install: aborting the signal kills npm and rejects with the signal\'s reason', async (t) => {
  const tmp = await tempDir(t, 'flexd-install-');
  const npm = await fakeNpm(t, { install: 'hang' });
  const dir = await project(tmp, { name: 'svc', version: '1.0.0', dependencies: { 'kinvey-flex-sdk': '^3.0.0' } });
  const controller = new AbortController();
  const reason = new Error('deploy cancelled');

  const install = installDependencies(dir, {
    cacheDir: path.join(tmp, 'cache'), npmCommand: npm.command, signal: controller.signal,
    onProgress: () => {},
  });
  install.catch(() => {});
  // once npm runs (the abort must find a process to kill)
  await waitFor('npm install to start', async () => (await npm.calls()).some((c) => c.argv[0] === 'install'), { timeoutMs: 60_000 });
  controller.abort(reason);

  await withDeadline('the aborted install', assert.rejects(install, reason), 60_000);
  const calls = (await npm.calls()).filter((c) => c.argv[0] === 'install');
  assert.equal(calls.length, 1, 'npm install ran');
  assert.equal(isRunning(calls[0]!.pid), false);
});

test('install: when the registry cannot list SDK versions, the install goes on as declared', async (t) => {
  const tmp = await tempDir(t, 'flexd-install-');
  const npm = await fakeNpm(t, { install: 'ok', versions: 'fail' });
  const dir = await project(tmp, { name: 'svc', version: '1.0.0', dependencies: { 'kinvey-flex-sdk': '3.2.1' } });
  const progress: string[] = [];

  const { substitutions } = await installDependencies(dir, { cacheDir: path.join(tmp, 'cache'), npmCommand: npm.command, onProgress: (l) => progress.push(l) });

  assert.deepEqual(substitutions, []);
  assert.match(progress[0], /Could not list the published kinvey-flex-sdk versions \(npm error code ECONNREFUSED\)/);
  assert.equal((await npm.calls()).find((c) => c.argv[0] === 'install')!.sdk, '3.2.1');
});

// Against the real registry (the vanished SDK pin is deployed end to end in test/build/builds.test.ts).
const network = process.env.FLEXD_TEST_OFFLINE ? 'FLEXD_TEST_OFFLINE is set' : false;

test('install (registry): a lockfile pinning a version that was never published is retried without it', { skip: network, timeout: 180_000 }, async (t) => {
  const tmp = await tempDir(t, 'flexd-install-');
  const dir = await project(tmp, { name: 'svc', version: '1.0.0', dependencies: { 'is-number': '^7.0.0' } },
    lockPinning('is-number', '7.0.99'));
  const progress: string[] = [];

  const { substitutions } = await installDependencies(dir, { cacheDir: await tempDir(t, 'flexd-npm-cache-'), onProgress: (l) => progress.push(l) });

  assert.match(substitutions.join('\n'), /Retrying without package-lock\.json/);
  const installed = JSON.parse(await fs.readFile(path.join(dir, 'node_modules/is-number/package.json'), 'utf8'));
  assert.equal(installed.version, '7.0.0');
});
