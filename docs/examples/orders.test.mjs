// A Flex service's own tests with flexd embedded: `node --test` in the service's folder.
// (flexd's CI runs this very file against test/fixtures/embed-counter: test/embedding/consumer.test.ts.)
import assert from 'node:assert/strict';
import { appendFile, cp, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, resolve, sep } from 'node:path';
import { after, before, test } from 'node:test';
import { createRuntime, FlexdError } from 'flexd';

const SERVICE_DIR = process.env.SERVICE_DIR ?? '.'; // the Flex project under test
const target = { service: 'orders', environment: 'Development' };
const secret = 'test-secret';
let rt;

before(async () => {
  // A data dir of its own in the temp dir, removed by close() (or by the next run, if this process is killed).
  rt = await createRuntime({ temporary: true, port: 0 }); // quiet; add log: 'stderr' to see flexd's events
  await rt.deployDirectory(SERVICE_DIR, { ...target, secret, version: 'auto' });
});

after(() => rt.close());

async function count() {
  const res = await fetch(`${rt.url}/flex/orders/Development/_flexFunctions/count`, {
    method: 'POST', headers: { 'X-Auth-Key': secret, 'Content-Type': 'application/json' }, body: '{}',
  });
  return { status: res.status, version: res.headers.get('x-flexd-version'), ...(await res.json()).response.body };
}

test('deployDirectory: version "auto" deploys the same folder again, no counter needed', async () => {
  const first = await count();
  const job = await rt.deployDirectory(SERVICE_DIR, { ...target, version: 'auto' });
  assert.notEqual(job.version, first.version);
  assert.equal((await count()).version, job.version);
});

test('recycle: fresh replicas, in-memory state reset', async () => {
  await count();
  await rt.recycle(target);
  assert.equal((await count()).calls, 1);
});

test('setVariables: the replicas serve with them once it resolves', async () => {
  await rt.setVariables(target, { KEY: 'from-the-test' });
  assert.equal((await count()).KEY, 'from-the-test');
  await rt.setVariables(target, {}, { replace: true }); // back to none
  assert.equal((await count()).KEY, null);
});

test('versions and rollback: serve an earlier version again', async () => {
  const [oldest, ...rest] = await rt.versions(target);
  assert.ok(rest.at(-1).active);
  await rt.rollback(target, oldest.version);
  assert.equal((await count()).version, oldest.version);
});

test('status: online, which version, which replicas', async () => {
  const status = await rt.status(target);
  assert.equal(status.status, 'ONLINE');
  assert.equal(status.replicas.length, 1);
});

test('logs: what the service wrote', async () => {
  await count();
  const lines = await rt.logs({ ...target, limit: 20 });
  assert.ok(lines.some((l) => l.message.includes('count called')));
});

test('errors: a FlexdError with a code to branch on', async () => {
  await assert.rejects(rt.deployDirectory(SERVICE_DIR, { ...target, version: '0.0.1' }),
    (err) => err instanceof FlexdError && err.code === 'DeploymentVersionTooLow');
  await assert.rejects(rt.rollback(target, '99.0.0'), { code: 'VersionNotFound' });
});

test('watch: the folder in place, redeployed on every save', async () => {
  // A scratch copy to edit; its node_modules is the service's (a link, not a copy).
  const copy = await mkdtemp(join(tmpdir(), 'flexd-watched-'));
  await cp(SERVICE_DIR, copy, { recursive: true, filter: (src) => relative(SERVICE_DIR, src).split(sep)[0] !== 'node_modules' });
  await symlink(resolve(SERVICE_DIR, 'node_modules'), join(copy, 'node_modules'));
  const watcher = await rt.watch(copy, { service: 'watched', environment: 'Development' });
  const redeployed = watcher.nextDeploy();
  await appendFile(join(copy, 'index.js'), '\n// saved\n');
  assert.equal((await redeployed).ok, true);
  await watcher.close();
  await rm(copy, { recursive: true, force: true });
});
