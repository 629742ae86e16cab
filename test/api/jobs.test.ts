import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { rawTar, type RawEntry } from '../fixtures/deploy/archives.ts';
import { cleanupStack } from '../helpers/cleanup.ts';
import { withDeadline } from '../helpers/wait.ts';
import { echo, ECHO_PROJECT, echoProjectAt, startApi, type Api } from './helpers.ts';

/** deployDirectory of the echo fixture: bundling only (its SDK resolves from the repo) and a replica start. */
const LOCAL_DEPLOY_TIMEOUT_MS = 60_000;
/** A job refused while building (unpack, package.json) ends before any install. */
const REFUSED_JOB_TIMEOUT_MS = 30_000;
/** Small, so an over-size upload is cheap to send. */
const MAX_ARCHIVE_BYTES = 64 * 1024;

const INDEX_JS = "require('kinvey-flex-sdk').service((err, flex) => { if (err) throw err; });\n";
const sdkPackage = (version: string) => JSON.stringify({ name: 'p', version, dependencies: { 'kinvey-flex-sdk': '3.3.0' } });

/**
 * One runtime for the file (a runtime's start is most of a test's CPU otherwise). The tests of
 * refused and failed deploys share one deployed service (unchangedTarget), the others work in a
 * service of their own; every check reads its service's environment.
 */
const fileCleanup = cleanupStack({ after });
let shared: Promise<Api> | undefined;
const runtime = () => (shared ??= startApi(fileCleanup, { maxArchiveBytes: MAX_ARCHIVE_BYTES }));
let services = 0;

interface Deployed { api: Api; serviceId: string; environmentId: string; target: Record<string, string> }

/** A service of its own in the file's runtime, with one environment serving version 1.0.0 of the echo project. */
async function deployed(): Promise<Deployed> {
  const api = await runtime();
  const { serviceId, environmentId } = await api.createEnvironment(`echo-${++services}`, 'Development', { environmentVariables: { KEY: 'kept' } });
  await withDeadline('deploy of echo 1.0.0', api.rt.deployDirectory(ECHO_PROJECT, { service: serviceId, environment: environmentId }), LOCAL_DEPLOY_TIMEOUT_MS);
  return { api, serviceId, environmentId, target: { serviceId, serviceEnvironmentId: environmentId } };
}

/**
 * The environment the refused and failed deploys aim at, deployed once: each of those tests ends by
 * showing it unchanged (assertUnchanged), so each starts from the same state.
 */
let refusalTarget: Promise<Deployed> | undefined;
const unchangedTarget = () => (refusalTarget ??= deployed());

async function finished(api: Api, jobId: string) {
  const job = await withDeadline(`job ${jobId}`, api.rt.context.deployer.jobs.wait(jobId), REFUSED_JOB_TIMEOUT_MS);
  const view = await api.call('GET', `/v4/jobs/${jobId}`);
  assert.equal(view.status, 200);
  assert.equal(view.body.status, job.status);
  return view.body as { jobId: string; type: string; status: string; progress: string; params: Record<string, unknown> };
}

/** What must not change when a deploy is refused: the version served, the versions stored, the variables. */
async function assertUnchanged(api: Api, serviceId: string, environmentId: string): Promise<void> {
  const served = await echo(api, serviceId, environmentId);
  assert.deepEqual([served.status, served.version, served.KEY], [200, '1.0.0', 'kept']);
  assert.deepEqual((await api.rt.context.store.versions.list(environmentId)).map((v) => v.version), ['1.0.0']);
  const [env] = (await api.call('GET', `/v4/services/${serviceId}/environments`)).body;
  assert.deepEqual(env.environmentVariables, { KEY: 'kept' });
}

test('jobs: a deploy without a version, or with one not above the newest, is refused before it is accepted', async () => {
  const { api, serviceId, environmentId, target } = await unchangedTarget();
  const jobsBefore = await api.rt.context.store.jobs.count();
  const archive = rawTar([{ path: 'package.json', body: sdkPackage('1.0.0') }, { path: 'index.js', body: INDEX_JS }]);

  const missing = await api.upload(target, archive);
  assert.deepEqual([missing.status, missing.body.code], [400, 'MissingVersion']);
  assert.match(missing.body.description, /package\.json/);

  const same = await api.upload({ ...target, version: '1.0.0' }, archive);
  assert.equal(same.status, 409);
  assert.deepEqual(same.body, {
    code: 'DeploymentVersionTooLow',
    description: 'Version 1.0.0 of this service has already been deployed. Please bump the version in package.json and try again.',
    debug: '',
  });
  const lower = await api.upload({ ...target, version: '0.9.0' }, archive);
  assert.deepEqual([lower.status, lower.body.code], [409, 'DeploymentVersionTooLow']);
  assert.match(lower.body.description, /0\.9\.0 is lower than version 1\.0\.0/);
  const notSemver = await api.upload({ ...target, version: 'one' }, archive);
  assert.deepEqual([notSemver.status, notSemver.body.code], [400, 'InvalidVersion']);

  // The version is checked from the fields before the file: an over-size archive is never read.
  const tooLowAndBig = await api.upload({ ...target, version: '1.0.0' }, Buffer.alloc(4 * MAX_ARCHIVE_BYTES));
  assert.equal(tooLowAndBig.status, 409);

  assert.equal((await api.rt.context.store.jobs.latest(environmentId))?.type, 'deployService');
  assert.equal(await api.rt.context.store.jobs.count(), jobsBefore, 'only the first deploy ever became a job: no refused upload did');
  await assertUnchanged(api, serviceId, environmentId);
});

