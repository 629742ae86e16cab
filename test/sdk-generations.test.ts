/**
 * SPEC §5: services on kinvey-flex-sdk 2.x run as 3.x ones do. The deploy runs npm for SDK 2.x,
 * as an upload would, against a warm npm cache (helpers/npm-cache.ts: what earlier runs fetched; the
 * registry for what it lacks). (A 3.x pin the registry no longer serves: test/build/builds.test.ts.)
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { createRuntime, type Runtime } from '../src/runtime.ts';
import { CleanupStack } from './helpers/cleanup.ts';
import { warmNpmCache } from './helpers/npm-cache.ts';
import { tempDir } from './helpers/tmp.ts';
import { waitFor, withDeadline } from './helpers/wait.ts';

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}/`, import.meta.url));
/** npm install of kinvey-flex-sdk 2.x (from the registry on a first run), then a start. */
const REGISTRY_DEPLOY_MS = 180_000;

describe('SDK generations', () => {
  const cleanup = new CleanupStack();
  let rt: Runtime;

  before(async () => {
    rt = await createRuntime({ dataDir: await tempDir(cleanup), port: 0, stopGraceMs: 2_000, npmCacheDir: await warmNpmCache(cleanup) });
    cleanup.after(() => rt.close());
  });
  after(() => cleanup.run());

  it('runs a service on kinvey-flex-sdk 2.x, and recycles it without counting its exit 143 as a crash', async () => {
    const job = await withDeadline('the deploy of the SDK 2 service', rt.deployDirectory(fixture('sdk2'), { service: 'gen2', environment: 'Development' }), REGISTRY_DEPLOY_MS);
    assert.match(job.progress, /Installing dependencies/);
    const call = () => withDeadline('POST generation', fetch(`${rt.url}/flex/gen2/Development/_flexFunctions/generation`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ body: { a: 1 } }),
    }));
    const res = await call();
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.match(body.response.body.sdk, /^2\./);
    assert.deepEqual(body.response.body.echo, { a: 1 });

    const env = (await rt.context.store.services.findEnvironment((await rt.context.store.services.findService('gen2'))!.id, 'Development'))!;
    const pool = rt.context.supervisor.pool(env.id)!;
    const exits = () => rt.context.events.recent().map((r) => r.event).filter((e) => e.type === 'replica-exit' && e.environmentId === env.id);
    const [before] = pool.describe();
    const recycle = await rt.context.deployer.recycle(env.serviceId, env.id, null);
    const done = await withDeadline('the recycle', rt.context.deployer.jobs.wait(recycle.id), REGISTRY_DEPLOY_MS);
    assert.equal(done.status, 'COMPLETED', done.progress);
    assert.equal((await call()).status, 200);
    const fresh = pool.describe()[0]?.pid;
    assert.ok(typeof before?.pid === 'number' && typeof fresh === 'number' && fresh !== before.pid, `a fresh replica serves (pid ${before?.pid} before, ${fresh} after)`);
    assert.equal(pool.suspension, null);
    assert.deepEqual(exits(), [], 'the recycled replica\'s exit 143 was not taken for a crash');

    // The same probe sees a real crash of this SDK's replica: its silence above means something.
    process.kill(pool.describe()[0]!.pid!, 'SIGKILL');
    const crash = await waitFor('the killed replica\'s exit as a crash', () => exits()[0], { timeoutMs: 30_000 });
    assert.equal(crash.type === 'replica-exit' && crash.reason, 'crash');
  });
});
