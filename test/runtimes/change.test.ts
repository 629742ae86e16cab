/**
 * Issue 18: changing an environment's runtime is a rolling swap to a version rebuilt for the new
 * major, under load, losing no request; a runtime that cannot be had is refused with
 * 400 InvalidRuntime and the reason before anything stops serving.
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { startApi, type Api } from '../api/helpers.ts';
import { cleanupStack } from '../helpers/cleanup.ts';
import { warmNpmCache } from '../helpers/npm-cache.ts';
import { callFunction } from '../lifecycle/helpers.ts';
import { RUNTIME_INSTALL_TIMEOUT_MS, RUNTIMES_CACHE_DIR } from '../helpers/runtimes.ts';
import { waitFor, withDeadline } from '../helpers/wait.ts';

const FIXTURE = fileURLToPath(new URL('../fixtures/runtimes/version/', import.meta.url));
const SECRET = 'change-secret';
/** Requests in flight at once while the runtime changes. */
const CONCURRENCY = 4;
/** One request's answer on a loaded box. */
const ANSWER_MS = 30_000;

describe('runtimes: changing an environment\'s runtime', () => {
  const cleanup = cleanupStack({ after });
  let api: Api;
  let base: string;
  let envPath: string;

  before(async () => {
    // The rebuild for the new major runs npm install for real: on a warm cache (helpers/npm-cache.ts), as a flexd that has built before.
    api = await startApi(cleanup, { runtimesDir: RUNTIMES_CACHE_DIR, npmCacheDir: await warmNpmCache(cleanup) });
    await withDeadline('deploy on node20', api.rt.deployDirectory(FIXTURE, { service: 'change', environment: 'Production', secret: SECRET, runtime: 'node20' }), RUNTIME_INSTALL_TIMEOUT_MS);
    const svc = ((await api.call('GET', '/v4/services')).body as { id: string; name: string }[]).find((s) => s.name === 'change')!;
    const env = ((await api.call('GET', `/v4/services/${svc.id}/environments`)).body as { id: string }[])[0]!;
    base = `${api.rt.url}/flex/${svc.id}/${env.id}`;
    envPath = `/v4/services/${svc.id}/environments/${env.id}`;
  });

  const nodeAnswer = async (): Promise<{ status: number; major?: number; version?: string }> => {
    const res = await callFunction(base, 'node', {}, { secret: SECRET, timeoutMs: ANSWER_MS });
    return { status: res.status, ...(res.status === 200 ? res.answer as { major: number; version: string } : {}) };
  };

  const job = async (id: string) => {
    await waitFor(`job ${id}`, async () => {
      const { body } = await api.call('GET', `/v4/jobs/${id}`);
      return body.status === 'COMPLETED' || body.status === 'ERROR' ? body : undefined;
    }, { timeoutMs: RUNTIME_INSTALL_TIMEOUT_MS, intervalMs: 200 });
    return (await api.call('GET', `/v4/jobs/${id}`)).body as { status: string; progress: string };
  };

  test('node20 → node22 under load: a rolling swap to a rebuilt version, no request lost, said in progress', async () => {
    assert.equal((await nodeAnswer()).major, 20);
    const answers: { status: number; major?: number; duringSwap: boolean }[] = [];
    let stop = false;
    // While the new version builds (npm install under Node 22: seconds), every poll of the job also
    // asks the service once, which shows the old version serving throughout; from the rebuild's end
    // on (the new replicas start, then the swap) CONCURRENCY clients send back to back. Back to back
    // for the whole build was ~1,100 requests and seconds of CPU that proved nothing more.
    const ask = async (duringSwap: boolean) => {
      answers.push({ ...await nodeAnswer().catch((err: Error) => ({ status: 0, error: err.message })), duringSwap });
    };
    const env = (await api.call('GET', envPath)).body;
    const put = await api.call('PUT', envPath, { json: { ...env, id: undefined, runtime: 'flex-runtime-node22' } });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    assert.equal(put.body.runtime, 'flex-runtime-node22');
    const jobId = put.headers.get('x-flexd-job');
    assert.ok(jobId, 'the change runs as a job');
    await waitFor('the rebuild for Node 22 to end', async () => {
      await ask(false);
      const { body } = await api.call('GET', `/v4/jobs/${jobId}`);
      return /Rebuilt version/.test(body.progress ?? '') || body.status === 'COMPLETED' || body.status === 'ERROR' ? true : undefined;
    }, { timeoutMs: RUNTIME_INSTALL_TIMEOUT_MS, intervalMs: 50 });
    const load = Array.from({ length: CONCURRENCY }, async () => {
      while (!stop) await ask(true);
    });
    const done = await job(jobId);
    // A few more requests after the swap, then stop.
    const after = answers.length;
    await waitFor('requests after the swap', () => answers.length >= after + CONCURRENCY * 2, { timeoutMs: ANSWER_MS * 2 });
    stop = true;
    await Promise.all(load);

    assert.equal(done.status, 'COMPLETED', done.progress);
    assert.match(done.progress, /Version 1\.0\.0 was built for Node 20; rebuilding it for Node 22/);
    assert.match(done.progress, /Runtime flex-runtime-node22 runs on Node 22\.\d+\.\d+/);
    const failed = answers.filter((a) => a.status !== 200);
    assert.deepEqual(failed, [], `${failed.length} of ${answers.length} requests failed during the swap`);
    const majors = answers.map((a) => a.major);
    assert.ok(majors.includes(20), `served by 20 before the swap: ${majors.join(',')}`);
    // The back-to-back load began while Node 20 still served: the swap happened under it.
    const atSwap = answers.filter((a) => a.duringSwap).map((a) => a.major);
    assert.ok(atSwap.includes(20), `served by 20 under the full load, before the swap: ${atSwap.join(',')}`);
    assert.deepEqual(majors.slice(-CONCURRENCY * 2), Array(CONCURRENCY * 2).fill(22), `served by 22 after it: ${majors.join(',')}`);
    assert.equal((await api.call('GET', envPath)).body.runtime, 'flex-runtime-node22', 'the new runtime is recorded once it serves');
    assert.equal((await api.call('GET', `${envPath}/status`)).body.node.major, 22);
  });

  test('an unknown major is refused with 400 InvalidRuntime and the reason, and the old version keeps serving', async () => {
    const before = await nodeAnswer();
    assert.equal(before.status, 200);
    const env = (await api.call('GET', envPath)).body;
    for (const [runtime, reason] of [
      ['flex-runtime-node99', /no release of Node 99/],
      ['node18', /older than the oldest Node flexd runs/],
      ['flex-runtime-java', /not a runtime name/],
    ] as const) {
      const put = await api.call('PUT', envPath, { json: { ...env, id: undefined, runtime } });
      assert.equal(put.status, 400, `${runtime}: ${JSON.stringify(put.body)}`);
      assert.equal(put.body.code, 'InvalidRuntime');
      assert.match(put.body.description, reason);
      assert.equal(put.headers.get('x-flexd-job'), null, 'no job was started');
    }
    assert.equal((await api.call('GET', envPath)).body.runtime, env.runtime, 'the runtime is unchanged');
    assert.deepEqual(await nodeAnswer(), before, 'the same Node still serves');
  });
});