test('jobs: invalid variables, an unknown runtime, or an unknown target refuse the deploy with nothing applied', async () => {
  const { api, serviceId, environmentId, target } = await unchangedTarget();
  const archive = rawTar([{ path: 'package.json', body: sdkPackage('1.0.1') }, { path: 'index.js', body: INDEX_JS }]);
  const params = { ...target, version: '1.0.1' };
  for (const environmentVariables of [{ KEY: 'new', '1BAD': 'x' }, { KEY: 'new', SDK_RECEIVER: 'tcp' }, { KEY: 'new', N: 5 }]) {
    const r = await api.upload({ ...params, environmentVariables }, archive);
    assert.deepEqual([r.status, r.body.code], [400, 'InvalidEnvironmentVariables'], JSON.stringify(environmentVariables));
  }
  const runtime = await api.upload({ ...params, runtime: 'flex-runtime-node99' }, archive);
  assert.deepEqual([runtime.status, runtime.body.code], [400, 'InvalidRuntime']);
  const noService = await api.upload({ ...params, serviceId: '0123456789abcdef0123456789abcdef' }, archive);
  assert.deepEqual([noService.status, noService.body.code], [404, 'ServiceNotFound']);
  const noEnv = await api.upload({ ...params, serviceEnvironmentId: 'nope' }, archive);
  assert.deepEqual([noEnv.status, noEnv.body.code], [404, 'ServiceEnvironmentNotFound']);
  const wrongType = await api.upload(params, archive, 'recycleService');
  assert.deepEqual([wrongType.status, wrongType.body.code], [400, 'InvalidJobType']);
  const noFile = await api.upload(params, undefined);
  assert.deepEqual([noFile.status, noFile.body.code], [400, 'MissingArchive']);
  const asJson = await api.call('POST', '/v4/jobs', { json: { type: 'deployService', params } });
  assert.deepEqual([asJson.status, asJson.body.code], [400, 'UploadRequired']);
  await assertUnchanged(api, serviceId, environmentId);
});

test('jobs: an archive over the cap is refused with 413 ArchiveTooLarge while it streams', async () => {
  const { api, serviceId, environmentId, target } = await unchangedTarget();
  const r = await api.upload({ ...target, version: '1.0.1' }, Buffer.alloc(4 * MAX_ARCHIVE_BYTES, 1));
  assert.equal(r.status, 413);
  assert.equal(r.body.code, 'ArchiveTooLarge');
  assert.match(r.body.description, new RegExp(String(MAX_ARCHIVE_BYTES)));
  await assertUnchanged(api, serviceId, environmentId);
});

test('jobs: unsafe archives (../x, an absolute path, a symlink) fail the job and the old version keeps serving', async () => {
  const { api, serviceId, environmentId, target } = await unchangedTarget();
  const project: RawEntry[] = [{ path: 'package.json', body: sdkPackage('1.0.1') }, { path: 'index.js', body: INDEX_JS }];
  const hostile: RawEntry[] = [
    { path: '../x', body: 'escape' },
    { path: '/tmp/flexd-absolute-x', body: 'escape' },
    { path: 'lib', type: 'SymbolicLink', linkpath: '/etc' },
  ];
  for (const entry of hostile) {
    const accepted = await api.upload({ ...target, version: '1.0.1' }, rawTar([...project, entry]));
    assert.equal(accepted.status, 201, JSON.stringify(accepted.body));
    const job = await finished(api, accepted.body.job);
    assert.equal(job.status, 'ERROR', entry.path);
    assert.match(job.progress, /UnsafeArchive/);
    assert.match(job.progress, new RegExp(entry.path.replace(/[./]/g, '\\$&')));
    await assertUnchanged(api, serviceId, environmentId);
  }
  assert.ok(!existsSync('/tmp/flexd-absolute-x'), 'nothing written at the absolute path');
  assert.ok(!existsSync(join(api.rt.context.dataDir, 'builds', 'x')), 'nothing written beside the build folder');
  const status = (await api.call('GET', `/v4/services/${serviceId}/environments/${environmentId}/status`)).body;
  assert.equal(status.status, 'ONLINE');
  assert.equal(status.version, '1.0.0');
  assert.equal(status.deployment.status, 'ERROR');
  assert.equal(status.deployment.version, '1.0.0', 'never the failed version: it may be deployed again once fixed');
  assert.match(status.reason, /UnsafeArchive/);
});

