/** Issue 8 item 7: /healthcheck answers like every other route where no version serves. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startApi } from '../api/helpers.ts';

test('healthcheck: an environment with nothing deployed answers 404 NotDeployed, as its other routes do', async (t) => {
  const api = await startApi(t);
  await api.createEnvironment('empty');
  const base = `${api.rt.url}/flex/empty/Development`;
  const health = await fetch(`${base}/healthcheck`);
  assert.equal(health.status, 404);
  assert.equal((await health.json() as { error: string }).error, 'NotDeployed');
  const other = await fetch(`${base}/_flexFunctions/anything`, { method: 'POST', headers: { 'x-auth-key': 'env-secret' } });
  assert.equal(other.status, 404, 'another route answers the same');
  assert.equal((await other.json() as { error: string }).error, 'NotDeployed');
});
