/**
 * The whole life of a service through flexd's own command line: the installed `flexd <cmd>` as a
 * user runs it (test/helpers/cli.ts) (HOME a temp dir, so the profile file is the test's), against a real runtime on
 * port 0 — login, create, deploy (the upload leaves node_modules out, so the server runs npm
 * install), status, logs, update, show, a refused reserved name, a second version, rollback,
 * recycle, logs --follow, delete. Each step is a test; they run in order on one runtime.
 */
import assert from 'node:assert/strict';
import { cp, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createRuntime, type Runtime } from '../../src/runtime.ts';
import { warmNpmCache } from '../helpers/npm-cache.ts';
import { CleanupStack } from '../helpers/cleanup.ts';
import { COMMAND_TIMEOUT_MS, flexdCli, type FlexdCli } from '../helpers/cli.ts';
import { KITCHEN_SINK_DIR } from '../helpers/kitchen-sink.ts';
import { freePort } from '../helpers/standalone.ts';
import { createTempDir, removeDir } from '../helpers/tmp.ts';
import { waitFor, withDeadline } from '../helpers/wait.ts';
import { TEST_PASSWORD_HASH_COST } from '../helpers/password-cost.ts';

const ADMIN = { email: 'ops@example.com', password: 'correct horse battery' };
const SERVICE = 'kitchen';
const SECRET = 'kitchen-secret-1';

/** A deploy runs npm install against the registry the first time (about 30 s); allow a slow box. */
const DEPLOY_TIMEOUT_MS = 240_000;

let home: string;
let projectDir: string;
let rt: Runtime;
const cleanup = new CleanupStack();
let cli: FlexdCli;
const ok: FlexdCli['ok'] = (...a) => cli.ok(...a);
const json: FlexdCli['json'] = (...a) => cli.json(...a);
const fails: FlexdCli['fails'] = (...a) => cli.fails(...a);
const start: FlexdCli['start'] = (...a) => cli.start(...a);

/** Calls a FlexFunction of the kitchen-sink on the data plane; returns the handler's body and the serving version. */
async function callFunction(name: string): Promise<{ status: number; body: Record<string, unknown>; version: string | null }> {
  const res = await withDeadline(`POST _flexFunctions/${name}`, fetch(`${rt.url}/flex/${SERVICE}/Development/_flexFunctions/${name}`, {
    method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Auth-Key': SECRET }, body: '{}',
  }), COMMAND_TIMEOUT_MS);
  const payload = await res.json() as { response?: { body?: Record<string, unknown> } } & Record<string, unknown>;
  return { status: res.status, body: payload.response?.body ?? payload, version: res.headers.get('x-flexd-version') };
}