test('jobs: a project without kinvey-flex-sdk fails its job with a clear progress', async () => {
  const { api, serviceId, environmentId, target } = await unchangedTarget();
  const archive = rawTar([{ path: 'package.json', body: JSON.stringify({ name: 'p', version: '2.0.0', dependencies: { express: '4' } }) }, { path: 'index.js', body: INDEX_JS }]);
  const accepted = await api.upload({ ...target, version: '2.0.0' }, archive);
  assert.equal(accepted.status, 201);
  const job = await finished(api, accepted.body.job);
  assert.equal(job.type, 'deployService');
  assert.equal(job.status, 'ERROR');
  assert.equal(job.params.version, '2.0.0');
  assert.match(job.progress, /InvalidProject: package\.json "dependencies" has no "kinvey-flex-sdk"/);
  await assertUnchanged(api, serviceId, environmentId);
});

test('jobs: the versions route lists stored versions oldest first with the serving one; rollback serves a stored version again without a rebuild; recycle restarts; unknown jobs are 404', async (t) => {
  const { api, serviceId, environmentId, target } = await deployed();
  await withDeadline('deploy of echo 1.0.1', api.rt.deployDirectory(await echoProjectAt(t, '1.0.1'), { service: serviceId, environment: environmentId }), LOCAL_DEPLOY_TIMEOUT_MS);
  assert.equal((await echo(api, serviceId, environmentId)).version, '1.0.1');

  // The versions route (a flexd extension): every stored version, oldest first, the serving one marked.
  const versionsPath = `/v4/services/${serviceId}/environments/${environmentId}/versions`;
  const versions = async () => {
    const r = await api.call('GET', versionsPath);
    assert.equal(r.status, 200);
    return r.body.map((v: { version: string; active: boolean }) => [v.version, v.active]);
  };
  assert.deepEqual(await versions(), [['1.0.0', false], ['1.0.1', true]]);
  assert.equal((await api.call('GET', versionsPath, { token: null })).status, 401);

  const unknown = await api.call('POST', '/v4/jobs', { json: { type: 'rollbackService', params: { ...target, version: '0.5.0' } } });
  assert.deepEqual([unknown.status, unknown.body.code], [404, 'VersionNotFound']);
  assert.match(unknown.body.description, /1\.0\.0, 1\.0\.1/);

  const rollback = await api.call('POST', '/v4/jobs', { json: { type: 'rollbackService', params: { ...target, version: '1.0.0' } } });
  assert.equal(rollback.status, 201);
  const job = await finished(api, rollback.body.job);
  assert.deepEqual([job.type, job.status], ['rollbackService', 'COMPLETED']);
  assert.match(job.progress, /Rollback: starting replicas of version 1\.0\.0/);
  assert.doesNotMatch(job.progress, /Building|Unpacked|Built version/, 'the stored build serves: nothing is built again');
  assert.deepEqual(await echo(api, serviceId, environmentId), { status: 200, KEY: 'kept', version: '1.0.0' });
  const status = (await api.call('GET', `/v4/services/${serviceId}/environments/${environmentId}/status`)).body;
  assert.deepEqual([status.status, status.version, status.deployment.status], ['ONLINE', '1.0.0', 'COMPLETED']);
  assert.deepEqual(await versions(), [['1.0.0', true], ['1.0.1', false]], 'the rolled-back-to version is the active one; the order stays oldest first');

  // 1.0.1 was deployed once: it stays the version to beat.
  const again = await api.upload({ ...target, version: '1.0.1' }, rawTar([{ path: 'package.json', body: sdkPackage('1.0.1') }]));
  assert.deepEqual([again.status, again.body.code], [409, 'DeploymentVersionTooLow']);

  const before = status.replicas.map((r: { containerId: string }) => r.containerId);
  assert.ok(before.length > 0, 'a replica runs before the recycle');
  const recycle = await api.call('POST', '/v4/jobs', { json: { type: 'recycleService', params: target } });
  assert.equal(recycle.status, 201);
  assert.equal((await finished(api, recycle.body.job)).status, 'COMPLETED');
  const after = (await api.call('GET', `/v4/services/${serviceId}/environments/${environmentId}/status`)).body;
  assert.ok(after.replicas.length > 0, 'replicas run after the recycle');
  assert.ok(after.replicas.every((r: { containerId: string }) => !before.includes(r.containerId)), `fresh replicas: ${JSON.stringify(after.replicas)} after ${before}`);

  const missing = await api.call('GET', '/v4/jobs/0123456789abcdef0123456789abcdef');
  assert.deepEqual([missing.status, missing.body.code], [404, 'JobNotFound']);
});

test('status: NEW before any deploy; recycle of a never-deployed environment is refused', async () => {
  const api = await runtime();
  const { serviceId, environmentId } = await api.createEnvironment('fresh');
  const status = await api.call('GET', `/v4/services/${serviceId}/environments/${environmentId}/status`);
  assert.deepEqual([status.status, status.body], [200, { status: 'NEW' }]);
  const recycle = await api.call('POST', '/v4/jobs', { json: { type: 'recycleService', params: { serviceId, serviceEnvironmentId: environmentId } } });
  assert.deepEqual([recycle.status, recycle.body.code], [409, 'NotDeployed']);
  const badType = await api.call('POST', '/v4/jobs', { json: { type: 'explode', params: {} } });
  assert.deepEqual([badType.status, badType.body.code], [400, 'ValidationError']);
});
