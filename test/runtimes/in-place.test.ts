/**
 * Issue 18: `rt.watch` and `flexd dev` serve a folder in place on the Node major its environment
 * chose, as deploys do — not on the Node flexd runs on. Releases come from the cache the
 * runtimes tests share (helpers/runtimes.ts), so nothing is downloaded twice.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile, writeFile } from 'node:fs/promises';
import { test } from 'node:test';
import { startApi } from '../api/helpers.ts';
import { cleanupStack } from '../helpers/cleanup.ts';
import { installedFlexdBin } from '../helpers/cli.ts';
import { RUNTIME_INSTALL_TIMEOUT_MS, RUNTIMES_CACHE_DIR } from '../helpers/runtimes.ts';
import { waitFor, withDeadline } from '../helpers/wait.ts';
import { projectCopy } from '../embedding/helpers.ts';
import { callFunction } from '../lifecycle/helpers.ts';

const HOST_MAJOR = Number(process.versions.node.split('.')[0]);
/** Majors other than the host's, so running on flexd's own Node would show. */
const [FIRST, SECOND] = [20, 22, 24].filter((m) => m !== HOST_MAJOR) as [number, number];

async function nodeOf(url: string, service: string, environment: string, secret?: string): Promise<{ version: string; major: number }> {
  const res = await callFunction(`${url}/flex/${service}/${environment}`, 'node', {}, { secret });
  assert.equal(res.status, 200, res.text);
  return res.answer;
}

test('rt.watch runs the folder on the runtime it names, or on its environment\'s, never silently on flexd\'s own Node', { timeout: 2 * RUNTIME_INSTALL_TIMEOUT_MS }, async (t) => {
  const cleanup = cleanupStack(t);
  const api = await startApi(cleanup, { runtimesDir: RUNTIMES_CACHE_DIR });
  const dir = await projectCopy(cleanup, 'runtimes/version');

  // Named by the watch: kept as the environment's runtime.
  const outcomes: Array<{ ok: boolean; node?: string }> = [];
  const named = await withDeadline('watch on a named runtime', api.rt.watch(dir, { service: 'inplace', environment: 'named', runtime: `node${FIRST}`, onDeploy: (o) => outcomes.push(o) }), RUNTIME_INSTALL_TIMEOUT_MS);
  cleanup.after(() => named.close());
  const first = await nodeOf(api.rt.url, 'inplace', 'named');
  assert.equal(first.major, FIRST, `the replica runs Node ${first.version}`);
  const status = await api.call('GET', '/v4/services');
  const svc = (status.body as { id: string; name: string }[]).find((s) => s.name === 'inplace')!;
  const envs = (await api.call('GET', `/v4/services/${svc.id}/environments`)).body as { name: string; runtime: string }[];
  assert.equal(envs.find((e) => e.name === 'named')!.runtime, `flex-runtime-node${FIRST}`, 'kept as the environment\'s runtime');

  // An environment made through the API on another major: the watch runs on it.
  const created = await api.call('POST', `/v4/services/${svc.id}/environments`, { json: { name: 'chosen', secret: 'chosen-secret', runtime: `node${SECOND}` } });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const chosen = await withDeadline('watch on the environment\'s runtime', api.rt.watch(dir, { service: 'inplace', environment: 'chosen', secret: 'chosen-secret' }), RUNTIME_INSTALL_TIMEOUT_MS);
  cleanup.after(() => chosen.close());
  assert.equal((await nodeOf(api.rt.url, 'inplace', 'chosen', 'chosen-secret')).major, SECOND);

  // A save redeploys on the same runtime.
  const next = named.nextDeploy();
  await writeFile(`${dir}/index.js`, `${await readFile(`${dir}/index.js`, 'utf8')}\n// saved\n`);
  const outcome = await withDeadline('the redeploy', next, 60_000);
  assert.equal(outcome.ok, true, JSON.stringify(outcome));
  assert.equal(Number(outcome.node!.split('.')[0]), FIRST);
  assert.equal((await nodeOf(api.rt.url, 'inplace', 'named')).major, FIRST);

  // A runtime that cannot be had is refused before anything serves.
  await withDeadline('the refused watch', assert.rejects(api.rt.watch(dir, { service: 'inplace', environment: 'bad', runtime: 'node99' }), { code: 'InvalidRuntime' }), RUNTIME_INSTALL_TIMEOUT_MS);
});

test('flexd dev --runtime runs the folder on that Node and says which', { timeout: 2 * RUNTIME_INSTALL_TIMEOUT_MS }, async (t) => {
  const cleanup = cleanupStack(t);
  const dir = await projectCopy(cleanup, 'runtimes/version');
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.NODE_OPTIONS;
  delete env.NODE_TEST_CONTEXT;
  // the installed package's bin: flexd's compiled dist/, not its sources through tsx
  const child = spawn(process.execPath, [await installedFlexdBin(), 'dev', dir, '--port', '0', '--service', 'devnode', '--runtime', `node${FIRST}`, '--runtimes-dir', RUNTIMES_CACHE_DIR], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  cleanup.after(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); });
  const exited = once(child, 'exit');
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (c: string) => { stderr += c; });
  child.stdout.resume();
  const [, base, said] = await waitFor('the serving line', () => /serving .+ at (http:\/\/\S+) on Node (\S+)/.exec(stderr), { timeoutMs: RUNTIME_INSTALL_TIMEOUT_MS });
  assert.equal(Number(said!.split('.')[0]), FIRST, stderr);
  const url = base!.slice(0, base!.indexOf('/flex/'));
  const node = await nodeOf(url, 'devnode', 'Development');
  assert.equal(node.major, FIRST);
  assert.equal(node.version, `v${said}`, 'the line names the Node that runs');
  child.kill('SIGINT');
  const [code] = await withDeadline('flexd dev exits after SIGINT', exited, 30_000);
  assert.equal(code, 0, stderr);
});
