/**
 * docs/embedding.md shows docs/examples/orders.test.mjs and orders.test.ts verbatim, and this
 * runs them as a user would (`node --test`, importing 'flexd'), against test/fixtures/embed-counter;
 * the TypeScript one is type-checked first with strict: true. The documented examples cannot
 * drift from what works.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { test } from 'node:test';
import { cleanupStack } from './helpers/cleanup.ts';
import { tempDir } from './helpers/tmp.ts';
import { projectCopy } from './embedding/helpers.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const EXAMPLES = fileURLToPath(new URL('../docs/examples/', import.meta.url));
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

/** The examples run as a user's `node --test` would: none of this runner's variables. */
function exampleEnv(service: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, SERVICE_DIR: service };
  delete env.NODE_TEST_CONTEXT;
  delete env.NODE_OPTIONS;
  return env;
}

test('docs: the node:test examples of docs/embedding.md are shown verbatim', async () => {
  const doc = await readFile(fileURLToPath(new URL('../docs/embedding.md', import.meta.url)), 'utf8');
  for (const name of ['orders.test.mjs', 'orders.test.ts']) {
    assert.ok(doc.includes((await readFile(join(EXAMPLES, name), 'utf8')).trim()), `docs/embedding.md shows docs/examples/${name} as it is`);
  }
});

test('docs: the JavaScript example passes, one test per call', async (t) => {
  const service = await projectCopy(cleanupStack(t), 'embed-counter');
  // In this repository 'flexd' resolves to its sources under the flexd-source condition (tsx runs them).
  const run = await promisify(execFile)(process.execPath, ['--conditions=flexd-source', '--import', 'tsx', '--test', join(EXAMPLES, 'orders.test.mjs')],
    { cwd: ROOT, env: exampleEnv(service), timeout: 300_000 }).catch((err) => err);
  assert.equal(run.code ?? 0, 0, `${run.stdout}\n${run.stderr}`);
  assert.match(run.stdout, /# pass 8/);
  assert.match(run.stdout, /# fail 0/);
});

test('docs: the TypeScript example type-checks with strict: true and passes', async (t) => {
  const cleanup = cleanupStack(t);
  const service = await projectCopy(cleanup, 'embed-counter');
  const config = join(await tempDir(cleanup, 'flexd-docs-ts-'), 'tsconfig.json');
  await writeFile(config, JSON.stringify({
    compilerOptions: {
      target: 'ES2022', lib: ['ES2022', 'ESNext.Disposable'], module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true,
      types: ['node'], typeRoots: [join(ROOT, 'node_modules', '@types')], customConditions: ['flexd-source'], allowImportingTsExtensions: true, skipLibCheck: true,
    },
    files: [join(EXAMPLES, 'orders.test.ts')],
  }));
  const checked = await promisify(execFile)(process.execPath, [TSC, '-p', config], { cwd: ROOT, timeout: 120_000 }).catch((err) => err);
  assert.equal(checked.code ?? 0, 0, `tsc:\n${checked.stdout}${checked.stderr}`);
  const run = await promisify(execFile)(process.execPath, ['--conditions=flexd-source', '--import', 'tsx', '--test', join(EXAMPLES, 'orders.test.ts')],
    { cwd: ROOT, env: exampleEnv(service), timeout: 300_000 }).catch((err) => err);
  assert.equal(run.code ?? 0, 0, `${run.stdout}\n${run.stderr}`);
  assert.match(run.stdout, /# pass 1/);
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
