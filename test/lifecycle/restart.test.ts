/**
 * RELIABILITY.md F14: a runtime restarted on the same data dir brings every environment back
 * on its last active version, with its own variables and its own secret.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cleanupStack } from '../helpers/cleanup.ts';
import { tempDir } from '../helpers/tmp.ts';
import { callFunction, COLD_START_MS, deployFixture, failedDeploy, PROMPT_MS, startRuntime, type Harness } from './helpers.ts';

interface Expected { service: string; environment: string; secret: string; version: string; color: string }

const ENVIRONMENTS: Expected[] = [
  { service: 'orders', environment: 'Development', secret: 'orders-dev-secret', version: '1.0.0', color: 'red' },
  { service: 'orders', environment: 'Production', secret: 'orders-prod-secret', version: '3.0.0', color: 'green' },
  { service: 'billing', environment: 'Production', secret: 'billing-secret', version: '2.0.0', color: 'blue' },
];

async function assertServes(h: Harness, e: Expected, label: string): Promise<void> {
  const base = h.base(e.service, e.environment);
  // After the restart the restored replica may still be starting: the first answer may wait for a cold start.
  const res = await callFunction(base, 'env', {}, { secret: e.secret, timeoutMs: COLD_START_MS });
  assert.equal(res.status, 200, `${label} ${e.service}/${e.environment}: ${res.text}`);
  assert.equal(res.version, e.version, `${label} ${e.service}/${e.environment}: version`);
  assert.deepEqual({ version: res.answer.version, COLOR: res.answer.COLOR, NODE_ENV: res.answer.NODE_ENV },
    { version: e.version, COLOR: e.color, NODE_ENV: e.environment }, `${label} ${e.service}/${e.environment}: what the replica sees`);
  const wrong = await callFunction(base, 'env', {}, { secret: 'not-the-secret', timeoutMs: PROMPT_MS });
  assert.equal(wrong.status, 401, `${label} ${e.service}/${e.environment}: the secret is still checked`);
}

test('F14: after a restart on the same data dir, each environment serves its last active version with its env vars and its secret', async (t) => {
  const cleanup = cleanupStack(t);
  const dataDir = await tempDir(cleanup, 'flexd-restart-');

  const first = await startRuntime(cleanup, {}, dataDir);
  // What comes back is the last *active* version, with the variables it was deployed with: not an
  // older one (orders/Production served 2.0.0 before 3.0.0), and not a later one that failed to start
  // with other variables.
  const prod = { service: 'orders', environment: 'Production', secret: 'orders-prod-secret' };
  await deployFixture(first, cleanup, 'versioned', '2.0.0', { ...prod, env: { COLOR: 'stale' } });
  for (const e of ENVIRONMENTS) {
    await deployFixture(first, cleanup, 'versioned', e.version, { service: e.service, environment: e.environment, secret: e.secret, env: { COLOR: e.color } });
  }
  await failedDeploy(first, cleanup, 'throws-at-start', '9.0.0', { ...prod, env: { COLOR: 'never-seen' } });
  for (const e of ENVIRONMENTS) await assertServes(first, e, 'before the restart:');
  await first.close();

  const second = await startRuntime(cleanup, {}, dataDir);
  for (const e of ENVIRONMENTS) await assertServes(second, e, 'after the restart:');
});
