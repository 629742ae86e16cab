/**
 * flexd's additions to the kinvey-cli API: an open health check and renaming a service. (The
 * versions route, oldest first with the serving one marked before and after a rollback:
 * test/api/jobs.test.ts, on the deploys that test makes anyway.)
 */
import { after, it } from 'node:test';
import assert from 'node:assert/strict';
import { cleanupStack } from '../helpers/cleanup.ts';
import { withDeadline } from '../helpers/wait.ts';
import { startApi, type Api } from './helpers.ts';

/** One runtime for the file: neither test changes its settings. */
const fileCleanup = cleanupStack({ after });
let shared: Promise<Api> | undefined;
const runtime = () => (shared ??= startApi(fileCleanup));

it('api: /healthz answers without a token', async () => {
  const api = await runtime();
  const { status, body } = await api.call('GET', '/healthz', { token: null });
  assert.equal(status, 200);
  assert.equal(body.healthy, true);
  assert.equal(typeof body.uptimeSeconds, 'number');
});

it('api: PUT /v4/services/:sid renames a service and sets its description; the data plane follows the new name', async () => {
  const api = await runtime();
  const { serviceId } = await api.createEnvironment('before');
  const got = (await api.call('GET', `/v4/services/${serviceId}`)).body;
  // kinvey-cli's `service apply` sends {name, type, description?, access} as GET returned them
  const put = await api.call('PUT', `/v4/services/${serviceId}`, { json: { name: 'after', type: got.type, description: 'renamed', access: got.access } });
  assert.equal(put.status, 200);
  assert.deepEqual([put.body.id, put.body.name, put.body.description], [serviceId, 'after', 'renamed']);
  assert.equal((await api.call('GET', '/v4/services/after')).body.id, serviceId);
  assert.equal((await api.call('GET', '/v4/services/before')).status, 404, 'the old name is free');
  // never deployed: the data plane finds the environment by its service's new name, and not by the old one
  const code = async (name: string) => {
    const res = await withDeadline(`GET /flex/${name}/Development/healthcheck`, fetch(`${api.rt.url}/flex/${name}/Development/healthcheck`), 30_000);
    return ((await res.json()) as { error: string }).error;
  };
  assert.equal(await code('after'), 'NotDeployed');
  assert.equal(await code('before'), 'ServiceNotFound');

  await api.createEnvironment('taken');
  const clash = await api.call('PUT', `/v4/services/${serviceId}`, { json: { name: 'taken' } });
  assert.deepEqual([clash.status, clash.body.code], [409, 'ServiceNameInUse']);
  const external = await api.call('PUT', `/v4/services/${serviceId}`, { json: { type: 'external' } });
  assert.deepEqual([external.status, external.body.code], [400, 'UnsupportedServiceType']);
  assert.equal((await api.call('GET', `/v4/services/${serviceId}`)).body.name, 'after', 'a refused change changes nothing');
});
