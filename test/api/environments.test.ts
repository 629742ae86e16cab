import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { cleanupStack } from '../helpers/cleanup.ts';
import { withDeadline } from '../helpers/wait.ts';
import { waitForProcessGone } from '../lifecycle/helpers.ts';
import { echo, ECHO_PROJECT, startApi, type Api } from './helpers.ts';

/** deployDirectory of the echo fixture: bundling only (its SDK resolves from the repo) and a replica start. */
const LOCAL_DEPLOY_TIMEOUT_MS = 60_000;

/**
 * One runtime for the tests on flexd's default settings (a runtime's start is most of such a
 * test's CPU), each in services of its own; the bounds test, which needs a larger memory budget, starts its own.
 */
const fileCleanup = cleanupStack({ after });
let shared: Promise<Api> | undefined;
const runtime = () => (shared ??= startApi(fileCleanup));

test('organizations: one default organization with a 32-hex id and the security block kinvey-cli needs', async () => {
  const api = await runtime();
  const list = await api.call('GET', '/v4/organizations');
  assert.equal(list.status, 200);
  assert.equal(list.body.length, 1);
  const [org] = list.body;
  assert.match(org.id, /^[0-9a-f]{32}$/);
  assert.deepEqual(Object.keys(org.security).sort(), ['requireApprovals', 'requireEmailVerification', 'requireTwoFactorAuth']);
  assert.equal(typeof org.restrictions.defaultPlanLevel, 'string');
  assert.deepEqual((await api.call('GET', `/v4/organizations/${org.id}`)).body, org);
  const missing = await api.call('GET', '/v4/organizations/00000000000040008000000000000000');
  assert.deepEqual([missing.status, missing.body.code], [404, 'OrganizationNotFound']);
});

test('services: created, listed by organization, fetched, and names are unique', async () => {
  const api = await runtime();
  const [org] = (await api.call('GET', '/v4/organizations')).body;
  const created = await api.call('POST', '/v4/services', { json: { name: 'orders', type: 'internal', access: { writers: { organizations: [org.id] } } } });
  assert.equal(created.status, 201);
  assert.deepEqual(created.body.access, { writers: { organizations: [org.id] } });
  assert.equal(created.body.type, 'internal');

  const listed = await api.call('GET', `/v4/services?organizationId=${org.id}`);
  assert.deepEqual(listed.body.map((s: { id: string }) => s.id), [created.body.id]);
  assert.deepEqual((await api.call('GET', '/v4/services?organizationId=nope')).body, []);
  assert.deepEqual((await api.call('GET', `/v4/services/${created.body.id}`)).body, created.body);

  const again = await api.call('POST', '/v4/services', { json: { name: 'orders' } });
  assert.deepEqual([again.status, again.body.code], [409, 'ServiceNameInUse']);
  const external = await api.call('POST', '/v4/services', { json: { name: 'ext', type: 'external' } });
  assert.deepEqual([external.status, external.body.code], [400, 'UnsupportedServiceType']);
  const badName = await api.call('POST', '/v4/services', { json: { name: 'a/b' } });
  assert.deepEqual([badName.status, badName.body.code], [400, 'ValidationError']);
});

test('services: an unknown id answers 404 ServiceNotFound on every route below it', async () => {
  const api = await runtime();
  const id = '0123456789abcdef0123456789abcdef';
  for (const [method, path] of [['GET', `/v4/services/${id}`], ['DELETE', `/v4/services/${id}`], ['GET', `/v4/services/${id}/environments`],
    ['GET', `/v4/services/${id}/environments/x/status`], ['GET', `/v4/services/${id}/environments/x/logs`]] as const) {
    const r = await api.call(method, path);
    assert.equal(r.status, 404, `${method} ${path}`);
    assert.deepEqual(r.body, { code: 'ServiceNotFound', description: 'The specified service could not be found.', debug: `No service with id or name "${id}".` });
  }
  const { serviceId } = await api.createEnvironment('unknown-id');
  const r = await api.call('GET', `/v4/services/${serviceId}/environments/nope/status`);
  assert.deepEqual([r.status, r.body.code], [404, 'ServiceEnvironmentNotFound']);
});

