/**
 * docs/embedding.md shows docs/examples/orders.test.mjs and orders.test.ts verbatim; the examples
 * themselves run where a user runs them, in a project with the packed package installed
 * (test/embedding/consumer.test.ts: the JS one with `node --test`, the TypeScript one compiled by
 * tsc with strict: true against the published types), so the documented examples cannot drift from
 * what works. (`import 'flexd'` from this repository's sources under tsx: test/embedding/temporary.test.ts; that an embedded runtime prints nothing: test/package.test.ts.)
 * The README's list of flexd commands runs too, in order, as written, and the systemd unit verifies.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { chmod, cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { test } from 'node:test';
import { createRuntime } from '../src/runtime.ts';
import { ECHO_PROJECT } from './api/helpers.ts';
import { cleanupStack } from './helpers/cleanup.ts';
import { installedFlexdBin } from './helpers/cli.ts';
import { tempDir } from './helpers/tmp.ts';
import { warmNpmCache } from './helpers/npm-cache.ts';
import { withDeadline } from './helpers/wait.ts';
import { TEST_PASSWORD_HASH_COST } from './helpers/password-cost.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const EXAMPLES = fileURLToPath(new URL('../docs/examples/', import.meta.url));

test('docs: the node:test examples of docs/embedding.md are shown verbatim', async () => {
  const doc = await readFile(fileURLToPath(new URL('../docs/embedding.md', import.meta.url)), 'utf8');
  for (const name of ['orders.test.mjs', 'orders.test.ts']) {
    assert.ok(doc.includes((await readFile(join(EXAMPLES, name), 'utf8')).trim()), `docs/embedding.md shows docs/examples/${name} as it is`);
  }
});

test('docs: the systemd unit passes systemd-analyze verify (with ExecStart pointing at a binary that exists here)', async (t) => {
  const which = await promisify(execFile)('sh', ['-c', 'command -v systemd-analyze']).catch(() => undefined);
  if (!which) return t.skip('systemd-analyze is not installed');
  const unit = await readFile(fileURLToPath(new URL('../docs/flexd.service', import.meta.url)), 'utf8');
  assert.match(unit, /^ExecStart=\/opt\/flexd\/node_modules\/\.bin\/flexd serve$/m);
  const dir = await tempDir(cleanupStack(t), 'flexd-unit-');
  // verify checks that ExecStart's binary exists; /opt/flexd is where the docs install it, not here
  const file = join(dir, 'flexd.service');
  await writeFile(file, unit.replace('/opt/flexd/node_modules/.bin/flexd', process.execPath));
  const run = await promisify(execFile)('systemd-analyze', ['verify', file]).catch((err) => err);
  assert.equal(run.code ?? 0, 0, `${run.stdout}${run.stderr}`);
  assert.equal(run.stderr, '');
});

/** One README command: a deploy (npm install of the project) takes the longest. */
const README_COMMAND_TIMEOUT_MS = 240_000;

