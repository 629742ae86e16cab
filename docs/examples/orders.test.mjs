// A Flex service's own tests with flexd embedded: `node --test` in the service's folder.
// (flexd's CI runs this very file: test/docs-examples.test.ts.)
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createRuntime } from 'flexd';

const SERVICE_DIR = process.env.SERVICE_DIR ?? '.'; // the Flex project under test
const target = { service: 'orders', environment: 'Development', secret: 'test-secret' };
let rt;
let dataDir;

before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'flexd-'));
  rt = await createRuntime({ dataDir, port: 0 }); // quiet; add log: 'stderr' to see flexd's events
  await rt.deployDirectory(SERVICE_DIR, target);
});

after(async () => {
  await rt.close();
  await rm(dataDir, { recursive: true, force: true });
});

async function echo() {
  const res = await fetch(`${rt.url}/flex/orders/Development/_flexFunctions/echo`, {
    method: 'POST', headers: { 'X-Auth-Key': target.secret, 'Content-Type': 'application/json' }, body: '{}',
  });
  return { status: res.status, version: res.headers.get('x-flexd-version'), body: await res.json() };
}

test('the echo function answers', async () => {
  const { status, body } = await echo();
  assert.equal(status, 200);
  assert.equal(body.response.body.KEY, null);
});

test('the same folder deploys again as a new version, with a variable', async () => {
  await rt.deployDirectory(SERVICE_DIR, { ...target, version: '99.0.0', env: { KEY: 'from-the-test' } });
  const { version, body } = await echo();
  assert.equal(version, '99.0.0');
  assert.equal(body.response.body.KEY, 'from-the-test');
});

test('the service logged each call', async () => {
  const lines = await rt.logs({ ...target, limit: 10 });
  assert.ok(lines.some((l) => l.message.includes('echo called')));
});
