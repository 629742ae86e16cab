/**
 * Issue 4, settings: an environment may override the runtime's knobs. Its own request
 * timeout applies to it alone, after the change is applied as one restart.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cleanupStack } from '../helpers/cleanup.ts';
import { withDeadline } from '../helpers/wait.ts';
import { callFunction, COLD_START_MS, deployFixture, PROMPT_MS, startRuntime, whoami } from './helpers.ts';

const RUNTIME_TIMEOUT_MS = 30_000;
const ENVIRONMENT_TIMEOUT_MS = 400;

test('settings: an environment\'s own requestTimeoutMs applies to it, while another environment keeps the runtime\'s', async (t) => {
  const cleanup = cleanupStack(t);
  const h = await startRuntime(cleanup, { requestTimeoutMs: RUNTIME_TIMEOUT_MS });
  const quick = { service: 'quick', environment: 'Development' };
  const patient = { service: 'patient', environment: 'Development' };
  await deployFixture(h, cleanup, 'never-completes', '1.0.0', quick);
  await deployFixture(h, cleanup, 'never-completes', '1.0.0', patient);

  const { store, deployer } = h.rt.context;
  const envId = h.environmentId(quick.service, quick.environment);
  const env = (await store.services.updateEnvironment(envId, { settings: { requestTimeoutMs: ENVIRONMENT_TIMEOUT_MS } }));
  const job = await deployer.jobs.wait((await deployer.recycle(env.serviceId, env.id, null, 'Applying settings')).id);
  assert.equal(job.status, 'COMPLETED', job.progress);

  const started = Date.now();
  const res = await callFunction(h.base(quick.service, quick.environment), 'hang', {}, { timeoutMs: PROMPT_MS });
  assert.equal(res.status, 504);
  assert.ok(Date.now() - started < RUNTIME_TIMEOUT_MS / 2, 'answered by the environment\'s timeout, not the runtime\'s');

  // The other environment still waits past the short timeout: its request completes after 1 s.
  const late = await withDeadline('the patient environment', callFunction(h.base(patient.service, patient.environment), 'late', { body: { ms: ENVIRONMENT_TIMEOUT_MS * 3 } }, { timeoutMs: PROMPT_MS }), PROMPT_MS);
  assert.equal(late.status, 200);
});

test('settings: an environment that opts in to strict unhandled rejections loses its replica to one, and the request gets a 502', async (t) => {
  const cleanup = cleanupStack(t);
  const h = await startRuntime(cleanup);
  const strict = { service: 'strict', environment: 'Development' };
  const lenient = { service: 'lenient', environment: 'Development' };
  for (const target of [strict, lenient]) await deployFixture(h, cleanup, 'rejects', '1.0.0', target);
  const { store, deployer } = h.rt.context;
  const env = (await store.services.updateEnvironment(h.environmentId(strict.service, strict.environment), { settings: { strictUnhandledRejections: true } }));
  assert.equal((await deployer.jobs.wait((await deployer.recycle(env.serviceId, env.id, null)).id)).status, 'COMPLETED');

  // whoami asserts a 200 with a pid: two failed calls (no pid either time) cannot pass for a replacement.
  const before = await whoami(h.base(strict.service, strict.environment), 'whoami before the rejection');
  const res = await callFunction(h.base(strict.service, strict.environment), 'reject', {}, { timeoutMs: PROMPT_MS });
  assert.equal(res.status, 502, res.text);
  assert.equal(res.json?.error, 'ReplicaDied');
  const after = await whoami(h.base(strict.service, strict.environment), 'whoami after the rejection', { timeoutMs: COLD_START_MS });
  assert.notEqual(after.pid, before.pid, 'the replica was replaced');

  // The default: the rejection is answered for its own request, and the replica stays.
  const lenientBefore = await whoami(h.base(lenient.service, lenient.environment), 'whoami of the lenient environment before');
  const answered = await callFunction(h.base(lenient.service, lenient.environment), 'reject', {}, { timeoutMs: PROMPT_MS });
  assert.equal(answered.status, 500, answered.text);
  assert.equal(answered.json?.error, 'FlexRuntimeError');
  const lenientAfter = await whoami(h.base(lenient.service, lenient.environment), 'whoami of the lenient environment after');
  assert.equal(lenientAfter.pid, lenientBefore.pid);
});