test("docs: the README's flexd command list runs in order as written, against a flexd serving where it says", async (t) => {
  const cleanup = cleanupStack(t);
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf("### Deploy with flexd's own CLI"), readme.indexOf('### Call the service'));
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(block, "the README's flexd command list");
  const commands = block.split('\n').filter((l) => l.trim() !== '');
  assert.ok(commands.length >= 10);

  const password = 'readme-admin-password';
  const rt = await createRuntime({ dataDir: await tempDir(cleanup, 'flexd-readme-data-'), port: 0, adminEmail: 'admin@flexd.local', adminPassword: password, passwordHashCost: TEST_PASSWORD_HASH_COST, npmCacheDir: await warmNpmCache(cleanup) });
  cleanup.after(() => rt.close());
  // where the reader stands: a folder holding ./my-flex-service, the installed flexd on the PATH
  const work = await tempDir(cleanup, 'flexd-readme-');
  await mkdir(join(work, 'my-flex-service'));
  for (const f of ['package.json', 'index.js']) await cp(join(ECHO_PROJECT, f), join(work, 'my-flex-service', f));
  const bin = await tempDir(cleanup, 'flexd-readme-bin-');
  await writeFile(join(bin, 'flexd'), `#!/bin/sh\nexec "${process.execPath}" "${await installedFlexdBin()}" "$@"\n`);
  await chmod(join(bin, 'flexd'), 0o755);
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${bin}:${process.env.PATH}`, HOME: await tempDir(cleanup, 'flexd-readme-home-'), FLEXD_PASSWORD: password };
  for (const name of ['NODE_OPTIONS', 'NODE_TEST_CONTEXT', 'FLEXD_PROFILE', 'FLEXD_URL', 'FLEXD_EMAIL']) delete env[name];

  const outputs: string[] = [];
  for (const command of commands) {
    // the only change: the URL of this test's flexd, which listens on a free port rather than 8080
    const line = command.replaceAll('http://127.0.0.1:8080', rt.url);
    const child = spawn('sh', ['-c', line], { cwd: work, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { out += d; });
    const code = await withDeadline(command, new Promise<number | null>((r) => child.once('close', r)), README_COMMAND_TIMEOUT_MS)
      .catch((err) => { child.kill('SIGKILL'); throw err; });
    assert.equal(code, 0, `${command}\n${out}`);
    outputs.push(out);
  }
  const said = (prefix: string) => outputs[commands.findIndex((c) => c.startsWith(prefix))]!;
  const svc = (await rt.context.store.services.findService('orders'))!;
  const dev = (await rt.context.store.services.findEnvironment(svc.id, 'Development'))!;
  assert.match(said('flexd login'), /Logged in to .* as admin@flexd\.local/);
  assert.equal(said('flexd create'), `Created service: ${svc.id}. Secret: ${dev.secret}\n`, 'the service id and its shared secret, as stored');
  assert.match(said('flexd status'), /^status +ONLINE$/m);
  assert.match(said('flexd status'), /^version +1\.0\.0$/m);
  assert.match(said('flexd logs'), /^Count: \d+\n/);
  assert.match(said('flexd versions'), /1\.0\.0[\s\S]*1\.0\.1/);
  assert.match(said('flexd whoami'), /admin@flexd\.local \(admin\)/);
  // show prints what settings set and update set, as the comment says: the secret, variables, settings
  for (const row of [`secret +${dev.secret}`, 'environmentVariables\\.API_KEY +abc', 'settings\\.memoryLimitMb +512', 'settings\\.requestTimeoutMs +20000']) {
    assert.match(said('flexd show'), new RegExp(`^${row}$`, 'm'), row);
  }
  // the Node flexd runs on, and the environment deployed on it (Production, never deployed, uses none yet)
  const [major] = process.versions.node.split('.');
  assert.match(said('flexd runtimes'), new RegExp(`^node +version +source +usedBy\n${major} +${process.versions.node.replaceAll('.', '\\.')} +host +orders/Development$`, 'm'));
  const environments = (await rt.context.store.services.listEnvironments(svc.id)).map((e: { name: string }) => e.name).sort();
  assert.deepEqual(environments, ['Development', 'Production']);
  assert.equal((await rt.context.store.versions.get(dev.activeVersionId!))!.version, '1.0.0', 'the rollback serves 1.0.0 again');
  assert.equal(dev.envVars.API_KEY, 'abc');
  assert.deepEqual([dev.settings.memoryLimitMb, dev.settings.requestTimeoutMs], [512, 20000]);
  assert.equal((await rt.context.store.services.findEnvironment(svc.id, 'Production'))!.runtime, 'flex-runtime-node22', 'env create, then update --runtime');
  assert.equal((await rt.context.store.accounts.findUserByEmail('dev@example.com'))?.role, 'deployer', 'user add');
});
