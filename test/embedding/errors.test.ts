/**
 * Errors a test can branch on (issue 20): every rejection of the embedding API is a FlexdError
 * (instanceof works on the package entry's export) whose `code` says why — each argument checked
 * as the management API checks it, never an exception from the database or a TypeError; a start
 * failure names the service's first error line; after close() every call is `RuntimeClosed`.
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createRuntime, FlexdError, type Runtime } from '../../src/index.ts';
import { firstErrorLine } from '../../src/embedding/start-failure.ts';
import { CleanupStack } from '../helpers/cleanup.ts';
import { tempDir } from '../helpers/tmp.ts';
import { withDeadline } from '../helpers/wait.ts';
import { DEPLOY_TIMEOUT_MS, projectCopy } from './helpers.ts';

/** Rejects with a FlexdError of this code (and, when given, a message matching). */
async function rejectsWith(attempt: Promise<unknown> | (() => Promise<unknown>), code: string, message?: RegExp): Promise<FlexdError> {
  let caught: unknown;
  try {
    await (typeof attempt === 'function' ? attempt() : attempt);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof FlexdError, `expected a FlexdError ${code}, got ${caught instanceof Error ? `${caught.name}: ${caught.message}` : String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  if (message) assert.match(caught.message, message);
  return caught;
}

test('firstErrorLine: the error and the project file and line, from what Node printed', () => {
  const syntax = 'Uncaught exception: index.js:3\n  foo(\n  ^^^\n\nSyntaxError: Unexpected token \'}\'\n    at wrapSafe (node:internal/modules/cjs/loader:1464:18)';
  assert.equal(firstErrorLine(syntax), "SyntaxError: Unexpected token '}' (index.js:3)");
  const thrown = 'Uncaught exception: Error: boom\n    at Object.<anonymous> (lib/start.js:6:7)\n    at Module._compile (node:internal/modules/cjs/loader:1521:14)';
  assert.equal(firstErrorLine(thrown), 'Error: boom (lib/start.js:6)');
  const missing = "Uncaught exception: Error: Cannot find module 'x'\nRequire stack:\n- index.js\n    at Module._resolveFilename (node:internal/modules/cjs/loader:1140:15)\n    at require (node_modules/a/b.js:1:1)\n    at Object.<anonymous> (index.js:9:17)";
  assert.equal(firstErrorLine(missing), "Error: Cannot find module 'x' (index.js:9)");
  assert.equal(firstErrorLine('starting\nTypeError [ERR_INVALID_ARG_TYPE]: bad'), 'TypeError [ERR_INVALID_ARG_TYPE]: bad');
  assert.equal(firstErrorLine('just output\nno error here'), undefined);
});

describe('embedding misuse: each fails with its FlexdError code', () => {
  const cleanup = new CleanupStack();
  after(() => cleanup.run());
  const target = { service: 'orders', environment: 'Development' };
  let rt: Runtime;
  let project: string;

  before(async () => {
    project = await projectCopy(cleanup, 'embed-counter');
    rt = await createRuntime({ dataDir: await tempDir(cleanup), port: 0 });
    cleanup.after(() => rt.close());
    await withDeadline('deploy', rt.deployDirectory(project, { ...target, secret: 'misuse-secret' }), DEPLOY_TIMEOUT_MS);
  });

  test('deployDirectory: options missing, mistyped or refused by the API are ValidationError', async () => {
    const deploy = rt.deployDirectory as (dir: unknown, options?: unknown) => Promise<unknown>;
    await rejectsWith(deploy(project, { service: 'o', env: 'Dev' }), 'ValidationError', /environment/);
    await rejectsWith(deploy(project), 'ValidationError', /options/);
    await rejectsWith(deploy(project, null), 'ValidationError');
    await rejectsWith(deploy(project, { ...target, secret: ' ' }), 'ValidationError', /secret/);
    await rejectsWith(deploy(project, { ...target, secret: 'x' }), 'ValidationError', /secret/);
    await rejectsWith(deploy(project, { service: 'a/b', environment: 'Development' }), 'ValidationError', /service/);
    await rejectsWith(deploy(project, { service: 'orders', environment: ' Dev' }), 'ValidationError', /environment/);
    await rejectsWith(deploy(project, { service: '', environment: 'Development' }), 'ValidationError', /service/);
    await rejectsWith(deploy(project, { ...target, verison: '2.0.0' }), 'ValidationError', /verison/);
    await rejectsWith(deploy(42, target), 'ValidationError', /folder/);
    await rejectsWith(deploy(undefined, target), 'ValidationError', /folder/);
  });

  test('deployDirectory: variables, versions and folders are refused with their own codes', async () => {
    const deploy = rt.deployDirectory as (dir: unknown, options?: unknown) => Promise<unknown>;
    await rejectsWith(deploy(project, { ...target, env: { 'A-B': 'x' } }), 'InvalidEnvironmentVariables', /A-B/);
    await rejectsWith(deploy(project, { ...target, env: { NODE_OPTIONS: '--inspect' } }), 'InvalidEnvironmentVariables', /reserved/);
    await rejectsWith(deploy(project, { ...target, env: { A: 1 } }), 'InvalidEnvironmentVariables', /string/);
    await rejectsWith(deploy(project, { ...target, env: 'Dev' }), 'InvalidEnvironmentVariables');
    await rejectsWith(deploy(project, { ...target, version: 'two' }), 'InvalidVersion');
    await rejectsWith(deploy(project, { ...target, version: 2 }), 'InvalidVersion');
    await rejectsWith(deploy(join(project, 'no-such-folder'), target), 'InvalidProject', /no project folder/);
    const empty = await tempDir(cleanup);
    await rejectsWith(deploy(empty, target), 'InvalidProject', /package\.json/);
    await rejectsWith(deploy(project, target), 'DeploymentVersionTooLow');
    await rejectsWith(deploy(project, { ...target, version: '0.1.0' }), 'DeploymentVersionTooLow');
  });

  test('a version that cannot start is StartFailed, naming the first error line the service printed; the old version keeps serving', async () => {
    const syntax = await projectCopy(cleanup, 'faults/syntax-error');
    const err = await rejectsWith(rt.deployDirectory(syntax, { ...target, version: '5.0.0' }), 'StartFailed',
      /^The new version failed to start: SyntaxError: missing \) after argument list \(index\.js:8\)$/);
    assert.match(err.debug, /--- last output ---/);
    const throws = await projectCopy(cleanup, 'faults/throws-at-start');
    await rejectsWith(rt.deployDirectory(throws, { ...target, version: '5.0.1' }), 'StartFailed', /Error: throws-at-start: this version cannot start \(index\.js:6\)/);
    const status = await rt.status(target);
    assert.equal(status.version, '1.0.0');
    assert.equal(status.status, 'ONLINE');
  });

  test('the other calls check their arguments too', async () => {
    const r = rt as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
    await rejectsWith(r.setVariables!(target, 'KEY=1'), 'InvalidEnvironmentVariables');
    await rejectsWith(r.setVariables!(target, { 'bad name': 'x' }), 'InvalidEnvironmentVariables');
    await rejectsWith(r.setVariables!(target, { KEY: 'x' }, { replace: 'yes' }), 'ValidationError', /replace/);
    await rejectsWith(r.setVariables!({ service: 'orders' }, { KEY: 'x' }), 'ValidationError', /environment/);
    await rejectsWith(r.recycle!(undefined), 'ValidationError');
    await rejectsWith(r.rollback!(target, ''), 'InvalidVersion');
    await rejectsWith(r.rollback!(target, undefined), 'InvalidVersion');
    await rejectsWith(r.rollback!(target, '9.9.9'), 'VersionNotFound');
    await rejectsWith(r.versions!('orders'), 'ValidationError');
    await rejectsWith(r.status!({ ...target, extra: 1 }), 'ValidationError', /extra/);
    await rejectsWith(r.logs!({ ...target, limit: 0 }), 'InvalidLogQuery');
    await rejectsWith(r.logs!({ ...target, limit: '5' }), 'InvalidLogQuery');
    await rejectsWith(r.watch!(project, { service: 'orders' }), 'ValidationError');
    await rejectsWith(r.watch!(project, { ...target, onOutput: 'print' }), 'ValidationError', /onOutput/);
    await rejectsWith(r.watch!(project, { ...target, debounceMs: -1 }), 'ValidationError', /debounceMs/);
    const noVersion = await tempDir(cleanup);
    await mkdir(join(noVersion, 'lib'));
    await writeFile(join(noVersion, 'package.json'), JSON.stringify({ name: 'x', dependencies: { 'kinvey-flex-sdk': '3.3.0' } }));
    await rejectsWith(r.watch!(noVersion, { service: 'watched', environment: 'Development' }), 'InvalidProject', /version/);
  });
});

test('after close() every call is RuntimeClosed; a deploy cut short by close() too', async (t) => {
  const cleanup = new CleanupStack();
  t.after(() => cleanup.run());
  const project = await projectCopy(cleanup, 'embed-counter');
  const rt = await createRuntime({ dataDir: await tempDir(cleanup), port: 0 });
  const target = { service: 'closing', environment: 'Development' };
  const inFlight = rt.deployDirectory(project, target);
  inFlight.catch(() => {});
  await rt.close();
  await rejectsWith(inFlight, 'RuntimeClosed');
  await rejectsWith(rt.deployDirectory(project, target), 'RuntimeClosed', /deployDirectory/);
  await rejectsWith(rt.setVariables(target, { A: 'b' }), 'RuntimeClosed');
  await rejectsWith(rt.recycle(target), 'RuntimeClosed');
  await rejectsWith(rt.rollback(target, '1.0.0'), 'RuntimeClosed');
  await rejectsWith(rt.versions(target), 'RuntimeClosed');
  await rejectsWith(rt.status(target), 'RuntimeClosed');
  await rejectsWith(rt.logs(target), 'RuntimeClosed');
  await rejectsWith(rt.watch(project, target), 'RuntimeClosed');
  await rt.close();
  await rt[Symbol.asyncDispose]();
});
