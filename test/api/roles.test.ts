/**
 * Accounts with roles: each role against each route class of the management API, the accounts
 * API (/v4/users, /v4/user/password), what a viewer may not read, login throttling and the
 * session cap (issue 9 item 10), and FLEXD_ADMIN_PASSWORD on a data dir that has accounts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tar from 'tar';
import { hashPassword } from '../../src/accounts/passwords.ts';
import { createRuntime } from '../../src/runtime.ts';
import { MIGRATIONS } from '../../src/store/migrations.ts';
import type { Logger } from '../../src/logger.ts';
import { cleanupStack } from '../helpers/cleanup.ts';
import { waitFor, withDeadline } from '../helpers/wait.ts';
import { tempDir } from '../helpers/tmp.ts';
import { ADMIN, startApi, TEST_PASSWORD_HASH_COST, type Api } from './helpers.ts';
import { sqliteConnection } from '../../src/store/index.ts';

type Role = 'admin' | 'deployer' | 'viewer';

/** Logs in `email` and returns its token. */
async function loginAs(api: Api, email: string, password: string): Promise<string> {
  const r = await api.call('POST', '/session', { json: { email, password }, token: null });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.token;
}

async function addUser(api: Api, email: string, role: Role, password = `${role}-password-1`): Promise<string> {
  const r = await api.call('POST', '/v4/users', { json: { email, role, password } });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return loginAs(api, email, password);
}

describe('roles: each role against each route class', () => {
  test('admin does everything, deployer all but accounts, viewer reads only; refusals are 403 InsufficientPermissions', async (t) => {
    const api = await startApi(t);
    const tokens: Record<Role, string> = {
      admin: api.token,
      deployer: await addUser(api, 'dep@example.com', 'deployer'),
      viewer: await addUser(api, 'view@example.com', 'viewer'),
    };
    const { serviceId, environmentId } = await api.createEnvironment('roles', 'Development', { environmentVariables: { API_KEY: 'k-123' } });
    const env = `/v4/services/${serviceId}/environments/${environmentId}`;

    // [class, method, path, body?]; each role's expected outcome by class
    const routes: Array<[string, string, string, unknown?]> = [
      ['read', 'GET', '/v4/organizations'],
      ['read', 'GET', '/v4/services'],
      ['read', 'GET', `/v4/services/${serviceId}/environments`],
      ['read', 'GET', `${env}/status`],
      ['read', 'GET', `${env}/logs`],
      ['read', 'GET', `${env}/versions`],
      ['own', 'GET', '/v4/user'],
      ['change', 'POST', '/v4/services', { name: 'made-by-ROLE' }],
      ['change', 'PUT', env, { description: 'changed by ROLE' }],
      ['change', 'POST', `/v4/services/${serviceId}/environments`, { name: 'env-ROLE' }],
      ['change', 'POST', '/v4/jobs', { type: 'recycleService', params: { serviceId, serviceEnvironmentId: environmentId } }],
      ['accounts', 'GET', '/v4/users'],
      ['accounts', 'POST', '/v4/users', { email: 'new-ROLE@example.com', role: 'viewer' }],
    ];
    const allowed: Record<Role, string[]> = {
      admin: ['read', 'own', 'change', 'accounts'],
      deployer: ['read', 'own', 'change'],
      viewer: ['read', 'own'],
    };
    for (const role of ['viewer', 'deployer', 'admin'] as Role[]) {
      for (const [cls, method, path, body] of routes) {
        const json = body === undefined ? undefined : JSON.parse(JSON.stringify(body).replaceAll('ROLE', role));
        const r = await api.call(method, path, { json, token: tokens[role] });
        const label = `${role} ${method} ${path} (${cls})`;
        if (allowed[role].includes(cls)) {
          // a recycle of a never-deployed environment is refused for what it is, not for the role
          assert.ok(r.status < 400 || r.body.code === 'NotDeployed', `${label}: ${r.status} ${JSON.stringify(r.body)}`);
        } else {
          assert.equal(r.status, 403, label);
          assert.deepEqual([r.body.code, typeof r.body.description], ['InsufficientPermissions', 'string'], label);
        }
      }
    }
    const del = `/v4/services/${serviceId}`;
    assert.equal((await api.call('DELETE', del, { token: tokens.viewer })).status, 403);
    assert.equal((await api.call('DELETE', del, { token: tokens.deployer })).status, 204);
  });

  test('a viewer sees environments without the shared secret and variable values; a deployer sees them', async (t) => {
    const api = await startApi(t);
    const viewer = await addUser(api, 'view@example.com', 'viewer');
    const deployer = await addUser(api, 'dep@example.com', 'deployer');
    const { serviceId, environmentId } = await api.createEnvironment('secrets', 'Development', { environmentVariables: { API_KEY: 'k-123' } });
    // A real deploy job whose parameters carry the variables (a project that fails at its start, so it ends at once).
    const project = await tempDir(t, 'flexd-roles-project-');
    await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'secrets', version: '1.0.0', main: 'index.js' }));
    await writeFile(join(project, 'index.js'), "throw new Error('not meant to start');\n");
    const chunks: Buffer[] = [];
    for await (const chunk of tar.create({ cwd: project, portable: true }, ['package.json', 'index.js'])) chunks.push(chunk as Buffer);
    const accepted = await api.upload({ serviceId, serviceEnvironmentId: environmentId, version: '1.0.0', environmentVariables: { API_KEY: 'k-123' } }, Buffer.concat(chunks));
    assert.equal(accepted.status, 201, JSON.stringify(accepted.body));
    const job = await withDeadline('the deploy job', api.rt.context.deployer.jobs.wait(accepted.body.job), 60_000);
    assert.match(JSON.stringify((await api.call('GET', `/v4/jobs/${job.id}`)).body), /k-123/, 'the job\'s parameters hold the variable (an admin sees it)');
    for (const path of [`/v4/services/${serviceId}/environments`, `/v4/services/${serviceId}/environments/${environmentId}`, '/v4/services?expand=environments', `/v4/jobs/${job.id}`]) {
      const seen = JSON.stringify((await api.call('GET', path, { token: viewer })).body);
      assert.doesNotMatch(seen, /env-secret|k-123/, path);
      assert.match(seen, /API_KEY/, `${path}: the names stay visible`);
      assert.match(JSON.stringify((await api.call('GET', path, { token: deployer })).body), /k-123/);
    }
  });
});

