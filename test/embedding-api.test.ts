/**
 * The embedding API as a test harness uses it (issue 10): createRuntime prints nothing unless
 * given a logger, deployDirectory's `version` deploys the same folder again, rt.logs returns the
 * newest lines.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRuntime } from '../src/runtime.ts';
import { echoProjectAt } from './api/helpers.ts';
import { cleanupStack } from './helpers/cleanup.ts';
import { tempDir } from './helpers/tmp.ts';
import { withDeadline } from './helpers/wait.ts';

/** A local deploy: node_modules is the repo's (a symlink), so no npm install */
const DEPLOY_TIMEOUT_MS = 120_000;

test('embedding: a runtime without a logger prints nothing through create, deploy, requests and close', async (t) => {
  const cleanup = cleanupStack(t);
  const project = await echoProjectAt(cleanup, '1.0.0');
  const dataDir = await tempDir(cleanup);
  const printed: string[] = [];
  const restore: Array<() => void> = [];
  for (const stream of [process.stdout, process.stderr]) {
    const write = stream.write;
    // node:test reports through its own channel, not these streams, while a test runs
    stream.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      printed.push(String(chunk));
      return (write as (...a: unknown[]) => boolean).call(stream, chunk, ...rest);
    }) as typeof stream.write;
    restore.push(() => { stream.write = write; });
  }
  t.after(() => restore.forEach((r) => r()));
  const rt = await createRuntime({ dataDir, port: 0 });
  cleanup.after(() => rt.close()); // a failed step must not leave the runtime holding the test process open
  await withDeadline('deploy', rt.deployDirectory(project, { service: 'quiet', environment: 'Development', secret: 'quiet-secret' }), DEPLOY_TIMEOUT_MS);
  const res = await fetch(`${rt.url}/flex/quiet/Development/_flexFunctions/echo`, { method: 'POST', headers: { 'X-Auth-Key': 'quiet-secret', 'Content-Type': 'application/json' }, body: '{}' });
  assert.equal(res.status, 200);
  await rt.close();
  restore.forEach((r) => r());
  assert.deepEqual(printed, []);
});

test('embedding: deployDirectory with version deploys the same folder again; rt.logs returns the newest lines', async (t) => {
  const cleanup = cleanupStack(t);
  const project = await echoProjectAt(cleanup, '1.0.0');
  const rt = await createRuntime({ dataDir: await tempDir(cleanup), port: 0 });
  cleanup.after(() => rt.close());
  const target = { service: 'again', environment: 'Development', secret: 'again-secret' };
  await withDeadline('deploy 1.0.0', rt.deployDirectory(project, target), DEPLOY_TIMEOUT_MS);
  await assert.rejects(rt.deployDirectory(project, target), /DeploymentVersionTooLow|not greater/);
  await assert.rejects(rt.deployDirectory(project, { ...target, version: 'two' }), { code: 'InvalidVersion' });
  const job = await withDeadline('deploy 1.0.1', rt.deployDirectory(project, { ...target, version: '1.0.1' }), DEPLOY_TIMEOUT_MS);
  assert.equal(job.status, 'COMPLETED');

  const call = () => fetch(`${rt.url}/flex/again/Development/_flexFunctions/echo`, { method: 'POST', headers: { 'X-Auth-Key': 'again-secret', 'Content-Type': 'application/json' }, body: '{}' });
  for (let i = 0; i < 3; i++) {
    const res = await call();
    assert.equal(res.headers.get('x-flexd-version'), '1.0.1');
  }
  const lines = await rt.logs({ service: 'again', environment: 'Development', limit: 2 });
  assert.equal(lines.length, 2);
  assert.ok(lines.every((l) => /echo called on version/.test(l.message) && /^[0-9a-f]{12}$/.test(l.containerId)), JSON.stringify(lines));
  assert.ok(Number(lines[0]._id) < Number(lines[1]._id), 'oldest first');
  await assert.rejects(rt.logs({ service: 'again', environment: 'Nope' }), { code: 'ServiceEnvironmentNotFound' });
  await assert.rejects(rt.logs({ ...target, limit: 5000 }), { code: 'InvalidLogQuery' });
});
