/**
 * RELIABILITY.md F12: a corrupt or truncated archive uploaded through the management API (as
 * kinvey-cli sends it), and a project that cannot start. Each is refused before
 * anything is activated, and nothing of it is stored: no version row, no artifact folder, no
 * build folder; the old version serves throughout.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { startApi } from '../api/helpers.ts';
import { tarOf } from '../fixtures/deploy/archives.ts';
import { cleanupStack } from '../helpers/cleanup.ts';
import { withDeadline } from '../helpers/wait.ts';
import { DEPLOY_TIMEOUT_MS, FAST, FAULTS_DIR, fixtureCopy, hammer, keepAliveAgent, whoami } from '../lifecycle/helpers.ts';
import { artifactDirs, buildDirs, RELIABILITY_FIXTURES_DIR } from './helpers.ts';

/** A refused archive fails while unpacking, before any install or build. */
const REFUSED_JOB_TIMEOUT_MS = 30_000;
const target = { service: 'sturdy', environment: 'Production' };

test('F12: corrupt and truncated archives are refused before activation, and a project that cannot start is refused at its start, with nothing stored while the old version keeps serving', async (t) => {
  const cleanup = cleanupStack(t);
  const api = await startApi(cleanup, FAST);
  const { rt } = api;
  await withDeadline('deploy of versioned 1.0.0', rt.deployDirectory(join(FAULTS_DIR, 'versioned'), target), DEPLOY_TIMEOUT_MS);
  const serviceId = (await rt.context.store.services.findService(target.service))!.id;
  const environmentId = (await rt.context.store.services.findEnvironment(serviceId, target.environment))!.id;
  const base = `${rt.url}/flex/${target.service}/${target.environment}`;
  const artifactsBefore = artifactDirs(rt.context.dataDir);
  assert.equal(artifactsBefore.length, 1, `one artifact folder: ${artifactsBefore}`);

  // A well-formed project at 2.0.0, then broken four ways.
  const project = fixtureCopy(cleanup, 'versioned', '2.0.0');
  const tgz = await tarOf(project, { gzip: true, paths: ['package.json', 'index.js'] });
  const tar = await tarOf(project, { gzip: false, paths: ['package.json', 'index.js'] });
  const corrupt = Buffer.from(tgz);
  for (let i = 20; i < corrupt.length - 8; i += 7) corrupt[i]! ^= 0x5a;
  const broken: Record<string, Buffer> = {
    'a gzip stream with corrupted bytes': corrupt,
    'a gzip stream cut in half': tgz.subarray(0, Math.floor(tgz.length / 2)),
    'a tar cut inside its second file': tar.subarray(0, 512 * 3 + 100),
    'bytes that are no archive at all': Buffer.from('this is not a tar archive, just text that happens to be uploaded\n'.repeat(20)),
  };

  const load = hammer(base, 2, keepAliveAgent(cleanup, 2));
  cleanup.after(() => load.stop());
  for (const [what, archive] of Object.entries(broken)) {
    const accepted = await api.upload({ serviceId, serviceEnvironmentId: environmentId, version: '2.0.0' }, archive);
    assert.equal(accepted.status, 201, `${what}: ${JSON.stringify(accepted.body)}`);
    const job = await withDeadline(`the job of ${what}`, rt.context.deployer.jobs.wait(accepted.body.job), REFUSED_JOB_TIMEOUT_MS);
    assert.equal(job.status, 'ERROR', what);
    assert.match(job.progress.split('\n').at(-1)!, /^InvalidArchive: /, `${what}: ${job.progress}`);
    assert.deepEqual((await rt.context.store.versions.list(environmentId)).map((v) => v.version), ['1.0.0'], `${what}: no version row`);
    assert.deepEqual(artifactDirs(rt.context.dataDir), artifactsBefore, `${what}: no artifact folder`);
    assert.deepEqual(buildDirs(rt.context.dataDir), [], `${what}: no build folder`);
    assert.equal((await whoami(base, `whoami after ${what}`)).version, '1.0.0');
  }

  const err = await withDeadline('the deploy of a project that requires a file it lacks',
    rt.deployDirectory(join(RELIABILITY_FIXTURES_DIR, 'missing-module'), target).then(
      () => assert.fail('the project with a missing file deployed'), (e: Error & { debug?: string }) => e), DEPLOY_TIMEOUT_MS);
  const job = (await rt.context.store.jobs.latest(environmentId, 'deployService'))!;
  assert.equal(job.status, 'ERROR');
  // As under node .: the require fails when the service starts, and the job says where.
  assert.match(job.progress, /failed to start/);
  assert.match(job.progress, /Cannot find module '\.\/lib\/handlers'/, 'the job names what could not be found');
  assert.match(job.progress, /index\.js:5/, 'and the line of the project that asked for it');
  assert.match(err.message, /failed to start/, 'the error a deployDirectory caller sees says so');
  assert.deepEqual((await rt.context.store.versions.list(environmentId)).map((v) => v.version), ['1.0.0'], 'no version row for the project that cannot start');
  assert.deepEqual(artifactDirs(rt.context.dataDir), artifactsBefore, 'no artifact folder left of the project that cannot start');
  assert.deepEqual(buildDirs(rt.context.dataDir), [], 'no build folder left of the project that cannot start');

  await load.stop();
  assert.ok(load.records.length > 0);
  const strays = load.records.filter((r) => r.status !== 200 || r.header !== '1.0.0' || r.body !== '1.0.0');
  assert.deepEqual(strays.slice(0, 5), [], `${strays.length} of ${load.records.length} requests were not answered by 1.0.0`);
  t.diagnostic(`${load.records.length} requests answered by 1.0.0 meanwhile`);
  assert.equal((await whoami(base, 'whoami at the end')).version, '1.0.0');
});
