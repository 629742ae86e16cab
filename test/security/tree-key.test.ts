/**
 * Issue 15: a stored dependency tree's key holds the SDK substitution flexd makes (a vanished
 * kinvey-flex-sdk pin installed as the newest release of its major), so two builds that differ
 * only there never share a tree. The registry publishes a new SDK release between two runs of
 * `flexd serve` on one data dir; a service with the same package.json as one built before must
 * get the new substitution, not the stored tree of the old one — and a third build with the same
 * substitution still reuses a tree (the key is not merely new every time).
 */
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import * as tar from 'tar';
import { cleanupStack } from '../helpers/cleanup.ts';
import { filteringRegistry } from '../helpers/filtering-registry.ts';
import { SERVE_START_TIMEOUT_MS, serveEnv, spawnServe } from '../helpers/serve.ts';
import { installedFlexdBin } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';
import { waitFor, withDeadline } from '../helpers/wait.ts';

const ADMIN = { email: 'admin@example.com', password: 'tree-key-password' };
const SECRET = 'tree-key-secret';
/** Two npm installs from a cold cache, on a loaded box. */
const BUILD_MS = 5 * 60_000;

const SERVICE = `'use strict';
require('kinvey-flex-sdk').service({ sharedSecret: process.env.FLEX_SHARED_SECRET }, (err, flex) => {
  if (err) throw err;
  flex.functions.register('sdk', (context, complete) => complete().setBody({ sdk: require('kinvey-flex-sdk/package.json').version }).ok().next());
});
`;

async function managementClient(url: string) {
  const call = async (method: string, path: string, o: { json?: unknown; body?: FormData; token?: string } = {}) => {
    const headers: Record<string, string> = o.token ? { Authorization: `Kinvey ${o.token}` } : {};
    if (o.json !== undefined) headers['Content-Type'] = 'application/json';
    const res = await withDeadline(`${method} ${path}`, fetch(`${url}${path}`, { method, headers, body: o.json !== undefined ? JSON.stringify(o.json) : o.body }), 30_000);
    return { status: res.status, body: await res.json() as any };
  };
  const login = await call('POST', '/session', { json: ADMIN });
  assert.equal(login.status, 200, JSON.stringify(login.body));
  const token = login.body.token as string;
  return async (name: string, projectDir: string) => {
    const svc = await call('POST', '/v4/services', { json: { name, type: 'internal' }, token });
    assert.equal(svc.status, 201, JSON.stringify(svc.body));
    const env = await call('POST', `/v4/services/${svc.body.id}/environments`, { json: { name: 'Development', secret: SECRET }, token });
    assert.equal(env.status, 201, JSON.stringify(env.body));
    const chunks: Buffer[] = [];
    for await (const chunk of tar.create({ cwd: projectDir, portable: true }, readdirSync(projectDir))) chunks.push(chunk as Buffer);
    const form = new FormData();
    form.append('type', 'deployService');
    form.append('params', JSON.stringify({ serviceId: svc.body.id, serviceEnvironmentId: env.body.id, version: '1.0.0' }));
    form.append('file', new Blob([new Uint8Array(Buffer.concat(chunks))], { type: 'application/tar' }), 'archive.tar');
    const accepted = await call('POST', '/v4/jobs', { body: form, token });
    assert.equal(accepted.status, 201, JSON.stringify(accepted.body));
    const job = await waitFor(`the build of ${name}`, async () => {
      const { body } = await call('GET', `/v4/jobs/${accepted.body.job}`, { token });
      return body.status === 'COMPLETED' || body.status === 'ERROR' ? body as { status: string; progress: string } : undefined;
    }, { timeoutMs: BUILD_MS, intervalMs: 250 });
    assert.equal(job.status, 'COMPLETED', job.progress);
    const res = await withDeadline('POST sdk', fetch(`${url}/flex/${svc.body.id}/${env.body.id}/_flexFunctions/sdk`, {
      method: 'POST', headers: { 'content-type': 'application/json', 'x-auth-key': SECRET }, body: '{}',
    }), 30_000);
    const answer = await res.json() as any;
    assert.equal(res.status, 200, JSON.stringify(answer));
    return { progress: job.progress, sdk: answer.response.body.sdk as string };
  };
}

test('tree key: a build whose SDK substitution differs never gets the tree of an earlier one with the same package.json', { timeout: 3 * BUILD_MS }, async (t) => {
  const cleanup = cleanupStack(t);
  // Before: the registry's newest 3.x is 3.2.0, so the vanished pin 3.2.9 is installed as 3.2.0.
  const registry = await filteringRegistry(cleanup, 'kinvey-flex-sdk', ['3.3.0']);
  const dataDir = await tempDir(cleanup, 'flexd-tree-key-');
  const project = join(await tempDir(cleanup, 'flexd-tree-key-project-'), 'svc');
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'svc', version: '1.0.0', main: 'index.js', dependencies: { 'kinvey-flex-sdk': '3.2.9' } }));
  writeFileSync(join(project, 'index.js'), SERVICE);
  const env = serveEnv({ npm_config_registry: registry.url, FLEXD_ADMIN_EMAIL: ADMIN.email, FLEXD_ADMIN_PASSWORD: ADMIN.password });

  // Each run on another uid range (as when the default one moves): the npm cache the first run's
  // fetch account wrote is handed to the second's.
  const range = 320_000 + Math.floor(Math.random() * 40) * 2_000;
  const first = spawnServe(cleanup, ['--data-dir', dataDir, '--uid-range-start', String(range), '--uid-range-size', '1000'], { bin: await installedFlexdBin(), env });
  const before = await (await managementClient(await withDeadline('flexd to listen', first.url, SERVE_START_TIMEOUT_MS)))('before', project);
  assert.match(before.progress, /kinvey-flex-sdk 3\.2\.9 is not available; using 3\.2\.0/);
  assert.equal(before.sdk, '3.2.0');
  first.child.kill('SIGTERM');
  await withDeadline('the first flexd to stop', first.exited, 60_000);

  // The registry publishes 3.3.0; the same package.json is deployed by another service.
  registry.hide([]);
  const second = spawnServe(cleanup, ['--data-dir', dataDir, '--uid-range-start', String(range + 1_000), '--uid-range-size', '1000'], { bin: await installedFlexdBin(), env });
  const deploy = await managementClient(await withDeadline('flexd to listen again', second.url, SERVE_START_TIMEOUT_MS));
  const after = await deploy('after', project);
  assert.match(after.progress, /kinvey-flex-sdk 3\.2\.9 is not available; using 3\.3\.0/);
  assert.doesNotMatch(after.progress, /reusing its installed tree/, 'another substitution, another tree');
  assert.equal(after.sdk, '3.3.0', 'the service runs the SDK its own substitution chose');

  // The same substitution again: the tree is shared, as before.
  const again = await deploy('again', project);
  assert.match(again.progress, /reusing its installed tree/);
  assert.match(again.progress, /using 3\.3\.0/, 'the reuse repeats the substitution it was built with');
  assert.equal(again.sdk, '3.3.0');
});