test('environments: the secret must be at least 2 characters without surrounding whitespace', async () => {
  const api = await runtime();
  const { serviceId } = await api.createEnvironment('secret-rules');
  for (const secret of ['x', ' padded', 'padded ', '']) {
    const r = await api.call('POST', `/v4/services/${serviceId}/environments`, { json: { name: 'Prod', secret } });
    assert.deepEqual([r.status, r.body.code], [400, 'ValidationError'], JSON.stringify(secret));
    assert.match(r.body.description, /secret/);
  }
  const generated = await api.call('POST', `/v4/services/${serviceId}/environments`, { json: { name: 'Prod' } });
  assert.equal(generated.status, 201);
  assert.match(generated.body.secret, /^[0-9a-f]{116}$/);
  const dup = await api.call('POST', `/v4/services/${serviceId}/environments`, { json: { name: 'Prod', secret: 'ok' } });
  assert.deepEqual([dup.status, dup.body.code], [409, 'ServiceEnvironmentNameInUse']);
});

test('environments: invalid names, reserved names and non-string values are refused, naming each, and nothing is applied', async () => {
  const api = await runtime();
  const { serviceId, environmentId } = await api.createEnvironment('invalid-vars', 'Development', { environmentVariables: { KEEP: 'me' } });
  const path = `/v4/services/${serviceId}/environments/${environmentId}`;
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ OK: 'x', '1BAD': 'x' }, /"1BAD" is not a valid name/],
    [{ OK: 'x', 'has-dash': 'x' }, /"has-dash" is not a valid name/],
    [{ OK: 'x', SDK_RECEIVER: 'tcp' }, /"SDK_RECEIVER" is reserved/],
    [{ OK: 'x', NODE_OPTIONS: '--inspect' }, /"NODE_OPTIONS" is reserved/],
    [{ OK: 'x', FLEXD_ANYTHING: 'x' }, /"FLEXD_ANYTHING" is reserved/],
    [{ OK: 'x', NUM: 1 }, /"NUM" must have a string value, not number/],
    [{ OK: 'x', OBJ: { a: 1 } }, /"OBJ" must have a string value, not object/],
    [{ OK: 'x', NIL: null }, /"NIL" must have a string value, not null/],
  ];
  for (const [environmentVariables, message] of cases) {
    const put = await api.call('PUT', path, { json: { name: 'Development', secret: 'env-secret', environmentVariables } });
    assert.equal(put.status, 400, JSON.stringify(environmentVariables));
    assert.equal(put.body.code, 'InvalidEnvironmentVariables');
    assert.match(put.body.description, message);
    const create = await api.call('POST', `/v4/services/${serviceId}/environments`, { json: { name: 'Other', secret: 'ok', environmentVariables } });
    assert.deepEqual([create.status, create.body.code], [400, 'InvalidEnvironmentVariables']);
  }
  const both = await api.call('PUT', path, { json: { environmentVariables: { '9X': 'a', SDK_RECEIVER: 'b', N: 2 } } });
  assert.match(both.body.description, /"9X".*"SDK_RECEIVER".*"N"/, 'every offending variable is named');
  const after = await api.call('GET', `/v4/services/${serviceId}/environments`);
  assert.deepEqual(after.body.map((e: { name: string; environmentVariables: unknown }) => [e.name, e.environmentVariables]), [['Development', { KEEP: 'me' }]]);
});

