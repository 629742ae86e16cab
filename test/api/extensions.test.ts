/** flexd's additions to the kinvey-cli API: an open health check and the list of stored versions. */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { withDeadline } from '../helpers/wait.ts';
import { ECHO_PROJECT, startApi } from './helpers.ts';

/** deployDirectory of the echo fixture: its SDK resolves from the repo, so no npm install. */
const LOCAL_DEPLOY_TIMEOUT_MS = 60_000;

it('api: /healthz answers without a token', async (t) => {
  const api = await startApi(t);
  const { status, body } = await api.call('GET', '/healthz', { token: null });
  assert.equal(status, 200);
  assert.equal(body.healthy, true);
});

it('api: the versions route lists stored versions, oldest first, and marks the active one', async (t) => {
  const api = await startApi(t);
  await withDeadline('deploy of echo 1.0.0', api.rt.deployDirectory(ECHO_PROJECT, { service: 'versions', environment: 'Development' }), LOCAL_DEPLOY_TIMEOUT_MS);
  const { serviceId, id: environmentId } = await (async () => {
    const svc = (await api.rt.context.store.services.findService('versions'))!;
    return { serviceId: svc.id, id: (await api.rt.context.store.services.findEnvironment(svc.id, 'Development'))!.id };
  })();
  const { status, body } = await api.call('GET', `/v4/services/${serviceId}/environments/${environmentId}/versions`);
  assert.equal(status, 200);
  assert.equal(body.length, 1);
  assert.equal(body[0].active, true);
  assert.match(body[0].version, /^\d+\.\d+\.\d+/);
  const unauth = await api.call('GET', `/v4/services/${serviceId}/environments/${environmentId}/versions`, { token: null });
  assert.equal(unauth.status, 401);
});

it('api: PUT /v4/services/:sid renames a service and sets its description; the data plane follows the new name', async (t) => {
  const api = await startApi(t);
  const { serviceId } = await api.createEnvironment('before');
  const got = (await api.call('GET', `/v4/services/${serviceId}`)).body;
  // kinvey-cli's `service apply` sends {name, type, description?, access} as GET returned them
  const put = await api.call('PUT', `/v4/services/${serviceId}`, { json: { name: 'after', type: got.type, description: 'renamed', access: got.access } });
  assert.equal(put.status, 200);
  assert.deepEqual([put.body.id, put.body.name, put.body.description], [serviceId, 'after', 'renamed']);
  assert.equal((await api.call('GET', '/v4/services/after')).body.id, serviceId);
  // never deployed: the data plane finds the environment by its service's new name, and not by the old one
  const code = async (name: string) => ((await (await fetch(`${api.rt.url}/flex/${name}/Development/healthcheck`)).json()) as { error: string }).error;
  assert.equal(await code('after'), 'NotDeployed');
  assert.equal(await code('before'), 'ServiceNotFound');

  await api.createEnvironment('taken');
  const clash = await api.call('PUT', `/v4/services/${serviceId}`, { json: { name: 'taken' } });
  assert.deepEqual([clash.status, clash.body.code], [409, 'ServiceNameInUse']);
  const external = await api.call('PUT', `/v4/services/${serviceId}`, { json: { type: 'external' } });
  assert.deepEqual([external.status, external.body.code], [400, 'UnsupportedServiceType']);
});