describe('accounts API', () => {
  test('an admin adds, lists, changes and removes accounts; a removed account\'s token stops working at once', async (t) => {
    const api = await startApi(t);
    const made = await api.call('POST', '/v4/users', { json: { email: 'gen@example.com', role: 'deployer' } });
    assert.equal(made.status, 201);
    assert.equal(made.body.role, 'deployer');
    assert.ok(made.body.password.length >= 24, 'a generated password is answered once');
    const token = await loginAs(api, 'gen@example.com', made.body.password);

    const list = await api.call('GET', '/v4/users');
    assert.deepEqual(list.body.map((u: any) => [u.email, u.role]), [[ADMIN.email, 'admin'], ['gen@example.com', 'deployer']]);
    assert.ok(list.body.every((u: any) => !('password' in u) && !('passwordHash' in u)));
    assert.equal((await api.call('GET', '/v4/users/gen@example.com')).body.id, made.body.id);

    assert.equal((await api.call('POST', '/v4/users', { json: { email: 'GEN@example.com', role: 'viewer' } })).body.code, 'UserExists');
    const bad = await api.call('POST', '/v4/users', { json: { email: 'x@example.com', role: 'owner', password: 'short' } });
    assert.deepEqual([bad.status, bad.body.code], [400, 'ValidationError']);
    assert.match(bad.body.description, /role/);
    assert.match(bad.body.description, /password/);

    const demoted = await api.call('PUT', '/v4/users/gen@example.com', { json: { role: 'viewer' } });
    assert.equal(demoted.body.role, 'viewer');
    assert.equal((await api.call('POST', '/v4/services', { json: { name: 'nope' }, token })).status, 403, 'the new role applies to the live session');

    assert.equal((await api.call('DELETE', `/v4/users/${made.body.id}`)).status, 204);
    assert.equal((await api.call('GET', '/v4/user', { token })).status, 401);
    assert.equal((await api.rt.context.store.accounts.countSessions(made.body.id)), 0);
  });

  test('the last admin cannot be removed or demoted', async (t) => {
    const api = await startApi(t);
    for (const [method, json] of [['DELETE', undefined], ['PUT', { role: 'deployer' }]] as const) {
      const r = await api.call(method, `/v4/users/${ADMIN.email}`, { json });
      assert.deepEqual([r.status, r.body.code], [409, 'LastAdmin'], method);
    }
    await addUser(api, 'second@example.com', 'admin');
    assert.equal((await api.call('PUT', `/v4/users/${ADMIN.email}`, { json: { role: 'viewer' } })).status, 200);
  });

  test('anyone changes their own password with the current one; their other sessions end, this one goes on', async (t) => {
    const api = await startApi(t);
    const first = await addUser(api, 'v@example.com', 'viewer', 'viewer-pass-1');
    const second = await loginAs(api, 'v@example.com', 'viewer-pass-1');
    const wrong = await api.call('PUT', '/v4/user/password', { json: { currentPassword: 'nope', password: 'viewer-pass-2' }, token: first });
    assert.deepEqual([wrong.status, wrong.body.code], [401, 'InvalidCredentials']);
    const ok = await api.call('PUT', '/v4/user/password', { json: { currentPassword: 'viewer-pass-1', password: 'viewer-pass-2' }, token: first });
    assert.equal(ok.status, 204);
    assert.equal((await api.call('GET', '/v4/user', { token: first })).status, 200);
    assert.equal((await api.call('GET', '/v4/user', { token: second })).status, 401);
    await loginAs(api, 'v@example.com', 'viewer-pass-2');
    assert.equal((await api.call('POST', '/session', { json: { email: 'v@example.com', password: 'viewer-pass-1' }, token: null })).status, 401);
  });

  test('an account that existed before roles is an admin (migration 3)', async (t) => {
    // A database as flexd left it before roles: migrations 1 and 2 only, two accounts, no role column.
    const dataDir = await tempDir(t, 'flexd-before-roles-');
    const old = new Database(join(dataDir, 'flexd.db'));
    old.exec(MIGRATIONS[0]!);
    old.exec(MIGRATIONS[1]!);
    old.pragma('user_version = 2');
    const insert = old.prepare('INSERT INTO users (id, email, password_hash, created_at) VALUES (?, ?, ?, ?)');
    insert.run('u-admin', ADMIN.email, await hashPassword(ADMIN.password, TEST_PASSWORD_HASH_COST), '2024-01-01T00:00:00.000Z');
    insert.run('u-old', 'old@example.com', await hashPassword('old-password-1', TEST_PASSWORD_HASH_COST), '2024-01-01T00:00:00.000Z');
    old.close();

    const api = await startApi(t, { dataDir });
    const token = await loginAs(api, 'old@example.com', 'old-password-1');
    const me = await api.call('GET', '/v4/user', { token });
    assert.deepEqual([me.body.email, me.body.role], ['old@example.com', 'admin']);
    const asAdmin = await api.call('POST', '/v4/users', { json: { email: 'new@example.com', role: 'viewer', password: 'new-password-1' }, token });
    assert.equal(asAdmin.status, 201, 'it may do what an admin does');
    assert.equal((await api.call('GET', '/v4/users/new@example.com')).body.role, 'viewer', 'a new account gets the role it is given');
  });
});

