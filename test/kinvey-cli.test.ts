/**
 * The evidence that the unmodified kinvey-cli (6.1.3, the devDependency) drives flexd: one
 * runtime, one temporary HOME (the CLI keeps its profile in ~/.kinvey-cli), one project folder,
 * and the story a Kinvey user follows — log in, find the organization, create a service, deploy
 * it (the CLI uploads without node_modules, so flexd runs npm install), watch its status, call
 * it, read its logs, set a variable, be refused a reserved one, deploy again, recycle, delete.
 * The steps share state and run in order.
 */
import assert from 'node:assert/strict';
import { cp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { createRuntime, type Runtime } from '../src/runtime.ts';
import { CleanupStack } from './helpers/cleanup.ts';
import { runKinvey } from './helpers/kinvey.ts';
import { fetchWithin } from './helpers/fetch-within.ts';
import { warmNpmCache } from './helpers/npm-cache.ts';
import { tempDir } from './helpers/tmp.ts';
import { untilStatus } from './helpers/api-status.ts';
import { waitFor, withDeadline } from './helpers/wait.ts';
import { TEST_PASSWORD_HASH_COST } from './helpers/password-cost.ts';

const PROJECT_FIXTURE = fileURLToPath(new URL('./fixtures/cli-project/', import.meta.url));
const ADMIN = { email: 'ops@example.com', password: 'correct horse battery staple' };
const SERVICE_NAME = 'cli-story';
const SECRET = 'cli-story-secret';

/** A first deploy installs kinvey-flex-sdk with npm (from the registry when the npm cache is cold: a first run). */
const DEPLOY_TIMEOUT_MS = 240_000;
/** A recycle or a variable change is a swap to fresh replicas of a version already built. */
const SWAP_TIMEOUT_MS = 60_000;
/** Each poll starts a CLI process (about a second); no need to poll faster. */
const STATUS_POLL_MS = 500;

interface CliResult { code: number | null; stdout: string; stderr: string }

describe('kinvey-cli 6.1.3 against flexd', () => {
  const cleanup = new CleanupStack();
  after(() => cleanup.run());

  let rt: Runtime;
  let home: string;
  let projectDir: string;
  let orgId: string;
  let serviceId: string;
  let environmentId: string;

  /** Runs `kinvey …` in the project folder, as a user would, with the temp HOME. */
  function kinvey(...args: string[]): Promise<CliResult> {
    return runKinvey({ home, cwd: projectDir }, args);
  }

  async function kinveyOk(...args: string[]): Promise<string> {
    const r = await kinvey(...args);
    assert.equal(r.code, 0, `kinvey ${args.join(' ')} failed:\n${r.stderr}\n${r.stdout}`);
    return r.stdout;
  }

  async function kinveyJson(...args: string[]): Promise<any> {
    return JSON.parse(await kinveyOk(...args, '--output', 'json')).result;
  }

  const status = () => kinveyJson('flex', 'status', '--service', serviceId);

  async function waitForStatus(label: string, predicate: (s: any) => boolean, timeoutMs: number): Promise<any> {
    // Over HTTP while the change runs (a CLI call per poll costs more than the rest of the file), then through the CLI.
    await untilStatus({ url: rt.url, ...ADMIN }, serviceId, environmentId, predicate, timeoutMs);
    let last: unknown;
    try {
      return await waitFor(label, async () => {
        last = await status();
        return predicate(last) ? last : undefined;
      }, { timeoutMs, intervalMs: STATUS_POLL_MS });
    } catch (err) {
      throw new Error(`${(err as Error).message}; last status: ${JSON.stringify(last)}`, { cause: err });
    }
  }

  async function callEcho(): Promise<{ status: number; body: any; version: string | null }> {
    const res = await withDeadline('POST /_flexFunctions/echo', fetchWithin(`${rt.url}/flex/${serviceId}/Development/_flexFunctions/echo`, {
      method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Auth-Key': SECRET }, body: '{}',
    }), 30_000);
    return { status: res.status, body: await res.json(), version: res.headers.get('x-flexd-version') };
  }

  before(async () => {
    const dataDir = await tempDir(cleanup, 'flexd-cli-data-');
    home = await tempDir(cleanup, 'flexd-cli-home-');
    projectDir = join(await tempDir(cleanup, 'flexd-cli-project-'), 'project');
    await cp(PROJECT_FIXTURE, projectDir, { recursive: true });
    rt = await createRuntime({ dataDir, port: 0, adminEmail: ADMIN.email, adminPassword: ADMIN.password, passwordHashCost: TEST_PASSWORD_HASH_COST, npmCacheDir: await warmNpmCache(cleanup) });
    cleanup.after(() => rt.close());
  });

  test('profile create logs in against --instance-id and stores the flexd host', async () => {
    const out = await kinveyOk('profile', 'create', 'dev', '--instance-id', rt.url, '--email', ADMIN.email, '--password', ADMIN.password);
    assert.match(out, /Created profile: dev/);
    const profile = JSON.parse(await readFile(join(home, '.kinvey-cli'), 'utf8'));
    assert.equal(profile.profiles.dev.host, `${rt.url}/`);
    assert.equal(profile.profiles.dev.email, ADMIN.email);
  });

  test('a wrong password is refused with InvalidCredentials', async () => {
    const r = await kinvey('profile', 'create', 'bad', '--instance-id', rt.url, '--email', ADMIN.email, '--password', 'wrong');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /InvalidCredentials: Invalid e-mail and\/or password/);
  });

  test('org list shows the default organization with a 32-hex id', async () => {
    const orgs = await kinveyJson('org', 'list');
    assert.equal(orgs.length, 1);
    assert.match(orgs[0].id, /^[0-9a-f]{32}$/);
    orgId = orgs[0].id;
    assert.match(await kinveyOk('org', 'list'), new RegExp(orgId));
  });

  test('flex create makes the service and its Development environment with the given secret', async () => {
    const created = await kinveyJson('flex', 'create', SERVICE_NAME, '--org', orgId, '--secret', SECRET);
    assert.match(created.id, /^[0-9a-f]{32}$/);
    assert.equal(created.secret, SECRET);
    serviceId = created.id;
    const list = await kinveyJson('flex', 'list', '--org', orgId);
    assert.deepEqual(list.map((s: { id: string; name: string }) => [s.id, s.name]), [[serviceId, SERVICE_NAME]]);
  });

  test('a never-deployed environment reports NEW', async () => {
    const fresh = await status();
    assert.equal(fresh.status, 'NEW');
    environmentId = fresh.svcEnvId;
  });

  test('flex deploy uploads the project and it comes ONLINE with its version', async () => {
    assert.match(await kinveyOk('flex', 'deploy', '--service', serviceId), /Deploy initiated/);
    const online = await waitForStatus('status ONLINE at 1.0.0', (s) => s.status === 'ONLINE' && s.version === '1.0.0', DEPLOY_TIMEOUT_MS);
    assert.equal(online.deployment.status, 'COMPLETED');
    assert.equal(online.deployment.version, '1.0.0');
    assert.equal(online.deployUserInfo.email, ADMIN.email);
    assert.equal(online.replicas.length, 1);
    const table = await kinveyOk('flex', 'status', '--service', serviceId);
    assert.match(table, /status\s+ONLINE/);
    assert.match(table, /deployerEmail\s+ops@example\.com/);
  });

  test('the data plane serves the deployed function with the secret', async () => {
    const echo = await callEcho();
    assert.equal(echo.status, 200);
    assert.deepEqual(echo.body.response.body, { KEY: null, version: '1.0.0' });
    assert.equal(echo.version, '1.0.0');
  });

  test('flex logs shows the SDK logger line with threshold info, also with +02:00 bounds', async () => {
    const expected = 'echo called on version 1.0.0';
    const lines = await kinveyJson('flex', 'logs', '--service', serviceId);
    const line = lines.find((l: { message: string }) => l.message === expected);
    assert.ok(line, `no "${expected}" in ${JSON.stringify(lines)}`);
    assert.equal(line.threshold, 'info');
    assert.match(line.containerId, /^[0-9a-f]{12}$/);
    // kinvey-cli puts --from/--to into the URL unencoded: the + of the offset must stay a +.
    const bounded = await kinveyJson('flex', 'logs', '--service', serviceId, '--from', '2000-01-01T02:00:00+02:00', '--to', '2999-01-01T00:00:00+02:00');
    assert.ok(bounded.some((l: { message: string }) => l.message === expected));
    const none = await kinveyJson('flex', 'logs', '--service', serviceId, '--from', '2998-01-01T00:00:00+02:00', '--to', '2999-01-01T00:00:00+02:00');
    assert.deepEqual(none, []);
    const table = await kinveyOk('flex', 'logs', '--service', serviceId, '--number', '5');
    assert.match(table, /info\s+echo called on version 1\.0\.0/);
  });

  test('flex update --set-vars restarts the replicas and the service sees the variable', async () => {
    assert.match(await kinveyOk('flex', 'update', '--service', serviceId, '--set-vars', 'KEY=value'), /Updated service environment/);
    await waitFor('the service to see KEY=value', async () => (await callEcho()).body.response.body.KEY === 'value', { timeoutMs: SWAP_TIMEOUT_MS, intervalMs: 100 });
    const shown = await kinveyJson('flex', 'show', '--service', serviceId);
    assert.deepEqual(shown.environmentVariables, { KEY: 'value' });
    assert.match(await kinveyOk('flex', 'show', '--service', serviceId), /environmentVariables\.KEY\s+value/);
  });

  test('flex update --set-vars SDK_RECEIVER=tcp is refused with a clear message and changes nothing', async () => {
    const r = await kinvey('flex', 'update', '--service', serviceId, '--set-vars', 'SDK_RECEIVER=tcp');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /InvalidEnvironmentVariables: .*"SDK_RECEIVER" is reserved by the runtime/);
    // the stored variables (`flex show` printing them is checked in the test before)
    assert.deepEqual((await rt.context.store.services.findEnvironment(serviceId, 'Development'))!.envVars, { KEY: 'value' });
  });

  test('a second deploy with a higher version replaces the first and keeps the variables', async () => {
    const again = await kinvey('flex', 'deploy', '--service', serviceId);
    assert.equal(again.code, 1, 'the same version again is refused');
    assert.match(again.stderr, /DeploymentVersionTooLow/);

    const pkgFile = join(projectDir, 'package.json');
    const pkg = JSON.parse(await readFile(pkgFile, 'utf8'));
    await writeFile(pkgFile, JSON.stringify({ ...pkg, version: '1.0.1' }, null, 2));
    assert.match(await kinveyOk('flex', 'deploy', '--service', serviceId), /Deploy initiated/);
    await waitForStatus('status ONLINE at 1.0.1', (s) => s.status === 'ONLINE' && s.version === '1.0.1', DEPLOY_TIMEOUT_MS);
    const echo = await callEcho();
    assert.deepEqual(echo.body.response.body, { KEY: 'value', version: '1.0.1' });
    assert.equal(echo.version, '1.0.1');
  });

  /** The containers serving now, over HTTP (the CLI's status answer is checked at every step around the recycles). */
  async function containers(): Promise<string[]> {
    const now = await untilStatus({ url: rt.url, ...ADMIN }, serviceId, environmentId, () => true, SWAP_TIMEOUT_MS);
    const ids = now.replicas.map((r: { containerId: string }) => r.containerId);
    assert.ok(ids.length > 0, 'replicas run before the recycle');
    return ids;
  }

  /** The status once only replicas other than `before` serve, all ready. */
  function freshReplicas(label: string, before: string[]): Promise<any> {
    return waitForStatus(label, (s) => s.status === 'ONLINE' && s.replicas.length > 0
      && s.replicas.every((r: { containerId: string; state: string }) => !before.includes(r.containerId) && r.state === 'ready'), SWAP_TIMEOUT_MS);
  }

  test('flex recycle restarts the replicas on fresh containers', async () => {
    const before = await containers();
    assert.match(await kinveyOk('flex', 'recycle', '--service', serviceId), /Recycle initiated/);
    const after = await freshReplicas('fresh replicas after recycle', before);
    assert.equal(after.version, '1.0.1');
    assert.equal((await callEcho()).status, 200);
  });

  test('a deployer drives kinvey-cli as an admin does; a viewer reads and is refused changes with InsufficientPermissions', async () => {
    const login = await fetchWithin(`${rt.url}/session`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(ADMIN) });
    const { token } = await login.json() as { token: string };
    for (const [email, role] of [['dep@example.com', 'deployer'], ['view@example.com', 'viewer']]) {
      const made = await fetchWithin(`${rt.url}/v4/users`, {
        method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: `Kinvey ${token}` },
        body: JSON.stringify({ email, role, password: `${role}-password` }),
      });
      assert.equal(made.status, 201);
      await kinveyOk('profile', 'create', role, '--instance-id', rt.url, '--email', email, '--password', `${role}-password`);
    }
    // with several profiles kinvey-cli needs an active one; --profile picks another per call
    await kinveyOk('profile', 'use', 'dev');
    assert.equal((await kinveyJson('flex', 'status', '--service', serviceId, '--profile', 'viewer')).status, 'ONLINE', 'a viewer reads the status');
    const refused = await kinvey('flex', 'recycle', '--service', serviceId, '--profile', 'viewer');
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /InsufficientPermissions: This needs the deployer role; your account is a viewer/);
    const before = await containers();
    assert.match(await kinveyOk('flex', 'recycle', '--service', serviceId, '--profile', 'deployer'), /Recycle initiated/);
    await freshReplicas('fresh replicas after the deployer\'s recycle', before);
  });

  test('service apply updates the service and its environment (PUT) and creates a new environment from a config file', async () => {
    const file = join(projectDir, '..', 'service.json');
    await writeFile(file, JSON.stringify({
      schemaVersion: '1.0.0', configType: 'service', type: 'flex-internal', description: 'orders, applied',
      environments: {
        Development: { secret: SECRET, environmentVariables: { KEY: 'applied' } },
        Production: { secret: 'prod-secret', environmentVariables: { KEY: 'prod' }, runtime: 'node12' },
      },
    }));
    const out = await kinveyOk('service', 'apply', '--file', file, '--service', serviceId);
    assert.match(out, new RegExp(serviceId));
    const envs = await kinveyJson('flex', 'show', '--service', serviceId, '--env', 'Production');
    assert.deepEqual(envs.environmentVariables, { KEY: 'prod' });
    const svc = await (await fetchWithin(`${rt.url}/session`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(ADMIN) })).json() as { token: string };
    const service = await (await fetchWithin(`${rt.url}/v4/services/${serviceId}`, { headers: { Authorization: `Kinvey ${svc.token}` } })).json() as { description?: string };
    assert.equal(service.description, 'orders, applied');
    await waitFor('the applied variable served', async () => ((await callEcho()).body.response?.body?.KEY === 'applied' ? true : undefined), { timeoutMs: SWAP_TIMEOUT_MS, intervalMs: 100 });
  });

  test('flex delete removes the service and the data plane answers 404', async () => {
    assert.match(await kinveyOk('flex', 'delete', '--service', serviceId, '--no-prompt'), new RegExp(`Deleted service: ${serviceId}`));
    assert.equal((await callEcho()).status, 404);
    const r = await kinvey('flex', 'status', '--service', serviceId);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /NotFound/);
    assert.equal(rt.context.supervisor.pool(environmentId), undefined, 'the replicas were stopped');
  });
});
