/**
 * The embedding API covers what a test does (issue 20): version 'auto', setVariables, recycle,
 * rollback, versions, status, logs and `await using` — each resolving once its change serves, with
 * no account and no management API. (That an embedded runtime prints nothing of its own:
 * test/package.test.ts; its errors: test/embedding/errors.test.ts.)
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createRuntime, type Runtime } from '../../src/runtime.ts';
import { CleanupStack } from '../helpers/cleanup.ts';
import { tempDir } from '../helpers/tmp.ts';
import { waitFor, withDeadline } from '../helpers/wait.ts';
import { count, DEPLOY_TIMEOUT_MS, projectCopy } from './helpers.ts';

describe('embedding calls on one runtime', () => {
  const cleanup = new CleanupStack();
  after(() => cleanup.run());
  const target = { service: 'counter', environment: 'Development' };
  const secret = 'calls-secret';
  let rt: Runtime;
  let project: string;
  const call = () => count(rt.url, target.service, target.environment, secret);

  before(async () => {
    project = await projectCopy(cleanup, 'embed-counter');
    rt = await createRuntime({ dataDir: await tempDir(cleanup), port: 0 });
    cleanup.after(() => rt.close());
  });

  test('concurrent deploys to two new environments of a new service both complete, and both serve under the one service\'s name', async () => {
    const deploys = ['One', 'Two'].map((environment) => withDeadline(`deploy to ${environment}`,
      rt.deployDirectory(project, { service: 'concurrent', environment, version: '1.0.0' }), DEPLOY_TIMEOUT_MS));
    const done = await Promise.all(deploys);
    assert.deepEqual(done.map((d) => d.status), ['COMPLETED', 'COMPLETED']);
    for (const environment of ['One', 'Two']) assert.equal((await count(rt.url, 'concurrent', environment, '')).status, 200);
  });

  test("version 'auto' deploys the same folder again and again: package.json's version first, then the next patch", async () => {
    const first = await withDeadline('deploy auto', rt.deployDirectory(project, { ...target, secret, version: 'auto' }), DEPLOY_TIMEOUT_MS);
    assert.equal(first.status, 'COMPLETED');
    assert.equal(first.version, '1.0.0');
    const second = await withDeadline('deploy auto again', rt.deployDirectory(project, { ...target, version: 'auto' }), DEPLOY_TIMEOUT_MS);
    assert.equal(second.version, '1.0.1');
    const answer = await call();
    assert.equal(answer.status, 200, 'the secret given at creation stays when a deploy omits it');
    assert.equal(answer.version, '1.0.1');
    assert.equal(answer.ownVersion, '1.0.1', "the service's own package.json says the version it was deployed as");
    const versions = await rt.versions(target);
    assert.deepEqual(versions.map((v) => [v.version, v.active]), [['1.0.0', false], ['1.0.1', true]]);
    assert.ok(versions.every((v) => v.size > 0 && v.sdkVersion === '3.3.0' && !Number.isNaN(Date.parse(v.createdAt))));
  });

  test('recycle gives fresh replicas: in-memory state is gone once it resolves', async () => {
    const calls = (await call()).calls;
    assert.equal((await call()).calls, calls + 1);
    const before = (await rt.status(target)).replicas.map((r) => r.containerId);
    const job = await withDeadline('recycle', rt.recycle(target), DEPLOY_TIMEOUT_MS);
    assert.equal(job.type, 'recycleService');
    assert.equal(job.status, 'COMPLETED');
    const after = await rt.status(target);
    assert.ok(before.length > 0 && after.replicas.length === before.length, JSON.stringify({ before, after: after.replicas }));
    assert.ok(after.replicas.every((r) => !before.includes(r.containerId) && r.state === 'ready'), JSON.stringify({ before, after: after.replicas }));
    assert.equal((await call()).calls, 1);
  });

  test('setVariables adds to the variables, replace sets exactly them; the replicas serve with them once it resolves', async () => {
    assert.deepEqual(await withDeadline('set KEY', rt.setVariables(target, { KEY: 'one', OTHER: 'x' }), DEPLOY_TIMEOUT_MS), { KEY: 'one', OTHER: 'x' });
    assert.equal((await call()).KEY, 'one');
    assert.deepEqual(await rt.setVariables(target, { KEY: 'two' }), { KEY: 'two', OTHER: 'x' });
    assert.equal((await call()).KEY, 'two');
    assert.deepEqual(await rt.setVariables(target, { OTHER: 'y' }, { replace: true }), { OTHER: 'y' });
    const answer = await call();
    assert.equal(answer.KEY, null);
    assert.equal(answer.calls, 1, 'new variables mean new replicas');
    assert.deepEqual((await rt.status(target)).variables, { OTHER: 'y' });
  });

  test('rollback serves a stored version again; status says which, and that it is online', async () => {
    const job = await withDeadline('rollback', rt.rollback(target, '1.0.0'), DEPLOY_TIMEOUT_MS);
    assert.equal(job.type, 'rollbackService');
    assert.equal(job.version, '1.0.0');
    assert.equal((await call()).version, '1.0.0');
    const status = await rt.status(target);
    assert.equal(status.status, 'ONLINE');
    assert.equal(status.version, '1.0.0');
    assert.deepEqual(status.deployment, { status: 'COMPLETED', version: '1.0.0' });
    assert.equal(status.reason, null);
    assert.equal(status.replicas.length, 1);
    assert.ok((await rt.versions(target)).find((v) => v.version === '1.0.0')?.active);
  });

  test('a failed deploy leaves the serving version; status reports the failure', async () => {
    await assert.rejects(rt.deployDirectory(project, { ...target, version: '0.9.0' }), { code: 'DeploymentVersionTooLow' });
    const status = await rt.status(target);
    assert.equal(status.version, '1.0.0');
    assert.equal(status.deployment?.status, 'ERROR');
    assert.match(status.reason ?? '', /DeploymentVersionTooLow/);
  });

  test('logs returns the newest lines the service wrote, oldest first, each with the replica that wrote it', async () => {
    const first = (await call()).calls;
    const second = (await call()).calls;
    assert.equal(second, first + 1);
    // the log thread stores lines in batches: wait for the second one
    const lines = await waitFor('both lines stored', async () => {
      const newest = await rt.logs({ ...target, limit: 2 });
      return newest.length === 2 && newest[1]!.message.includes(`count called: ${second}`) ? newest : undefined;
    }, { timeoutMs: 60_000 });
    assert.match(lines[0]!.message, new RegExp(`count called: ${first}\\b`), JSON.stringify(lines));
    assert.ok(Number(lines[0]!._id) < Number(lines[1]!._id), 'oldest first');
    const replicas = (await rt.status(target)).replicas.map((r) => r.containerId);
    assert.equal(replicas.length, 1);
    assert.deepEqual(lines.map((l) => l.containerId), [replicas[0], replicas[0]]);
  });

  test('calls on an environment or service that does not exist fail with its code and change nothing', async () => {
    const nope = { service: 'counter', environment: 'Nope' };
    for (const attempt of [rt.status(nope), rt.versions(nope), rt.recycle(nope), rt.rollback(nope, '1.0.0'), rt.setVariables(nope, { A: 'b' }), rt.logs(nope)]) {
      await assert.rejects(attempt, { code: 'ServiceEnvironmentNotFound' });
    }
    await assert.rejects(rt.status({ service: 'nobody', environment: 'Development' }), { code: 'ServiceNotFound' });
    assert.equal((await rt.status(target)).version, '1.0.0');
  });
});

test('await using closes the runtime when the scope ends: its replicas stop, its data dir can be opened again', async (t) => {
  const cleanup = new CleanupStack();
  t.after(() => cleanup.run());
  const project = await projectCopy(cleanup, 'embed-counter');
  const dataDir = await tempDir(cleanup);
  let pids: number[];
  {
    await using rt = await createRuntime({ dataDir, port: 0 });
    await withDeadline('deploy', rt.deployDirectory(project, { service: 'scoped', environment: 'Development' }), DEPLOY_TIMEOUT_MS);
    assert.equal((await count(rt.url, 'scoped', 'Development')).status, 200, 'without a secret requests without X-Auth-Key are answered');
    pids = (await rt.status({ service: 'scoped', environment: 'Development' })).replicas.map((r) => r.pid!);
    assert.equal(pids.length, 1);
  }
  for (const pid of pids) assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, `replica ${pid} stopped`);
  // The data dir's lock was released: a new runtime opens it and serves the deployed version again.
  await using again = await createRuntime({ dataDir, port: 0 });
  assert.equal((await again.status({ service: 'scoped', environment: 'Development' })).status, 'ONLINE');
});