describe('login throttling and session caps', () => {
  test('30 wrong passwords: past the limit tries wait growing delays (429 with Retry-After), even with the right password', async (t) => {
    const api = await startApi(t, { loginFailuresPerAccount: 5, loginFailuresPerAddress: 1000 });
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 30; i++) {
      const r = await api.call('POST', '/session', { json: { email: ADMIN.email, password: `wrong-${i}` }, token: null });
      statuses.push(r.status);
      if (r.status === 429) {
        retryAfter = r.headers.get('retry-after');
        assert.equal(r.body.code, 'TooManyLoginAttempts');
      }
    }
    assert.deepEqual(statuses.slice(0, 6), [401, 401, 401, 401, 401, 429]);
    // Past the limit each try waits a delay that doubles from 1 s (accounts/throttle.ts): on a slow
    // machine a few tries come after their delay; most are refused.
    assert.ok(statuses.slice(5).filter((s) => s === 401).length <= 4, statuses.join(' '));
    assert.ok(Number(retryAfter) > 0 && Number(retryAfter) <= 15 * 60, `Retry-After ${retryAfter}`);
    // A counted failure now (once its delay is waited out) starts a delay of at least 2 s: the right password waits it too.
    await waitFor('a wrong try counted after its delay', async () => ((await api.call('POST', '/session', { json: { email: ADMIN.email, password: 'wrong-again' }, token: null })).status === 401 ? true : undefined),
      { timeoutMs: 120_000, intervalMs: 250 });
    assert.equal((await api.call('POST', '/session', { json: ADMIN, token: null })).status, 429, 'the right password waits too');
    const page = await api.call('POST', '/ui/login', { body: new URLSearchParams({ email: ADMIN.email, password: ADMIN.password }), token: null });
    assert.match(String(page.body), /Too many failed sign-ins/, 'the status page\'s sign-in shares the throttle');
    assert.equal((await api.rt.context.store.accounts.countSessions((await api.rt.context.store.accounts.findUserByEmail(ADMIN.email))!.id)), 1);
  });

  test('one address trying many accounts is throttled by address; the account limit frees up after its window', async (t) => {
    const api = await startApi(t, { loginFailuresPerAccount: 1000, loginFailuresPerAddress: 4, loginThrottleWindowMs: 60 * 60_000 });
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      statuses.push((await api.call('POST', '/session', { json: { email: `guess${i}@example.com`, password: 'x' }, token: null })).status);
    }
    assert.deepEqual(statuses, [401, 401, 401, 401, 429, 429]);

    const short = await startApi(t, { loginFailuresPerAccount: 2, loginFailuresPerAddress: 1000, loginThrottleWindowMs: 3000 });
    for (let i = 0; i < 2; i++) await short.call('POST', '/session', { json: { ...ADMIN, password: 'wrong' }, token: null });
    assert.equal((await short.call('POST', '/session', { json: ADMIN, token: null })).status, 429);
    // The window is the thing under test: poll until it has passed, with a deadline.
    const status = await waitFor('a login once the window has passed', async () => {
      const s = (await short.call('POST', '/session', { json: ADMIN, token: null })).status;
      return s === 429 ? undefined : s;
    }, { timeoutMs: 60_000, intervalMs: 100 }); // the 3 s window plus a loaded machine: the deadline only catches a hang
    assert.equal(status, 200);
  });

  test('behind a proxy (trustProxy) each X-Forwarded-For client has its own address budget; without it the header is ignored', async (t) => {
    const guess = (api: Api, client: string, i: number) => api.call('POST', '/session', {
      json: { email: `g${i}@example.com`, password: 'x' }, token: null, headers: { 'X-Forwarded-For': `203.0.113.9, ${client}` },
    });
    const limits = { loginFailuresPerAccount: 1000, loginFailuresPerAddress: 2 };
    const proxied = await startApi(t, { ...limits, trustProxy: true });
    assert.deepEqual([(await guess(proxied, '198.51.100.1', 1)).status, (await guess(proxied, '198.51.100.1', 2)).status, (await guess(proxied, '198.51.100.1', 3)).status], [401, 401, 429]);
    assert.equal((await guess(proxied, '198.51.100.2', 4)).status, 401, 'another client behind the proxy is not throttled');
    assert.equal((await proxied.call('POST', '/session', { json: ADMIN, token: null, headers: { 'X-Forwarded-For': '198.51.100.3' } })).status, 200);

    const direct = await startApi(t, limits);
    assert.deepEqual([(await guess(direct, '198.51.100.1', 1)).status, (await guess(direct, '198.51.100.2', 2)).status, (await guess(direct, '198.51.100.3', 3)).status], [401, 401, 429],
      'without trustProxy the header is the client\'s word, not an address');
  });

  test('an account keeps at most maxSessionsPerUser sessions: a new login ends the oldest', async (t) => {
    const api = await startApi(t, { maxSessionsPerUser: 3 });
    const tokens = [api.token];
    for (let i = 0; i < 4; i++) tokens.push(await loginAs(api, ADMIN.email, ADMIN.password));
    const userId = (await api.rt.context.store.accounts.findUserByEmail(ADMIN.email))!.id;
    assert.equal((await api.rt.context.store.accounts.countSessions(userId)), 3);
    assert.equal((await api.call('GET', '/v4/user', { token: tokens.at(-1)! })).status, 200);
    assert.equal((await api.call('GET', '/v4/user', { token: tokens[0] })).status, 401);
  });
});

test('FLEXD_ADMIN_PASSWORD on a data dir with accounts is not silently ignored: a warning says what to do', async (t) => {
  const cleanup = cleanupStack(t);
  const dataDir = await tempDir(cleanup);
  const cheap = { passwordHashCost: TEST_PASSWORD_HASH_COST };
  const first = await createRuntime({ dataDir, port: 0, adminEmail: ADMIN.email, adminPassword: ADMIN.password, ...cheap });
  await first.close();
  const warnings: string[] = [];
  const logger: Logger = { debug() {}, info() {}, error() {}, warn: (_f, msg) => { warnings.push(msg); } };
  const same = await createRuntime({ dataDir, port: 0, adminEmail: ADMIN.email, adminPassword: ADMIN.password, logger, ...cheap });
  await same.close();
  assert.deepEqual(warnings, [], 'the same password: nothing to say');
  const other = await createRuntime({ dataDir, port: 0, adminEmail: ADMIN.email, adminPassword: 'a-new-password', logger, ...cheap });
  cleanup.after(() => other.close());
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /ignored.*reset-password/s);
  assert.doesNotMatch(warnings[0], /a-new-password/);
});
