/**
 * Issue 18: kinvey-cli's `--runtime` (node6…node12, all it can send) passes through the API, and
 * Kinvey's old names run on the major the operator's legacy table maps them to; the deploy's
 * progress says which Node actually runs.
 */
import assert from 'node:assert/strict';
import { cp } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { createRuntime, type Runtime } from '../../src/runtime.ts';
import { cleanupStack } from '../helpers/cleanup.ts';
import { warmNpmCache } from '../helpers/npm-cache.ts';
import { untilStatus } from '../helpers/api-status.ts';
import { runKinvey } from '../helpers/kinvey.ts';
import { callFunction } from '../lifecycle/helpers.ts';
import { RUNTIME_INSTALL_TIMEOUT_MS, RUNTIMES_CACHE_DIR } from '../helpers/runtimes.ts';
import { tempDir } from '../helpers/tmp.ts';
import { waitFor } from '../helpers/wait.ts';
import { TEST_PASSWORD_HASH_COST } from '../helpers/password-cost.ts';

const FIXTURE = fileURLToPath(new URL('../fixtures/runtimes/version/', import.meta.url));
const ADMIN = { email: 'ops@example.com', password: 'runtimes cli password' };
const SECRET = 'cli-runtime-secret';

describe('kinvey-cli --runtime against flexd with a legacy table', () => {
  const cleanup = cleanupStack({ after });
  let rt: Runtime;
  let home: string;
  let projectDir: string;
  let serviceId: string;

  function kinvey(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return runKinvey({ home, cwd: projectDir }, args);
  }
  const kinveyJson = async (...args: string[]) => {
    const r = await kinvey(...args, '--output', 'json');
    assert.equal(r.code, 0, `kinvey ${args.join(' ')}:\n${r.stderr}\n${r.stdout}`);
    return JSON.parse(r.stdout).result;
  };

  before(async () => {
    home = await tempDir(cleanup, 'flexd-rt-cli-home-');
    projectDir = join(await tempDir(cleanup, 'flexd-rt-cli-project-'), 'project');
    await cp(FIXTURE, projectDir, { recursive: true });
    const dataDir = await tempDir(cleanup, 'flexd-rt-cli-data-');
    // The deploy runs npm install under Node 22 for real (kinvey-cli uploads no node_modules): on a
    // warm cache (helpers/npm-cache.ts), as a flexd that has built before.
    rt = await createRuntime({
      dataDir, port: 0, adminEmail: ADMIN.email, adminPassword: ADMIN.password, passwordHashCost: TEST_PASSWORD_HASH_COST,
      runtimesDir: RUNTIMES_CACHE_DIR, legacyRuntimes: 'node12=22', npmCacheDir: await warmNpmCache(cleanup),
    });
    cleanup.after(() => rt.close());
    const r = await kinvey('profile', 'create', 'dev', '--instance-id', rt.url, '--email', ADMIN.email, '--password', ADMIN.password);
    assert.equal(r.code, 0, r.stderr);
  });

  test('flex create --runtime node10 stores Kinvey\'s name; flex deploy --runtime node12 runs on Node 22 as the table says', async () => {
    const [org] = await kinveyJson('org', 'list');
    const created = await kinveyJson('flex', 'create', 'cli-runtime', '--org', org.id, '--secret', SECRET, '--runtime', 'node10');
    serviceId = created.id;
    const [env] = (await rt.context.store.services.listEnvironments(serviceId));
    assert.equal(env!.runtime, 'flex-runtime-node10');

    const deploy = await kinvey('flex', 'deploy', '--service', serviceId, '--runtime', 'node12');
    assert.equal(deploy.code, 0, deploy.stderr);
    // Over HTTP while it builds on Node 22 (a CLI call per poll costs more than the rest of the file), then through the CLI.
    const ended = (s: { status: string }) => s.status === 'ONLINE' || s.status === 'ERROR';
    await untilStatus({ url: rt.url, ...ADMIN }, serviceId, env!.id, ended, RUNTIME_INSTALL_TIMEOUT_MS);
    const status = await waitFor('ONLINE after the deploy', async () => {
      const s = await kinveyJson('flex', 'status', '--service', serviceId);
      return ended(s) ? s : undefined;
    }, { timeoutMs: RUNTIME_INSTALL_TIMEOUT_MS, intervalMs: 1_000 });
    const job = (await rt.context.store.jobs.latest(env!.id, 'deployService'))!;
    assert.equal(status.status, 'ONLINE', job.progress);
    assert.equal(status.runtime, 'flex-runtime-node12', 'kinvey-cli reads back the name it sent');
    assert.match(job.progress, /Runtime flex-runtime-node12 \(Kinvey's Node 12, mapped to Node 22\) runs on Node 22\.\d+\.\d+/);

    const res = await callFunction(`${rt.url}/flex/${serviceId}/Development`, 'node', {}, { secret: SECRET });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.answer.major, 22);
  });
});
