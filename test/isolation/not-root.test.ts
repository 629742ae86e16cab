/**
 * Issue 9, finding 2, without root: flexd run as an ordinary account (here `nobody`, started by
 * this root test) has no account to give each environment. Node's permission model is then the
 * wall: a service hunting a neighbour's variable and secret in /proc and the data dir finds nothing.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chownSync, lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { cleanupStack, CleanupStack } from '../helpers/cleanup.ts';
import { SERVE_START_TIMEOUT_MS, spawnServe } from '../helpers/serve.ts';
import { installedFlexdBin } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';
import { withDeadline } from '../helpers/wait.ts';
import { callFunction, startRuntime, whoami } from '../lifecycle/helpers.ts';
import { deployIsolationFixture } from './helpers.ts';

const NOBODY = 65534;
const asRoot = process.getuid?.() === 0;

function chownTree(path: string, uid: number): void {
  chownSync(path, uid, uid);
  if (lstatSync(path).isDirectory()) for (const name of readdirSync(path)) chownTree(join(path, name), uid);
}

test('not root: replicas run as flexd\'s own account under the permission model, and a neighbour\'s hunt through /proc and the data dir finds nothing', { skip: !asRoot && 'needs root to start flexd as another account' }, async (t) => {
  const cleanup = cleanupStack(t);
  const dataDir = await tempDir(cleanup, 'flexd-nonroot-');
  const marker = `marker-${randomBytes(12).toString('hex')}`;
  const secret = `secret-${randomBytes(12).toString('hex')}`;
  const victim = { service: 'victim', environment: 'Production', secret, env: { VICTIM_MARKER: marker } };
  const attacker = { service: 'attacker', environment: 'Production', env: { SNOOP_DATA_DIR: dataDir } };
  {
    const setup = new CleanupStack();
    const h = await startRuntime(setup, {}, dataDir);
    await deployIsolationFixture(h, 'neighbour', victim);
    await deployIsolationFixture(h, 'neighbour', attacker);
    await setup.run();
  }
  chownTree(dataDir, NOBODY);

  // SIGTERM at cleanup: flexd stops its replicas (which write in the data dir) before the folder is removed.
  const served = spawnServe(cleanup, ['--data-dir', dataDir], {
    bin: await installedFlexdBin(), uid: NOBODY, gid: NOBODY, stopGently: { graceMs: 30_000 }, env: { PATH: process.env.PATH, HOME: dataDir, FLEXD_ADMIN_PASSWORD: 'not-root-password' },
  });
  const url = await withDeadline('flexd serve as nobody to listen', served.url, SERVE_START_TIMEOUT_MS);

  const base = (s: string) => `${url}/flex/${s}/Production`;
  const before = await whoami(base('victim'), 'the victim', { secret, timeoutMs: 15_000 });
  const res = await callFunction(base('attacker'), 'attack', { body: { marker, secret } }, { timeoutMs: 15_000 });
  assert.equal(res.status, 200, res.text);
  assert.equal(res.answer.uid, NOBODY, 'replicas run as flexd\'s own account');
  assert.deepEqual(res.answer.found, []);
  assert.equal(res.answer.seen.procList, 'ERR_ACCESS_DENIED');
  assert.equal(res.answer.seen.database, 'ERR_ACCESS_DENIED');
  assert.equal(res.answer.seen.flexdEnviron, 'ERR_ACCESS_DENIED');
  assert.equal((await whoami(base('victim'), 'the victim after', { secret })).pid, before.pid);
});
