/**
 * flexd's day-2 commands through the installed `flexd` command (test/helpers/cli.ts) against a real runtime: accounts (user
 * add/list/remove/passwd, admin reset-password on the host), versions, env create/delete,
 * settings, show with settings, and failures as one line (and as JSON under --output json). The
 * steps share one runtime and run in order. (`flexd logs` with a service's control characters,
 * table, JSON, --raw and --follow: test/security/control-characters.test.ts; paging and tail:
 * test/cli/profiles-and-tail.test.ts.)
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createRuntime, type Runtime } from '../../src/runtime.ts';
import { echoProjectAt } from '../api/helpers.ts';
import { CleanupStack } from '../helpers/cleanup.ts';
import { flexdCli, type FlexdCli } from '../helpers/cli.ts';
import { fetchWithin } from '../helpers/fetch-within.ts';
import { tempDir } from '../helpers/tmp.ts';
import { withDeadline } from '../helpers/wait.ts';
import { TEST_PASSWORD_HASH_COST } from '../helpers/password-cost.ts';

const ADMIN = { email: 'ops@example.com', password: 'correct horse battery' };
/** A local deploy: the project's node_modules is the repo's (a symlink), so no npm install. */
const DEPLOY_TIMEOUT_MS = 120_000;

describe('flexd CLI: day-2 commands', () => {
  const cleanup = new CleanupStack();
  after(() => cleanup.run());
  let rt: Runtime;
  let dataDir: string;
  let cli: FlexdCli;
  let viewerCli: FlexdCli;

  before(async () => {
    dataDir = await tempDir(cleanup, 'flexd-day2-data-');
    cli = await flexdCli(await tempDir(cleanup, 'flexd-day2-home-'));
    viewerCli = await flexdCli(await tempDir(cleanup, 'flexd-day2-viewer-'));
    rt = await createRuntime({ dataDir, port: 0, adminEmail: ADMIN.email, adminPassword: ADMIN.password, passwordHashCost: TEST_PASSWORD_HASH_COST });
    cleanup.after(() => rt.close());
    const project = await echoProjectAt(cleanup, '1.0.0');
    await withDeadline('deploy 1.0.0', rt.deployDirectory(project, { service: 'orders', environment: 'Development', secret: 'orders-secret' }), DEPLOY_TIMEOUT_MS);
    await withDeadline('deploy 1.0.1', rt.deployDirectory(project, { service: 'orders', environment: 'Development', version: '1.0.1' }), DEPLOY_TIMEOUT_MS);
    await cli.ok(['login', '--host', rt.url, '--email', ADMIN.email], { env: { FLEXD_PASSWORD: ADMIN.password } });
  });

  test('user add with a generated password prints it once; --password-stdin takes one; user list shows roles; user passwd changes the password and keeps the profile signed in', async () => {
    const made = await cli.json(['user', 'add', 'view@example.com', '--role', 'viewer']);
    assert.equal(made.role, 'viewer');
    assert.ok(made.password.length >= 24);
    const human = await cli.ok(['user', 'add', 'dep@example.com', '--role', 'deployer', '--password-stdin'], { stdin: 'deployer-pass-1\n' });
    assert.match(human, /Added dep@example.com \(deployer\)/);
    assert.doesNotMatch(human, /Password:/, 'a given password is not echoed');
    const users = await cli.json(['user', 'list']);
    assert.deepEqual(users.map((u: any) => [u.email, u.role]), [[ADMIN.email, 'admin'], ['view@example.com', 'viewer'], ['dep@example.com', 'deployer']]);
    assert.match(await cli.fails(['user', 'add', 'x@example.com', '--role', 'owner']), /--role must be one of admin, deployer, viewer/);

    await viewerCli.ok(['login', '--host', rt.url, '--email', 'view@example.com', '--password', made.password]);
    assert.match(await viewerCli.fails(['user', 'list']), /^flexd: InsufficientPermissions: This needs the admin role; your account is a viewer\.$/);
    assert.match(await viewerCli.fails(['env', 'create', '--service', 'orders', '--name', 'Nope']), /InsufficientPermissions/);
    assert.equal((await viewerCli.json(['versions', '--service', 'orders'])).length, 2, 'a viewer reads');

    const passwd = await viewerCli.run(['user', 'passwd', '--password-stdin'], { stdin: `${made.password}\nviewer-pass-2\n` });
    assert.equal(passwd.code, 0, passwd.stderr);
    assert.match(passwd.stdout, /^Password changed\./);
    assert.equal((await viewerCli.json(['versions', '--service', 'orders'])).length, 2, 'the profile stays logged in');
    const signIn = (password: string) => fetchWithin(`${rt.url}/session`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ email: 'view@example.com', password }) });
    assert.deepEqual([(await signIn('viewer-pass-2')).status, (await signIn(made.password)).status], [200, 401], 'the new password signs in, the old one no longer');
  });

  test('user remove ends the account\'s sessions at once; the last admin stays', async () => {
    assert.match(await cli.ok(['user', 'remove', 'view@example.com']), /Removed view@example.com/);
    assert.match(await viewerCli.fails(['versions', '--service', 'orders']), /InvalidCredentials/);
    assert.match(await cli.fails(['user', 'remove', ADMIN.email]), /LastAdmin/);
    assert.deepEqual((await cli.json(['user', 'role', 'dep@example.com', '--role', 'viewer'])).role, 'viewer');
    assert.match(await cli.ok(['user', 'role', 'dep@example.com', '--role', 'deployer']), /dep@example.com is now a deployer/);
  });

  test('admin reset-password works on the data dir with no login, ends the sessions, and the new password logs in', async () => {
    const home = await flexdCli(await tempDir(cleanup, 'flexd-day2-host-'));
    const generated = await home.json(['admin', 'reset-password', '--data-dir', dataDir, '--email', 'dep@example.com']);
    assert.ok(generated.password.length >= 24);
    const given = await home.ok(['admin', 'reset-password', '--data-dir', dataDir, '--email', ADMIN.email, '--password-stdin'], { stdin: 'a-brand-new-password\n' });
    assert.match(given, /Reset the password of ops@example.com/);
    assert.doesNotMatch(given, /a-brand-new-password/);
    assert.match(await cli.fails(['user', 'list']), /InvalidCredentials/, 'the admin\'s sessions ended');
    await cli.ok(['login', '--email', ADMIN.email, '--password', 'a-brand-new-password']);
    assert.match(await home.fails(['admin', 'reset-password', '--data-dir', dataDir, '--email', 'nobody@example.com']), /no account nobody@example.com.*ops@example.com \(admin\)/);
  });

  test('versions lists every stored version with the active one', async () => {
    const list = await cli.json(['versions', '--service', 'orders', '--env', 'Development']);
    assert.deepEqual(list.map((v: any) => [v.version, v.active]), [['1.0.0', false], ['1.0.1', true]]);
    assert.match(await cli.ok(['versions', '--service', 'orders']), /Count: 2[\s\S]*1\.0\.1\s+yes/);
  });

  test('env create adds an environment with its secret; env delete removes it', async () => {
    const made = await cli.json(['env', 'create', '--service', 'orders', '--name', 'Production', '--secret', 'prod-secret', '--set-vars', 'A=1']);
    assert.deepEqual([made.name, made.secret], ['Production', 'prod-secret']);
    const shown = await cli.json(['show', '--service', 'orders', '--env', 'Production']);
    assert.deepEqual(shown.environmentVariables, { A: '1' });
    assert.match(await cli.fails(['env', 'create', '--service', 'orders', '--name', 'Production']), /ServiceEnvironmentNameInUse/);
    assert.match(await cli.fails(['env', 'delete', '--service', 'orders', '--name', 'Production']), /without --yes/);
    await cli.ok(['env', 'delete', '--service', 'orders', '--name', 'Production', '--yes']);
    assert.match(await cli.fails(['show', '--service', 'orders', '--env', 'Production']), /ServiceEnvironmentNotFound/);
  });

  test('settings shows and changes the environment\'s own settings; show includes them; out of range is one line', async () => {
    assert.deepEqual(await cli.json(['settings', '--service', 'orders']), {});
    const changed = await cli.json(['settings', '--service', 'orders', '--set', 'requestTimeoutMs=20000', '--set', 'strictUnhandledRejections=true']);
    assert.deepEqual(changed, { requestTimeoutMs: 20000, strictUnhandledRejections: true });
    assert.deepEqual((await cli.json(['show', '--service', 'orders'])).settings, changed);
    assert.match(await cli.ok(['show', '--service', 'orders']), /settings\.requestTimeoutMs\s+20000/);
    assert.deepEqual(await cli.json(['settings', '--service', 'orders', '--set', 'strictUnhandledRejections=']), { requestTimeoutMs: 20000 });
    assert.match(await cli.fails(['settings', '--service', 'orders', '--set', 'requestTimeoutMs=3000000000']), /ValidationError: .*settings\.requestTimeoutMs/);
  });

  test('under --output json a failure is one JSON line on stdout with its code', async () => {
    const r = await cli.run(['versions', '--service', 'no-such-service', '--output', 'json']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, '');
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 1);
    assert.equal(JSON.parse(lines[0]).error.code, 'ServiceNotFound');
  });
});
