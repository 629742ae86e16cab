/**
 * Issue 4, settings: an environment may override the runtime's knobs. The change goes through the
 * management API as a user makes it (`PUT /v4/services/:sid/environments/:eid` with `settings`),
 * which applies it to a serving environment as one restart (its `X-Flexd-Job`); the environment's
 * own value then applies to it alone. (What the API refuses: test/api/environments.test.ts.)
 *
 * One runtime for both tests: each works on environments of its own.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startApi, type Api } from '../api/helpers.ts';
import { CleanupStack } from '../helpers/cleanup.ts';
import { withDeadline } from '../helpers/wait.ts';
import { callFunction, COLD_START_MS, DEPLOY_TIMEOUT_MS, FAST, FAULTS_DIR, PROMPT_MS, whoami } from './helpers.ts';

const RUNTIME_TIMEOUT_MS = 30_000;
const ENVIRONMENT_TIMEOUT_MS = 400;

describe('environment settings', () => {
  const suite = new CleanupStack();
  after(() => suite.run());
  let api: Api;

  before(async () => {
    api = await startApi(suite, { ...FAST, requestTimeoutMs: RUNTIME_TIMEOUT_MS });
  });

  const base = (service: string) => `${api.rt.url}/flex/${service}/Development`;

  /** Deploys fault fixture `fixture` as `service`/Development; the ids of its service and environment. */
  async function deploy(fixture: string, service: string): Promise<{ serviceId: string; environmentId: string }> {
    const job = await withDeadline(`deploy of ${fixture} as ${service}`, api.rt.deployDirectory(join(FAULTS_DIR, fixture), { service, environment: 'Development' }), DEPLOY_TIMEOUT_MS);
    assert.ok(job.serviceId && job.environmentId, `the deploy names its service and environment: ${JSON.stringify(job)}`);
    return { serviceId: job.serviceId, environmentId: job.environmentId };
  }

  /** Sets `settings` through the API; waits for the restart it starts, and checks that it replaced the replica. */
  async function applySettings(service: string, ids: { serviceId: string; environmentId: string }, settings: Record<string, unknown>): Promise<void> {
    const before = await whoami(base(service), `whoami of ${service} before the change`);
    const res = await api.call('PUT', `/v4/services/${ids.serviceId}/environments/${ids.environmentId}`, { json: { settings } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(res.body.settings, settings);
    const jobId = res.headers.get('x-flexd-job');
    assert.ok(jobId, 'a serving environment gets the change as a restart job');
    const job = await withDeadline('the restart that applies the settings', api.rt.context.deployer.jobs.wait(jobId), DEPLOY_TIMEOUT_MS);
    assert.equal(job.status, 'COMPLETED', job.progress);
    const after = await whoami(base(service), `whoami of ${service} after the change`, { timeoutMs: COLD_START_MS });
    assert.notEqual(after.pid, before.pid, 'a fresh replica runs with the new settings');
  }

  test('settings: an environment\'s own requestTimeoutMs, set through the API, applies to it after one restart, while another environment keeps the runtime\'s', async () => {
    const quick = await deploy('never-completes', 'quick');
    await deploy('never-completes', 'patient');
    await applySettings('quick', quick, { requestTimeoutMs: ENVIRONMENT_TIMEOUT_MS });

    const started = Date.now();
    const res = await callFunction(base('quick'), 'hang', {}, { timeoutMs: PROMPT_MS });
    assert.equal(res.status, 504, res.text);
    assert.ok(Date.now() - started < RUNTIME_TIMEOUT_MS / 2, 'answered by the environment\'s timeout, not the runtime\'s');

    // The other environment still waits past the short timeout: its request completes after three of them.
    const late = await withDeadline('the patient environment', callFunction(base('patient'), 'late', { body: { ms: ENVIRONMENT_TIMEOUT_MS * 3 } }, { timeoutMs: PROMPT_MS }), PROMPT_MS);
    assert.equal(late.status, 200, late.text);
  });

  test('settings: an environment that opts in to strict unhandled rejections through the API loses its replica to one, and the request gets a 502', async () => {
    const strict = await deploy('rejects', 'strict');
    await deploy('rejects', 'lenient');
    await applySettings('strict', strict, { strictUnhandledRejections: true });

    // whoami asserts a 200 with a pid: two failed calls (no pid either time) cannot pass for a replacement.
    const before = await whoami(base('strict'), 'whoami before the rejection');
    const res = await callFunction(base('strict'), 'reject', {}, { timeoutMs: PROMPT_MS });
    assert.equal(res.status, 502, res.text);
    assert.equal(res.json?.error, 'ReplicaDied');
    const after = await whoami(base('strict'), 'whoami after the rejection', { timeoutMs: COLD_START_MS });
    assert.notEqual(after.pid, before.pid, 'the replica was replaced');

    // The default: the rejection is answered for its own request, and the replica stays.
    const lenientBefore = await whoami(base('lenient'), 'whoami of the lenient environment before');
    const answered = await callFunction(base('lenient'), 'reject', {}, { timeoutMs: PROMPT_MS });
    assert.equal(answered.status, 500, answered.text);
    assert.equal(answered.json?.error, 'FlexRuntimeError');
    const lenientAfter = await whoami(base('lenient'), 'whoami of the lenient environment after');
    assert.equal(lenientAfter.pid, lenientBefore.pid);
  });
});