test('environments: PUT takes the whole environment as GET returned it, ignores read-only fields, and keeps an absent runtime', async () => {
  const api = await runtime();
  const { serviceId, environmentId } = await api.createEnvironment('put-whole', 'Development', { runtime: 'flex-runtime-node10' });
  const path = `/v4/services/${serviceId}/environments/${environmentId}`;
  const [env] = (await api.call('GET', `/v4/services/${serviceId}/environments`)).body;
  assert.equal(env.runtime, 'flex-runtime-node10');
  const { id: _id, runtime: _runtime, ...echoed } = env;
  const put = await api.call('PUT', path, { json: { ...echoed, environmentVariables: { A: '1' }, host: 'read-only', createdAt: 'x' } });
  assert.equal(put.status, 200);
  assert.deepEqual(put.body, { ...env, environmentVariables: { A: '1' } });
  assert.equal(put.headers.get('x-flexd-job'), null, 'nothing deployed: only stored');

  const bad = await api.call('PUT', path, { json: { runtime: 'flex-runtime-node99' } });
  assert.deepEqual([bad.status, bad.body.code], [400, 'InvalidRuntime']);
  const renamed = await api.call('PUT', path, { json: { name: 'Staging', secret: 'new-secret' } });
  assert.deepEqual([renamed.body.name, renamed.body.secret, renamed.body.environmentVariables], ['Staging', 'new-secret', { A: '1' }]);
  assert.equal((await api.call('GET', `/v4/services/${serviceId}/environments/Staging`)).body.id, environmentId, 'addressable by name');
  const tuned = await api.call('PUT', path, { json: { settings: { memoryLimitMb: 128, idleTimeoutMs: 0 } } });
  assert.deepEqual(tuned.body.settings, { memoryLimitMb: 128, idleTimeoutMs: 0 });
  assert.deepEqual((await api.rt.context.store.services.getEnvironment(environmentId))?.settings, { memoryLimitMb: 128, idleTimeoutMs: 0 });
  for (const settings of [{ memoryLimitMb: 0 }, { memoryLimitMb: 'big' }, { requestTimeoutMS: 5 }]) {
    const r = await api.call('PUT', path, { json: { settings } });
    assert.deepEqual([r.status, r.body.code], [400, 'ValidationError'], JSON.stringify(settings));
  }
  const malformed = await api.call('PUT', path, { body: '{"name":', headers: { 'Content-Type': 'application/json' } });
  assert.deepEqual([malformed.status, malformed.body.code], [400, 'BadRequest']);
});

test('environments: changed variables of a deployed environment are applied as one restart, which the service sees', async () => {
  const api = await runtime();
  const { serviceId, environmentId } = await api.createEnvironment('applied-vars');
  await withDeadline('deploy of the echo project', api.rt.deployDirectory(ECHO_PROJECT, { service: serviceId, environment: environmentId }), LOCAL_DEPLOY_TIMEOUT_MS);
  assert.equal((await echo(api, serviceId, environmentId)).KEY, null);

  const path = `/v4/services/${serviceId}/environments/${environmentId}`;
  const refused = await api.call('PUT', path, { json: { environmentVariables: { KEY: 'v', SDK_RECEIVER: 'tcp' } } });
  assert.equal(refused.status, 400);
  assert.equal((await api.rt.context.store.jobs.latest(environmentId))?.type, 'deployService', 'a refused change starts no restart');

  const put = await api.call('PUT', path, { json: { environmentVariables: { KEY: 'v' } } });
  assert.equal(put.status, 200);
  const jobId = put.headers.get('x-flexd-job');
  assert.ok(jobId, 'the restart job is named');
  const job = await withDeadline('the restart job', api.rt.context.deployer.jobs.wait(jobId), LOCAL_DEPLOY_TIMEOUT_MS);
  assert.equal(job.status, 'COMPLETED', job.progress);
  assert.equal((await echo(api, serviceId, environmentId)).KEY, 'v');

  const same = await api.call('PUT', path, { json: { environmentVariables: { KEY: 'v' } } });
  assert.equal(same.headers.get('x-flexd-job'), null, 'unchanged variables: no restart');
});

