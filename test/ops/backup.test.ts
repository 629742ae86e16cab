/**
 * `flexd backup` (src/store/backup.ts): a copy made by the command line while the runtime keeps
 * writing (log lines, new services) is consistent, and a runtime started on a new data dir
 * holding it serves the same environments at the same versions.
 */
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { createRuntime } from '../../src/runtime.ts';
import { echoProjectAt, TEST_PASSWORD_HASH_COST } from '../api/helpers.ts';
import { cleanupStack } from '../helpers/cleanup.ts';
import { flexdCli } from '../helpers/cli.ts';
import { fetchWithin } from '../helpers/fetch-within.ts';
import { tempDir } from '../helpers/tmp.ts';
import { withDeadline } from '../helpers/wait.ts';

/** A deploy of a fixture whose SDK resolves from the repo (no npm install), or a swap, on a loaded machine: catches a hang. */
const DEPLOY_DEADLINE_MS = 120_000;

const ADMIN = { email: 'ops@example.com', password: 'backup-test-password' };
/** The backup command: node's start plus a copy of a few MB, on a loaded box. */
const BACKUP_TIMEOUT_MS = 60_000;

test('backup: a copy taken while flexd writes is consistent, and a new data dir holding it serves the same environments at the same versions', async (t) => {
  const cleanup = cleanupStack(t);
  const dataDir = await tempDir(cleanup, 'flexd-backup-src-');
  const rt = await createRuntime({ dataDir, port: 0, adminEmail: ADMIN.email, adminPassword: ADMIN.password, logFlushIntervalMs: 5, passwordHashCost: TEST_PASSWORD_HASH_COST });
  cleanup.after(() => rt.close());
  await withDeadline('the deploy', rt.deployDirectory(await echoProjectAt(cleanup, '2.3.0'), { service: 'orders', environment: 'Production', secret: 'prod-secret', env: { KEY: 'prod' } }), DEPLOY_DEADLINE_MS);
  await withDeadline('the deploy', rt.deployDirectory(await echoProjectAt(cleanup, '1.0.0'), { service: 'orders', environment: 'Staging', secret: 'staging-secret', env: { KEY: 'staging' } }), DEPLOY_DEADLINE_MS);
  await withDeadline('the deploy', rt.deployDirectory(await echoProjectAt(cleanup, '0.1.0'), { service: 'billing', environment: 'Development', secret: 'dev-secret' }), DEPLOY_DEADLINE_MS);

  // Write load for as long as the backup runs: a log line per call (stored by the log thread)
  // and new services one after another through the management API (the main connection).
  let writing = true;
  let calls = 0;
  let created = 0;
  const load = (async () => {
    while (writing) {
      await fetchWithin(`${rt.url}/flex/orders/Production/_flexFunctions/echo`, { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Auth-Key': 'prod-secret' }, body: '{}' });
      calls++;
    }
  })();
  const session = await (await fetchWithin(`${rt.url}/session`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(ADMIN) })).json() as { token: string };
  const creating = (async () => {
    while (writing) {
      const res = await fetchWithin(`${rt.url}/v4/services`, {
        method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: `Kinvey ${session.token}` },
        body: JSON.stringify({ name: `load-${created}`, type: 'internal' }),
      });
      assert.equal(res.status, 201, await res.text());
      created++;
    }
  })();

  const cli = await flexdCli(await tempDir(cleanup, 'flexd-backup-home-'));
  const flexd = (args: string[]) => cli.run(args, { timeoutMs: BACKUP_TIMEOUT_MS });
  const backupDir = await tempDir(cleanup, 'flexd-backup-out-');
  const file = join(backupDir, 'flexd-backup.db');
  const result = await flexd(['backup', '--data-dir', dataDir, '--out', file]);
  const during = { calls, created };
  writing = false;
  await Promise.all([load, creating]);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /Backed up .* to .*flexd-backup\.db/);
  assert.ok(during.calls > 0 && during.created > 0, `writes went on during the backup (${JSON.stringify(during)})`);
  assert.equal(statSync(file).mode & 0o777, 0o600, 'the copy holds secrets: private');
  assert.ok(!existsSync(`${file}-wal`), 'one self-contained file');

  // A second backup to the same file is refused, not an overwrite.
  const again = await flexd(['backup', '--data-dir', dataDir, '--out', file]);
  assert.equal(again.code, 1, again.stderr);
  assert.match(again.stderr, /exists/);

  // Restore: a new data dir with the file as flexd.db.
  const restoredDir = await tempDir(cleanup, 'flexd-backup-restored-');
  mkdirSync(restoredDir, { recursive: true });
  copyFileSync(file, join(restoredDir, 'flexd.db'));
  await rt.close();
  const restored = await createRuntime({ dataDir: restoredDir, port: 0 });
  cleanup.after(() => restored.close());

  const names = (await restored.context.store.services.listServices()).map((s) => s.name).filter((n) => !n.startsWith('load-'));
  assert.deepEqual(names.sort(), ['billing', 'orders']);
  const loadServices = (await restored.context.store.services.listServices()).length - 2;
  assert.ok(loadServices > 0 && loadServices <= created, `the services created before the copy (${loadServices} of ${created})`);
  for (const [service, environment, secret, version, KEY] of [
    ['orders', 'Production', 'prod-secret', '2.3.0', 'prod'], ['orders', 'Staging', 'staging-secret', '1.0.0', 'staging'], ['billing', 'Development', 'dev-secret', '0.1.0', null],
  ] as const) {
    const res = await withDeadline(`${service}/${environment} on the restored data dir`, fetchWithin(`${restored.url}/flex/${service}/${environment}/_flexFunctions/echo`, {
      method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Auth-Key': secret }, body: '{}',
    }), 30_000);
    assert.equal(res.status, 200, `${service}/${environment}`);
    assert.deepEqual((await res.json() as { response: { body: unknown } }).response.body, { KEY, version });
    assert.equal(res.headers.get('x-flexd-version'), version);
  }
  const prodId = (await restored.context.store.services.findEnvironment((await restored.context.store.services.findService('orders'))!.id, 'Production'))!.id;
  assert.ok((await restored.context.store.logs.tail(prodId, 10)).length > 0, 'the log ring came along');
  assert.ok((await restored.context.store.accounts.findUserByEmail(ADMIN.email)), 'the accounts came along');
});
