/**
 * docs/embedding.md shows docs/examples/orders.test.mjs verbatim, and this runs it as a user
 * would (`node --test`, importing 'flexd'), against the echo project: the documented example
 * cannot drift from what works.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { test } from 'node:test';
import { echoProjectAt } from './api/helpers.ts';
import { cleanupStack } from './helpers/cleanup.ts';
import { tempDir } from './helpers/tmp.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const EXAMPLE = fileURLToPath(new URL('../docs/examples/orders.test.mjs', import.meta.url));

test('docs: the node:test example of docs/embedding.md is shown verbatim and passes', async (t) => {
  const doc = await readFile(fileURLToPath(new URL('../docs/embedding.md', import.meta.url)), 'utf8');
  const example = await readFile(EXAMPLE, 'utf8');
  assert.ok(doc.includes(example.trim()), 'docs/embedding.md shows docs/examples/orders.test.mjs as it is');

  const service = await echoProjectAt(cleanupStack(t), '1.0.0');
  const env: NodeJS.ProcessEnv = { ...process.env, SERVICE_DIR: service };
  delete env.NODE_TEST_CONTEXT;
  delete env.NODE_OPTIONS;
  // In this repository 'flexd' resolves to its sources under the flexd-source condition (tsx runs them).
  const run = await promisify(execFile)(process.execPath, ['--conditions=flexd-source', '--import', 'tsx', '--test', EXAMPLE], { cwd: ROOT, env, timeout: 180_000 })
    .catch((err) => err);
  assert.equal(run.code ?? 0, 0, `${run.stdout}\n${run.stderr}`);
  assert.match(run.stdout, /# pass 3/);
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