test('environments and services: deleting stops the replicas, drops the logs, and the data plane answers 404', async () => {
  const api = await runtime();
  const { serviceId, environmentId } = await api.createEnvironment('deleted');
  await withDeadline('deploy of the echo project', api.rt.deployDirectory(ECHO_PROJECT, { service: serviceId, environment: environmentId }), LOCAL_DEPLOY_TIMEOUT_MS);
  assert.equal((await echo(api, serviceId, environmentId)).status, 200);
  const { context } = api.rt;
  await context.logs.flush();
  assert.ok(context.store.logs.bytes(environmentId) > 0, 'the echo call logged');

  const pids = context.supervisor.pool(environmentId)!.describe().map((r) => r.pid!);
  assert.equal(pids.length, 1, 'one replica serves before the delete');
  const del = await api.call('DELETE', `/v4/services/${serviceId}/environments/${environmentId}`);
  assert.equal(del.status, 204);
  assert.equal(context.supervisor.pool(environmentId), undefined);
  await waitForProcessGone(pids[0]!, 'the deleted environment\'s replica', 30_000);
  assert.equal(context.store.logs.bytes(environmentId), 0);
  assert.deepEqual((await context.store.versions.list(environmentId)), []);
  assert.equal((await echo(api, serviceId, environmentId)).status, 404);
  assert.equal((await api.call('DELETE', `/v4/services/${serviceId}/environments/${environmentId}`)).status, 404);

  const second = await api.createEnvironment('deleted-too');
  await withDeadline('deploy of the echo project', api.rt.deployDirectory(ECHO_PROJECT, { service: second.serviceId, environment: second.environmentId }), LOCAL_DEPLOY_TIMEOUT_MS);
  const [secondPid] = context.supervisor.pool(second.environmentId)!.describe().map((r) => r.pid!);
  assert.equal(typeof secondPid, 'number', 'a replica serves before the delete');
  assert.equal((await api.call('DELETE', `/v4/services/${second.serviceId}`)).status, 204);
  assert.equal(context.supervisor.pool(second.environmentId), undefined);
  await waitForProcessGone(secondPid!, 'the deleted service\'s replica', 30_000);
  assert.equal((await api.call('GET', `/v4/services/${second.serviceId}`)).body.code, 'ServiceNotFound');
  assert.equal((await echo(api, second.serviceId, second.environmentId)).status, 404);
});

test('environments: settings beyond their documented bounds are refused with 400, each naming the setting; the bound itself is taken', async (t) => {
  // A budget that takes 16 × 8 GiB: the per-field bounds are under test here (the sum: test/security/memory-budget.test.ts).
  const api = await startApi(t, { memoryBudgetMb: 16 * 8192 + 256 });
  const { serviceId, environmentId } = await api.createEnvironment('bounds');
  const path = `/v4/services/${serviceId}/environments/${environmentId}`;
  const beyond = [
    { requestTimeoutMs: 3_000_000_000 }, { requestTimeoutMs: 10 * 60_000 + 1 }, { idleTimeoutMs: 30 * 24 * 60 * 60_000 },
    { memoryLimitMb: 8 }, { memoryLimitMb: 1_000_000 }, { minReplicas: 17 }, { maxReplicas: 1000 }, { requestTimeoutMs: 1.5 },
  ];
  for (const settings of beyond) {
    const r = await api.call('PUT', path, { json: { settings } });
    assert.deepEqual([r.status, r.body.code], [400, 'ValidationError'], JSON.stringify(settings));
    assert.match(r.body.description, new RegExp(`settings\\.${Object.keys(settings)[0]}`));
  }
  assert.deepEqual((await api.rt.context.store.services.getEnvironment(environmentId))?.settings, {}, 'nothing refused was stored');
  const edge = { requestTimeoutMs: 600_000, idleTimeoutMs: 604_800_000, memoryLimitMb: 8192, minReplicas: 16, maxReplicas: 16 };
  const r = await api.call('PUT', path, { json: { settings: edge } });
  assert.deepEqual([r.status, r.body.settings], [200, edge]);
});
