/**
 * SPEC §5, restricted replicas: when flexd runs as root, a replica runs as an unprivileged
 * account, writes only in its own working directory and cannot read flexd's data dir.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { createRuntime } from '../src/runtime.ts';
import { cleanupStack } from './helpers/cleanup.ts';
import { tempDir } from './helpers/tmp.ts';
import { withDeadline } from './helpers/wait.ts';

const SNOOP = fileURLToPath(new URL('./fixtures/snoop/', import.meta.url));
/** Its SDK resolves from the repo: no npm install, a start. */
const LOCAL_DEPLOY_TIMEOUT_MS = 60_000;
const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;

it('a replica of a root-run flexd cannot read the database, list or write the data dir, but can write its own folder — by its account alone, without the permission model', { skip: !asRoot && 'flexd is not running as root here' }, async (t) => {
  const cleanup = cleanupStack(t);
  const dataDir = await tempDir(cleanup);
  // The account wall alone: with the permission model the answers would be ERR_ACCESS_DENIED (test/isolation/accounts.test.ts).
  const rt = await createRuntime({ dataDir, port: 0, permissionModel: false });
  cleanup.after(() => rt.close());
  await withDeadline('deploy of snoop', rt.deployDirectory(SNOOP, { service: 'snoop', environment: 'Development', env: { SNOOP_DATA_DIR: dataDir } }), LOCAL_DEPLOY_TIMEOUT_MS);
  const res = await withDeadline('POST snoop', fetch(`${rt.url}/flex/snoop/Development/_flexFunctions/snoop`, { method: 'POST' }));
  assert.equal(res.status, 200);
  const seen = (await res.json()).response.body;
  assert.ok(typeof seen.uid === 'number' && seen.uid !== 0, `the replica runs as uid ${seen.uid}, not root`);
  assert.equal(seen.readDatabase, 'EACCES');
  assert.equal(seen.listDataDir, 'EACCES');
  assert.equal(seen.writeDataDir, 'EACCES');
  assert.equal(seen.writeOwnDir, 'allowed');
});
