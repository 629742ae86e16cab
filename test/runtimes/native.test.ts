/**
 * Issue 18: builds use the chosen major. A native addon npm compiles at install time (node-gyp)
 * is built against the headers of the environment's Node — the release's own include/, npm's
 * nodedir, no header download — and loads in the replica on that Node under the permission model.
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { startApi } from '../api/helpers.ts';
import { cleanupStack } from '../helpers/cleanup.ts';
import { warmNpmCache } from '../helpers/npm-cache.ts';
import { callFunction } from '../lifecycle/helpers.ts';
import { RUNTIME_INSTALL_TIMEOUT_MS, RUNTIMES_CACHE_DIR } from '../helpers/runtimes.ts';
import { withDeadline } from '../helpers/wait.ts';

const FIXTURE = fileURLToPath(new URL('../fixtures/runtimes/native-abi/', import.meta.url));
const SECRET = 'native-secret';

test('native addon: built by npm under Node 22 against Node 22\'s own headers, and loaded by a node22 replica', async (t) => {
  // kinvey-flex-sdk from a warm npm cache (helpers/npm-cache.ts), as a flexd that has built before: the compile is the point.
  const cleanup = cleanupStack(t);
  const api = await startApi(cleanup, { runtimesDir: RUNTIMES_CACHE_DIR, npmCacheDir: await warmNpmCache(cleanup) });
  const job = await withDeadline('deploy of the native addon on node22', api.rt.deployDirectory(FIXTURE, {
    service: 'native', environment: 'Development', secret: SECRET, runtime: 'node22',
  }), RUNTIME_INSTALL_TIMEOUT_MS);
  assert.match(job.progress, /Runtime flex-runtime-node22 runs on Node 22\./);
  assert.match(job.progress, /Installing dependencies with npm/, 'npm ran (the addon is compiled at install)');

  const res = await callFunction(`${api.rt.url}/flex/native/Development`, 'abi', {}, { secret: SECRET });
  assert.equal(res.status, 200, res.text);
  const { headers, runs } = res.answer as { headers: { major: number; modules: number }; runs: { version: string; modules: number } };
  assert.match(runs.version, /^v22\./);
  assert.equal(headers.major, 22, 'compiled against Node 22\'s node_version.h');
  assert.equal(headers.modules, runs.modules, 'for the ABI the replica runs');
});