describe('flexd CLI: a service from login to delete', () => {
  before(async () => {
    home = await createTempDir('flexd-cli-home-');
    cleanup.after(() => removeDir(home));
    cli = await flexdCli(home);
    const dataDir = await createTempDir('flexd-cli-data-');
    cleanup.after(() => removeDir(dataDir));
    projectDir = await createTempDir('flexd-cli-project-');
    cleanup.after(() => removeDir(projectDir));
    await cp(KITCHEN_SINK_DIR, projectDir, { recursive: true });
    rt = await createRuntime({ dataDir, port: 0, adminEmail: ADMIN.email, adminPassword: ADMIN.password, passwordHashCost: TEST_PASSWORD_HASH_COST, npmCacheDir: await warmNpmCache(cleanup) });
    cleanup.after(() => rt.close());
  });
  after(() => cleanup.run());

  test('login: a wrong password is refused in one line; the right one (from FLEXD_PASSWORD) saves a 0600 profile', async () => {
    const refused = await fails(['login', '--host', rt.url, '--email', ADMIN.email, '--password', 'wrong']);
    assert.equal(refused, 'flexd: InvalidCredentials: Invalid e-mail and/or password.');
    const out = await ok(['login', '--host', rt.url, '--email', ADMIN.email], { env: { FLEXD_PASSWORD: ADMIN.password } });
    assert.match(out, new RegExp(`Logged in to ${rt.url} as ${ADMIN.email} \\(profile default, now the active profile`));
    const file = join(home, '.flexd', 'profiles.json');
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    const saved = JSON.parse(await readFile(file, 'utf8'));
    assert.equal(saved.active, 'default');
    assert.equal(saved.profiles.default.host, rt.url);
    // the saved token is the session the login opened: the API knows it as this account
    const me = await withDeadline('GET /v4/user with the saved token', fetch(`${rt.url}/v4/user`, { headers: { Authorization: `Kinvey ${saved.profiles.default.token}` } }), COMMAND_TIMEOUT_MS);
    assert.equal(me.status, 200);
    assert.equal((await me.json() as { email: string }).email, ADMIN.email);
  });

  test('create: makes the service and its Development environment, with the given secret and variables', async () => {
    const created = await json<{ id: string; secret: string; svcEnvId: string; svcEnvName: string }>(['create', SERVICE, '--secret', SECRET, '--set-vars', 'GREETING=hi']);
    assert.equal(created.secret, SECRET);
    assert.equal(created.svcEnvName, 'Development');
    const { services } = rt.context.store;
    const service = await services.findService(SERVICE);
    assert.equal(created.id, service?.id, 'the id printed is the stored service\'s');
    assert.equal(created.svcEnvId, (await services.findEnvironment(created.id, 'Development'))?.id);
  });

  test('list: shows the service in a table, after "Count: 1"', async () => {
    const out = await ok(['list']);
    const id = (await rt.context.store.services.findService(SERVICE))!.id;
    const organization = (await rt.context.store.accounts.defaultOrganization()).name;
    assert.match(out, new RegExp(`^Count: 1\nid +name +organization\n${id} +kitchen +${organization}\n`));
  });

  test('deploy: uploads the project without node_modules, waits for the job, prints its progress', async () => {
    const out = await ok(['deploy', projectDir, '--service', SERVICE], { timeoutMs: DEPLOY_TIMEOUT_MS });
    assert.match(out, /Uploading .* as version 1\.0\.0 of kitchen\/Development/);
    assert.match(out, /Installing dependencies/);
    assert.match(out, /Deployed version 1\.0\.0 of kitchen\/Development\n$/);
  });

  test('status: ONLINE with version 1.0.0, in a key/value table and as JSON', async () => {
    const out = await ok(['status', '--service', SERVICE, '--env', 'Development']);
    assert.match(out, /^status +ONLINE$/m);
    assert.match(out, /^version +1\.0\.0$/m);
    const raw = await json<{ status: string; version: string; deployUserInfo: { email: string } }>(['status', '--service', SERVICE]);
    assert.equal(raw.status, 'ONLINE');
    assert.equal(raw.version, '1.0.0');
    assert.equal(raw.deployUserInfo.email, ADMIN.email);
  });

  test('data plane: the deployed service answers with the variables set at create', async () => {
    const answer = await callFunction('env');
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.body, { nodeEnv: 'Development', greeting: 'hi' });
    assert.equal(answer.version, '1.0.0');
  });

  test('logs: shows the SDK logger line with its threshold', async () => {
    const entries = await waitFor('the start-up log line', async () => {
      const found = await json<Array<{ message: string; threshold: string | null; containerId: string }>>(['logs', '--service', SERVICE]);
      return found.find((e) => e.message === 'kitchen-sink started');
    }, { timeoutMs: COMMAND_TIMEOUT_MS, intervalMs: 250 });
    assert.equal(entries.threshold, 'info');
    const table = await ok(['logs', '--service', SERVICE, '--number', '50']);
    assert.match(table, /^Count: \d+\ncontainerId +timestamp +threshold +message\n/);
    assert.match(table, new RegExp(`^${entries.containerId} +\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z +info +kitchen-sink started$`, 'm'));
  });

  test('update --set-vars: merges the variable and restarts the replicas with it before returning', async () => {
    const out = await ok(['update', '--service', SERVICE, '--set-vars', 'GREETING=hello,EXTRA=1']);
    const environmentId = (await rt.context.store.services.findEnvironment((await rt.context.store.services.findService(SERVICE))!.id, 'Development'))!.id;
    const restart = (await rt.context.store.jobs.latest(environmentId))!;
    assert.equal(restart.status, 'COMPLETED', 'the restart job ended before the command returned');
    assert.ok(out.startsWith(`Restarting kitchen/Development with the change (job ${restart.id})\n`), out);
    assert.ok(out.endsWith(`\nUpdated service environment: ${environmentId}\n`), out);
    assert.deepEqual((await callFunction('env')).body, { nodeEnv: 'Development', greeting: 'hello' });
  });

  test('show: lists the environment and its variables', async () => {
    const out = await ok(['show', '--service', SERVICE]);
    assert.match(out, /^svcEnvName +Development$/m);
    assert.match(out, new RegExp(`^secret +${SECRET}$`, 'm'));
    assert.match(out, /^environmentVariables\.GREETING +hello$/m);
    assert.match(out, /^environmentVariables\.EXTRA +1$/m);
  });

  test('update: a reserved variable name is refused with a one-line reason, and nothing changes', async () => {
    const line = await fails(['update', '--service', SERVICE, '--set-vars', 'SDK_RECEIVER=tcp']);
    assert.match(line, /^flexd: InvalidEnvironmentVariables: .*SDK_RECEIVER/);
    const shown = await json<{ environmentVariables: Record<string, string> }>(['show', '--service', SERVICE]);
    assert.deepEqual(shown.environmentVariables, { GREETING: 'hello', EXTRA: '1' });
  });

  test('deploy: the same version again is refused before the upload', async () => {
    const line = await fails(['deploy', projectDir, '--service', SERVICE]);
    assert.match(line, /^flexd: DeploymentVersionTooLow: Version 1\.0\.0 is not greater than the deployed version 1\.0\.0/);
  });

  test('deploy: a higher version replaces the first one', async () => {
    const pkgFile = join(projectDir, 'package.json');
    const pkg = JSON.parse(await readFile(pkgFile, 'utf8'));
    await writeFile(pkgFile, JSON.stringify({ ...pkg, version: '1.0.1' }, null, 2));
    await ok(['deploy', projectDir, '--service', SERVICE], { timeoutMs: DEPLOY_TIMEOUT_MS });
    const answer = await callFunction('version');
    assert.deepEqual(answer.body, { version: '1.0.1' });
    assert.equal(answer.version, '1.0.1');
  });

  test('rollback --to: serves the first version again', async () => {
    const out = await ok(['rollback', '--service', SERVICE, '--to', '1.0.0']);
    assert.match(out, /Rolled back kitchen\/Development to version 1\.0\.0/);
    assert.deepEqual((await callFunction('version')).body, { version: '1.0.0' });
    const status = await json<{ version: string; origin: { kind: string; from?: string; by: string } }>(['status', '--service', SERVICE]);
    assert.equal(status.version, '1.0.0');
    assert.deepEqual([status.origin.kind, status.origin.from, status.origin.by], ['rollback', '1.0.1', ADMIN.email], 'status says the version serves because of a rollback');
    assert.match(await ok(['status', '--service', SERVICE]), /origin\s+rolled back from 1\.0\.1 by /);
  });

  test('rollback: a version never deployed is refused in one line', async () => {
    const line = await fails(['rollback', '--service', SERVICE, '--to', '9.9.9']);
    assert.match(line, /^flexd: VersionNotFound: /);
  });

  test('recycle, while logs --follow runs: fresh replicas, and the follower prints their start-up line', async () => {
    const before = (await callFunction('pid')).body.pid;
    assert.equal(typeof before, 'number', 'the replica says its pid');
    const follower = start(['logs', '--service', SERVICE, '--follow', '--from', new Date().toISOString()]);
    let followed = '';
    follower.stdout!.setEncoding('utf8').on('data', (c: string) => { followed += c; });
    const exited = new Promise<number | null>((resolve) => follower.once('close', resolve));
    try {
      const out = await ok(['recycle', '--service', SERVICE]);
      assert.match(out, /Recycled kitchen\/Development/);
      const after = (await callFunction('pid')).body.pid;
      assert.ok(typeof after === 'number' && after !== before, `a fresh replica answers (pid ${before} before, ${after} after)`);
      await waitFor('logs --follow to print the new start-up line', () => /info +kitchen-sink started/.test(followed), { timeoutMs: COMMAND_TIMEOUT_MS });
    } finally {
      follower.kill('SIGINT');
    }
    assert.equal(await withDeadline('logs --follow to exit on SIGINT', exited, COMMAND_TIMEOUT_MS), 0);
  });

  test('delete: refused without --yes when there is no terminal; with --yes the data plane answers 404', async () => {
    assert.match(await fails(['delete', '--service', SERVICE]), /refusing to delete kitchen without --yes/);
    const id = (await rt.context.store.services.findService(SERVICE))!.id;
    assert.equal(await ok(['delete', '--service', SERVICE, '--yes']), `Deleted service: ${id}\n`);
    assert.equal(await rt.context.store.services.findService(SERVICE), undefined, 'the service is gone from the store');
    const res = await withDeadline('GET healthcheck of the deleted service', fetch(`${rt.url}/flex/${SERVICE}/Development/healthcheck`), COMMAND_TIMEOUT_MS);
    assert.equal(res.status, 404);
    await res.body?.cancel();
    assert.match(await fails(['status', '--service', SERVICE]), /^flexd: ServiceNotFound: Could not find service with identifier 'kitchen'/);
  });

  test('a flexd that is not running is named in the one-line reason', async () => {
    const port = await freePort();
    const line = await fails(['list', '--host', `http://127.0.0.1:${port}`]);
    assert.equal(line, `flexd: cannot connect to http://127.0.0.1:${port}: connection refused (is flexd serve running there?)`);
  });
});
