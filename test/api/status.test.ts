import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { rawTar } from '../fixtures/deploy/archives.ts';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/tmp.ts';
import { waitFor, withDeadline } from '../helpers/wait.ts';
import { FAULTS_DIR, replicaProcessesOf } from '../lifecycle/helpers.ts';
import { cleanupStack } from '../helpers/cleanup.ts';
import { ADMIN, ECHO_PROJECT, startApi, type Api } from './helpers.ts';

/** An environment that chose no runtime runs the default: the major flexd runs on. */
const HOST_RUNTIME = `flex-runtime-node${process.versions.node.split('.')[0]}`;

/** deployDirectory of the echo fixture: bundling only (its SDK resolves from the repo) and a replica start. */
const LOCAL_DEPLOY_TIMEOUT_MS = 60_000;

/** One runtime for the tests on flexd's default settings, each in a service of its own; the crash-loop test starts its own. */
const fileCleanup = cleanupStack({ after });
let shared: Promise<Api> | undefined;
const runtime = () => (shared ??= startApi(fileCleanup));

test('status: UPDATING with deployment RUNNING at the new version while a deploy runs, then ONLINE with it COMPLETED', async () => {
  const api = await runtime();
  const { serviceId, environmentId } = await api.createEnvironment('updating');
  const othersBefore = await replicaProcessesOf(process.pid);
  await withDeadline('deploy of echo 1.0.0', api.rt.deployDirectory(ECHO_PROJECT, { service: serviceId, environment: environmentId }), LOCAL_DEPLOY_TIMEOUT_MS);
  const path = `/v4/services/${serviceId}/environments/${environmentId}/status`;
  const known = await replicaProcessesOf(process.pid);
  assert.equal(known.length, othersBefore.length + 1, 'the 1.0.0 replica runs');

  // A real deploy of 2.0.0 whose replica waits for SIGUSR2 before it starts: the job runs until then.
  const deploy = api.rt.deployDirectory(join(FAULTS_DIR, 'held-start'), { service: serviceId, environment: environmentId, version: '2.0.0' });
  deploy.catch(() => {}); // awaited below
  const { context } = api.rt;
  const starting = await waitFor('the 2.0.0 replica waiting for its signal', async () => {
    await context.logs.flush();
    if (!(await context.store.logs.latest(environmentId, 100)).some((l) => /held-start: waiting for SIGUSR2/.test(l.message))) return undefined;
    return (await replicaProcessesOf(process.pid)).find((pid) => !known.includes(pid));
  }, { timeoutMs: LOCAL_DEPLOY_TIMEOUT_MS });

  const updating = (await api.call('GET', path)).body;
  assert.equal(updating.status, 'UPDATING');
  assert.equal(updating.version, '1.0.0', 'the version still serving');
  assert.deepEqual(updating.deployment, { status: 'RUNNING', version: '2.0.0', runtime: HOST_RUNTIME });

  process.kill(starting, 'SIGUSR2');
  const job = await withDeadline('the deploy of 2.0.0 once released', deploy, LOCAL_DEPLOY_TIMEOUT_MS);
  assert.equal(job.status, 'COMPLETED', job.progress);
  const online = (await api.call('GET', path)).body;
  assert.equal(online.status, 'ONLINE');
  assert.equal(online.version, '2.0.0');
  assert.deepEqual(online.deployment, { status: 'COMPLETED', version: '2.0.0', runtime: HOST_RUNTIME });
  assert.equal(online.replicas.length, 1);
  assert.match(online.replicas[0].containerId, /^[0-9a-f]{12}$/);
  assert.equal(online.reason, undefined);
});

test('status: an environment suspended by a crash loop reports ERROR with the reason', async (t) => {
  const api = await startApi(t, { crashBudget: 2, crashWindowMs: 60_000, restartBackoffBaseMs: 20, restartBackoffMaxMs: 100 });
  // Its crash switch is a file outside its project: Node's permission model would refuse the read.
  const { serviceId, environmentId } = await api.createEnvironment('svc', 'Development', { settings: { permissionModel: false } });
  const markerDir = await tempDir(t, 'flexd-crash-marker-');
  chmodSync(markerDir, 0o755); // replicas of a root flexd run as an account of their own
  const marker = join(markerDir, 'crash');
  writeFileSync(marker, '');
  await withDeadline('deploy of crashes-after-ready', api.rt.deployDirectory(join(FAULTS_DIR, 'crashes-after-ready'), {
    service: serviceId, environment: environmentId, env: { CRASH_MARKER: marker },
  }), LOCAL_DEPLOY_TIMEOUT_MS);
  const path = `/v4/services/${serviceId}/environments/${environmentId}/status`;
  const status = await waitFor('the status to turn ERROR', async () => {
    const body = (await api.call('GET', path)).body;
    return body.status === 'ERROR' && body;
  }, { timeoutMs: LOCAL_DEPLOY_TIMEOUT_MS });
  assert.equal(status.version, '1.0.0');
  assert.match(status.reason, /^Suspended: more than 2 crashes within 60000 ms; last: .*exited with code 3/);
  assert.deepEqual(status.replicas, []);
});

test('status: a first deploy that fails leaves ERROR with the reason and no version, and the version may be sent again', async () => {
  const api = await runtime();
  const { serviceId, environmentId } = await api.createEnvironment('failed-first');
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

test('management API: bodies over 1 MiB get 413 RequestTooLarge, whatever their content type; unknown routes get a Kinvey-shaped 404', async () => {
  const api = await runtime();
  const big = await api.call('POST', '/v4/services', { json: { name: 'x', padding: 'y'.repeat(2 * 1024 * 1024) } });
  assert.deepEqual([big.status, big.body.code], [413, 'RequestTooLarge']);
  const disguised = await api.call('POST', '/v4/services', {
    body: 'y'.repeat(2 * 1024 * 1024), headers: { 'Content-Type': 'multipart/form-data; boundary=x' },
  });
  assert.deepEqual([disguised.status, disguised.body.code], [413, 'RequestTooLarge'], 'only the upload route streams under its own cap');
  const none = await api.call('GET', '/v4/nothing-here');
  assert.deepEqual([none.status, none.body.code], [404, 'NotFound']);
});
