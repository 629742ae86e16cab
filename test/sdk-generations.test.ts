/**
 * SPEC §5: services on kinvey-flex-sdk 2.x and 3.x both run; a pin the registry no longer
 * serves is replaced by the nearest version of the same major, and the job says so. These
 * deploys install from the npm registry, as an upload would.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { createRuntime, type Runtime } from '../src/runtime.ts';
import { CleanupStack } from './helpers/cleanup.ts';
import { tempDir } from './helpers/tmp.ts';

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}/`, import.meta.url));

describe('SDK generations', () => {
  const cleanup = new CleanupStack();
  let rt: Runtime;

  before(async () => {
    rt = await createRuntime({ dataDir: await tempDir(cleanup), port: 0, stopGraceMs: 2_000 });
    cleanup.after(() => rt.close());
  });
  after(() => cleanup.run());

  it('runs a service on kinvey-flex-sdk 2.x, and recycles it without counting its exit 143 as a crash', async () => {
    const job = await rt.deployDirectory(fixture('sdk2'), { service: 'gen2', environment: 'Development' });
    assert.match(job.progress, /Installing dependencies/);
    const call = () => fetch(`${rt.url}/flex/gen2/Development/_flexFunctions/generation`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ body: { a: 1 } }),
    });
    const res = await call();
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.match(body.response.body.sdk, /^2\./);
    assert.deepEqual(body.response.body.echo, { a: 1 });

    const env = (await rt.context.store.services.findEnvironment((await rt.context.store.services.findService('gen2'))!.id, 'Development'))!;
    const recycle = await rt.context.deployer.recycle(env.serviceId, env.id, null);
    const done = await rt.context.deployer.jobs.wait(recycle.id);
    assert.equal(done.status, 'COMPLETED', done.progress);
    assert.equal((await call()).status, 200);
    assert.equal(rt.context.supervisor.pool(env.id)!.suspension, null);
    await rt.context.logs.flush();
    const lines = (await rt.context.store.logs.query(env.id, { limit: 1000, page: 1 }));
    assert.ok(!lines.some((l) => /exited with code|killed by/.test(l.message) && l.threshold === 'error'), 'a graceful stop was logged as a crash');
  });

  it('replaces a kinvey-flex-sdk pin the registry does not have with the nearest 3.x, and says so in the job', async () => {
    const job = await rt.deployDirectory(fixture('sdk-pinned'), { service: 'pinned', environment: 'Development' });
    assert.match(job.progress, /3\.2\.1.*3\.3\.0/);
    const res = await fetch(`${rt.url}/flex/pinned/Development/_flexFunctions/generation`, { method: 'POST' });
    assert.equal(res.status, 200);
    assert.equal((await res.json()).response.body.sdk, '3.3.0');
  });
});
