/**
 * Issue 15, another local account against `flexd backup` (src/store/backup.ts): the copy holds
 * every password hash and secret, and is written into a folder others may write (a shared
 * backups folder, /tmp). Whatever that account plants where the backup goes — a file at the old
 * partial's name, a file or a link at the output's name — it never gets to own, read or receive
 * the copy.
 */
import assert from 'node:assert/strict';
import { chmodSync, chownSync, lstatSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { backupDatabase } from '../../src/store/backup.ts';
import { CleanupStack } from '../helpers/cleanup.ts';
import { tempDir } from '../helpers/tmp.ts';
import { startApi } from '../api/helpers.ts';

const NOBODY = 65534;
const asRoot = process.getuid?.() === 0;
const SECRET = 'backup-leak-secret-0123456789';

describe('backup: written safely into a folder another account can write', () => {
  const cleanup = new CleanupStack();
  let dataDir: string;
  /** A shared folder, as /tmp: anyone writes, sticky. */
  let shared: string;

  before(async () => {
    dataDir = await tempDir(cleanup, 'flexd-backup-attack-');
    // An environment with a secret, made as an operator makes one (the management API), in a data
    // dir that outlives the runtime: a backup is taken of a stopped flexd's database here.
    const setup = new CleanupStack();
    const api = await startApi(setup, { dataDir });
    await api.createEnvironment('svc', 'Development', { secret: SECRET });
    await setup.run();
    shared = await tempDir(cleanup, 'flexd-backup-shared-');
    chmodSync(shared, 0o1777);
  });
  after(() => cleanup.run());

  /** As the other account: a file only it owns, world-writable (so a write through it would land). */
  const plant = (path: string) => {
    writeFileSync(path, '');
    chmodSync(path, 0o666);
    if (asRoot) chownSync(path, NOBODY, NOBODY);
  };

  it('a file pre-created at the old partial name is not written through, and the backup is flexd\'s own, 0600', async () => {
    const out = join(shared, 'one.db');
    const planted = `${out}.partial-${process.pid}`;
    plant(planted);
    await backupDatabase(dataDir, out);
    assert.equal(statSync(planted).size, 0, 'nothing was written into the planted file');
    const st = statSync(out);
    assert.equal(st.mode & 0o777, 0o600);
    assert.equal(st.uid, process.getuid!());
    assert.ok(readFileSync(out).includes(SECRET), 'the backup holds the data (the test is not vacuous)');
    assert.deepEqual(readdirSync(shared).filter((n) => n.startsWith('.flexd-backup-')), [], 'no private folder is left behind');
  });

  it('a file or a link at the output name is refused, never replaced or written through', async () => {
    const file = join(shared, 'two.db');
    plant(file);
    await assert.rejects(backupDatabase(dataDir, file), /exists/);
    assert.equal(statSync(file).size, 0);

    const target = join(shared, 'target-of-link');
    plant(target);
    const link = join(shared, 'three.db');
    symlinkSync(target, link);
    await assert.rejects(backupDatabase(dataDir, link));
    assert.equal(statSync(target).size, 0, 'nothing was written through the link');
    assert.ok(lstatSync(link).isSymbolicLink(), 'the link is left as it was');

    const dangling = join(shared, 'four.db');
    symlinkSync(join(shared, 'does-not-exist-yet'), dangling);
    await assert.rejects(backupDatabase(dataDir, dangling));
    assert.deepEqual(readdirSync(shared).filter((n) => n === 'does-not-exist-yet'), [], 'a dangling link is not followed to create its target');
  });
});
