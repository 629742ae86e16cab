/**
 * Issue 18: an explicit `serve --runtime NAME=/path/to/node` still works beside the registry's
 * majors: environments naming it run that executable (permission flags spelled for its major),
 * `GET /v4/runtimes` lists it, and a configured path that does not run is refused with
 * 400 InvalidRuntime before anything is deployed.
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { startApi } from '../api/helpers.ts';
import { callFunction } from '../lifecycle/helpers.ts';
import { RUNTIME_INSTALL_TIMEOUT_MS, RUNTIMES_CACHE_DIR } from '../helpers/runtimes.ts';
import { withDeadline } from '../helpers/wait.ts';
import { openCatalog } from '../../src/runtimes/index.ts';

const FIXTURE = fileURLToPath(new URL('../fixtures/runtimes/version/', import.meta.url));
const SECRET = 'configured-secret';

test('configured runtime: an environment naming it runs that executable under the permission model; a path that does not run is refused', async (t) => {
  const node24 = await withDeadline('Node 24 in the cache', openCatalog({ defaultRuntime: '', legacyRuntimes: '', runtimesDir: RUNTIMES_CACHE_DIR, runtimeRegistry: '' }, '/nonexistent')
    .acquire('node24', { refresh: false }), RUNTIME_INSTALL_TIMEOUT_MS);
  const api = await startApi(t, { runtimesDir: RUNTIMES_CACHE_DIR, runtimes: { 'edge-node': node24.nodePath, broken: '/nonexistent/bin/node' } });
  const job = await withDeadline('deploy on edge-node', api.rt.deployDirectory(FIXTURE, { service: 'cfg', environment: 'Development', secret: SECRET, runtime: 'edge-node' }), RUNTIME_INSTALL_TIMEOUT_MS);
  assert.match(job.progress, new RegExp(`Runtime edge-node runs on Node ${node24.version.replace(/\./g, '\\.')} \\(configured at ${node24.nodePath.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\)`));
  const call = async (fn: string, body: unknown = {}) => {
    const res = await callFunction(`${api.rt.url}/flex/cfg/Development`, fn, body, { secret: SECRET });
    assert.equal(res.status, 200, `${fn}: ${res.text}`);
    return res.answer;
  };
  assert.equal((await call('node')).version, `v${node24.version}`);
  assert.deepEqual(await call('outside', { path: '/etc/passwd' }), { read: 'ERR_ACCESS_DENIED' });
  const { runtimes } = (await api.call('GET', '/v4/runtimes')).body as { runtimes: { name?: string; source: string; usedBy: { environment: string }[] }[] };
  assert.deepEqual(runtimes.find((r) => r.name === 'edge-node')?.usedBy.map((u) => u.environment), ['Development']);

  const svc = ((await api.call('GET', '/v4/services')).body as { id: string }[])[0]!;
  const refused = await api.call('POST', `/v4/services/${svc.id}/environments`, { json: { name: 'Broken', secret: SECRET, runtime: 'broken' } });
  assert.equal(refused.status, 400, JSON.stringify(refused.body));
  assert.equal(refused.body.code, 'InvalidRuntime');
  assert.match(refused.body.description, /configured at \/nonexistent\/bin\/node does not run/);
});
