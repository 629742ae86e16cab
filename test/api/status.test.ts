import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rawTar } from '../fixtures/deploy/archives.ts';
import { withDeadline } from '../helpers/wait.ts';
import { ADMIN, ECHO_PROJECT, startApi } from './helpers.ts';

/** deployDirectory of the echo fixture: bundling only (its SDK resolves from the repo) and a replica start. */
const LOCAL_DEPLOY_TIMEOUT_MS = 60_000;

test('status: UPDATING with deployment RUNNING at the new version while a job runs, then ONLINE', async (t) => {
  const api = await startApi(t);
  const { serviceId, environmentId } = await api.createEnvironment('svc');
  await withDeadline('deploy of echo 1.0.0', api.rt.deployDirectory(ECHO_PROJECT, { service: serviceId, environment: environmentId }), LOCAL_DEPLOY_TIMEOUT_MS);
  const path = `/v4/services/${serviceId}/environments/${environmentId}/status`;

  // A job held open by the test: the runner reports it running until `release` is called.
  const { context } = api.rt;
  const held = (await context.store.jobs.create({ type: 'deployService', serviceId, environmentId, params: { version: '2.0.0' }, userEmail: ADMIN.email }));
  let release!: () => void;
  const released = new Promise<void>((resolve) => { release = resolve; });
  context.deployer.jobs.enqueue(held, async (progress) => {
    progress('BUILDING', 'held by the test');
    await released;
    return 'released';
  });

  const updating = (await api.call('GET', path)).body;
  assert.equal(updating.status, 'UPDATING');
  assert.equal(updating.version, '1.0.0', 'the version still serving');
  assert.deepEqual(updating.deployment, { status: 'RUNNING', version: '2.0.0', runtime: 'flex-runtime-node12' });

  release();
  await withDeadline('the held job', context.deployer.jobs.wait(held.id));
  const online = (await api.call('GET', path)).body;
  assert.equal(online.status, 'ONLINE');
  assert.deepEqual(online.deployment, { status: 'COMPLETED', version: '1.0.0', runtime: 'flex-runtime-node12' });
  assert.equal(online.replicas.length, 1);
  assert.match(online.replicas[0].containerId, /^[0-9a-f]{12}$/);
  assert.equal(online.reason, undefined);
});

test('status: a suspended environment reports ERROR with the reason', async (t) => {
  const api = await startApi(t);
  const { serviceId, environmentId } = await api.createEnvironment('svc');
  await withDeadline('deploy of echo 1.0.0', api.rt.deployDirectory(ECHO_PROJECT, { service: serviceId, environment: environmentId }), LOCAL_DEPLOY_TIMEOUT_MS);
  await api.rt.context.store.services.updateEnvironment(environmentId, { suspendedReason: 'crashed 6 times within 60 s' });
  const status = (await api.call('GET', `/v4/services/${serviceId}/environments/${environmentId}/status`)).body;
  assert.equal(status.status, 'ERROR');
  assert.equal(status.version, '1.0.0');
  assert.match(status.reason, /crashed 6 times within 60 s/);
});

test('status: a first deploy that fails leaves ERROR with the reason and no version, and the version may be sent again', async (t) => {
  const api = await startApi(t);
  const { serviceId, environmentId } = await api.createEnvironment('svc');
  const target = { serviceId, serviceEnvironmentId: environmentId, version: '1.0.0' };
  const broken = rawTar([{ path: 'package.json', body: JSON.stringify({ version: '1.0.0', dependencies: {} }) }]);
  const accepted = await api.upload(target, broken);
  assert.equal(accepted.status, 201);
  await withDeadline('the failing job', api.rt.context.deployer.jobs.wait(accepted.body.job));

  const status = (await api.call('GET', `/v4/services/${serviceId}/environments/${environmentId}/status`)).body;
  assert.equal(status.status, 'ERROR');
  assert.equal(status.version, undefined);
  assert.equal(status.deployment.status, 'ERROR');
  assert.equal(status.deployment.version, undefined);
  assert.match(status.reason, /kinvey-flex-sdk/);
  assert.equal(status.deployUserInfo.email, ADMIN.email);

  const again = await api.upload(target, broken);
  assert.equal(again.status, 201, 'a version that never deployed is not "already deployed"');
  await withDeadline('the second failing job', api.rt.context.deployer.jobs.wait(again.body.job));
});

test('management API: bodies over 1 MiB get 413 RequestTooLarge, whatever their content type; unknown routes get a Kinvey-shaped 404', async (t) => {
  const api = await startApi(t);
  const big = await api.call('POST', '/v4/services', { json: { name: 'x', padding: 'y'.repeat(2 * 1024 * 1024) } });
  assert.deepEqual([big.status, big.body.code], [413, 'RequestTooLarge']);
  const disguised = await api.call('POST', '/v4/services', {
    body: 'y'.repeat(2 * 1024 * 1024), headers: { 'Content-Type': 'multipart/form-data; boundary=x' },
  });
  assert.deepEqual([disguised.status, disguised.body.code], [413, 'RequestTooLarge'], 'only the upload route streams under its own cap');
  const none = await api.call('GET', '/v4/nothing-here');
  assert.deepEqual([none.status, none.body.code], [404, 'NotFound']);
});
