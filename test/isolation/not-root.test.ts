/**
 * Issue 9, finding 2, and issue 15, finding 3, without root: flexd run as an ordinary account
 * (here `nobody`, started by this root test) has no account to give each environment. Node's
 * permission model and the link-free artifact are then the walls: a service hunting a
 * neighbour's variable and secret in /proc and the data dir finds nothing, and a service
 * walking out of its project by every spelling reads nothing. One `flexd serve` as nobody for
 * both (the walk as root: test/security/replica-walk.test.ts).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chownSync, lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CleanupStack } from '../helpers/cleanup.ts';
import { SERVE_START_TIMEOUT_MS, spawnServe } from '../helpers/serve.ts';
import { installedFlexdBin } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';
import { withDeadline } from '../helpers/wait.ts';
import { callFunction, DEPLOY_TIMEOUT_MS, startRuntime, whoami } from '../lifecycle/helpers.ts';
import { assertWalledIn, outsideSecret, walkerWithLinks } from '../security/walker.ts';
import { deployIsolationFixture } from './helpers.ts';

const NOBODY = 65534;
const asRoot = process.getuid?.() === 0;
/** A replica's first answer under a `flexd serve` restoring three environments on a loaded machine. */
const ANSWER_MS = 30_000;

function chownTree(path: string, uid: number): void {
  chownSync(path, uid, uid);
  if (lstatSync(path).isDirectory()) for (const name of readdirSync(path)) chownTree(join(path, name), uid);
}

describe('not root: flexd serve as nobody', { skip: !asRoot && 'needs root to start flexd as another account' }, () => {
  const suite = new CleanupStack();
  after(() => suite.run());
  let dataDir: string;
  let url: string;
  let outside: string;
  const marker = `marker-${randomBytes(12).toString('hex')}`;
  const secret = `secret-${randomBytes(12).toString('hex')}`;

  before(async () => {
    dataDir = await tempDir(suite, 'flexd-nonroot-');
    outside = await outsideSecret(suite);
    const walker = await walkerWithLinks(suite);
    {
      // Deployed by a runtime as root, then served by flexd as nobody from the same data dir.
      const setup = new CleanupStack();
      const h = await startRuntime(setup, {}, dataDir);
      await deployIsolationFixture(h, 'neighbour', { service: 'victim', environment: 'Production', secret, env: { VICTIM_MARKER: marker } });
      await deployIsolationFixture(h, 'neighbour', { service: 'attacker', environment: 'Production', env: { SNOOP_DATA_DIR: dataDir } });
      await withDeadline('deploy of the walker', h.rt.deployDirectory(walker, { service: 'walker', environment: 'Production' }), DEPLOY_TIMEOUT_MS);
      await setup.run();
    }
    chownTree(dataDir, NOBODY);
    // SIGTERM at cleanup: flexd stops its replicas (which write in the data dir) before the folder is removed.
    const served = spawnServe(suite, ['--data-dir', dataDir], {
      bin: await installedFlexdBin(), uid: NOBODY, gid: NOBODY, stopGently: { graceMs: 30_000 }, env: { PATH: process.env.PATH, HOME: dataDir, FLEXD_ADMIN_PASSWORD: 'not-root-password' },
    });
    url = await withDeadline('flexd serve as nobody to listen', served.url, SERVE_START_TIMEOUT_MS);
  });

  const base = (service: string) => `${url}/flex/${service}/Production`;

  test('not root: replicas run as flexd\'s own account under the permission model, and a neighbour\'s hunt through /proc and the data dir finds nothing', async () => {
    const before = await whoami(base('victim'), 'the victim', { secret, timeoutMs: ANSWER_MS });
    const res = await callFunction(base('attacker'), 'attack', { body: { marker, secret } }, { timeoutMs: ANSWER_MS });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.answer.uid, NOBODY, 'replicas run as flexd\'s own account');
    assert.deepEqual(res.answer.found, []);
    assert.equal(res.answer.seen.procList, 'ERR_ACCESS_DENIED');
    assert.equal(res.answer.seen.database, 'ERR_ACCESS_DENIED');
    assert.equal(res.answer.seen.flexdEnviron, 'ERR_ACCESS_DENIED');
    assert.equal(res.answer.seen.dataDir, 'ERR_ACCESS_DENIED');
    assert.equal((await whoami(base('victim'), 'the victim after', { secret, timeoutMs: ANSWER_MS })).pid, before.pid);
  });

  test('not root: the permission model and the link-free artifact are the walls: the database and an outside file stay unread by any spelling', async () => {
    const targets = [outside, join(dataDir, 'flexd.db')];
    const res = await callFunction(base('walker'), 'walk', { body: { targets } }, { timeoutMs: ANSWER_MS });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.answer.uid, NOBODY, 'the replica runs as flexd\'s own account: only flexd\'s walls stand');
    assertWalledIn(res.answer, targets);
  });
});
