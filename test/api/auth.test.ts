import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { createRuntime } from '../../src/runtime.ts';
import { cleanupStack } from '../helpers/cleanup.ts';
import { tempDir } from '../helpers/tmp.ts';
import { fetchWithin } from '../helpers/fetch-within.ts';
import { waitFor } from '../helpers/wait.ts';
import { ADMIN, startApi, type Api } from './helpers.ts';
import { sqliteConnection } from '../../src/store/index.ts';
import { hashPassword } from '../../src/accounts/passwords.ts';

const TOKEN_INVALID = { code: 'InvalidCredentials', description: 'Authorization token invalid or expired.' };

/** One runtime for the tests on flexd's default settings that leave its accounts as they were; the others start their own. */
const fileCleanup = cleanupStack({ after });
let shared: Promise<Api> | undefined;
const runtime = () => (shared ??= startApi(fileCleanup));

test('auth: the right password gives a token; a wrong one or an unknown e-mail gets InvalidCredentials', async () => {
  const api = await runtime();
  assert.ok(api.token.length >= 43, 'at least 256 bits, base64url');

  for (const json of [{ ...ADMIN, password: 'wrong' }, { email: 'nobody@example.com', password: ADMIN.password }]) {
    const r = await api.call('POST', '/session', { json, token: null });
    assert.equal(r.status, 401);
    assert.deepEqual(r.body, { code: 'InvalidCredentials', description: 'Invalid e-mail and/or password.', debug: '' });
  }

  const me = await api.call('GET', '/v4/user');
  assert.deepEqual([me.status, me.body.email, me.body.role], [200, ADMIN.email, 'admin']);
});

test('auth: a missing, wrong or malformed token gets the exact text kinvey-cli reacts to', async () => {
  const api = await runtime();
  const attempts: Record<string, string>[] = [{}, { Authorization: 'Kinvey not-a-token' }, { Authorization: 'Basic abc' }, { Authorization: `Kinvey ${api.token}x` }];
  for (const headers of attempts) {
    const r = await api.call('GET', '/v4/organizations', { token: null, headers });
    assert.equal(r.status, 401, JSON.stringify(headers));
    assert.equal(r.body.code, TOKEN_INVALID.code);
    assert.equal(r.body.description, TOKEN_INVALID.description);
    assert.equal(typeof r.body.debug, 'string');
  }
});

test('auth: identity providers and login need no token; everything under /v4 does', async () => {
  const api = await runtime();
  const idps = await api.call('GET', '/v4/identity-providers', { token: null });
  assert.deepEqual([idps.status, idps.body], [200, []]);
  for (const path of ['/v4/user', '/v4/organizations', '/v4/services', '/v4/jobs/x']) {
    assert.equal((await api.call('GET', path, { token: null })).status, 401, path);
  }
});

test('auth: an expired token is refused and its session removed', async (t) => {
  const api = await startApi(t, { sessionTtlMs: 1 });
  const loggedInAt = Date.now();
  await waitFor('the 1 ms session to pass', () => Date.now() > loggedInAt + 1);
  const r = await api.call('GET', '/v4/user');
  assert.equal(r.status, 401);
  assert.equal(r.body.description, TOKEN_INVALID.description);
  assert.equal(await api.rt.context.store.accounts.countSessions(), 0);
});

test('auth: DELETE /session logs out; the token no longer works, and other sessions go on', async () => {
  const api = await runtime();
  const login = await api.call('POST', '/session', { json: ADMIN, token: null });
  assert.equal(login.status, 200);
  const token = login.body.token as string;
  assert.equal((await api.call('GET', '/v4/user', { token })).status, 200);
  const out = await api.call('DELETE', '/session', { token });
  assert.equal(out.status, 204);
  assert.equal((await api.call('GET', '/v4/user', { token })).status, 401);
  assert.equal((await api.call('GET', '/v4/user')).status, 200, 'the file\'s own session is another one');
});

test('auth: login bodies that are not JSON or miss fields get 400, not 500', async () => {
  const api = await runtime();
  const malformed = await api.call('POST', '/session', { body: '{"email":', headers: { 'Content-Type': 'application/json' }, token: null });
  assert.deepEqual([malformed.status, malformed.body.code], [400, 'BadRequest']);
  const missing = await api.call('POST', '/session', { json: { email: ADMIN.email }, token: null });
  assert.equal(missing.status, 400);
  assert.equal(missing.body.code, 'ValidationError');
  assert.match(missing.body.description, /password/);
});

test('auth: tokens and passwords are stored only as hashes', async (t) => {
  const api = await startApi(t);
  // How the rows look in SQLite itself: nothing but hashes.
  const db = sqliteConnection(api.rt.context.store);
  const user = db.prepare('SELECT password_hash AS hash FROM users').get() as { hash: string };
  assert.match(user.hash, /^scrypt\$N=\d+,r=\d+,p=\d+\$/);
  assert.ok(!user.hash.includes(ADMIN.password));
  const sessions = db.prepare('SELECT token_hash AS hash FROM sessions').all() as { hash: string }[];
  assert.equal(sessions.length, 1);
  assert.notEqual(sessions[0].hash, api.token);
  assert.match(sessions[0].hash, /^[0-9a-f]{64}$/);
});

test('auth: passwordHashCost is the scrypt cost of every new hash (bootstrap, new account, changed password); a hash at another cost still checks; out of range is refused', async (t) => {
  const api = await startApi(t, { passwordHashCost: 11 }); // (startApi's own is 10)
  const db = sqliteConnection(api.rt.context.store);
  const hashOf = (email: string) => (db.prepare('SELECT password_hash AS hash FROM users WHERE email = ?').get(email) as { hash: string }).hash;
  assert.match(hashOf(ADMIN.email), /^scrypt\$N=2048,r=8,p=1\$/);
  const made = await api.call('POST', '/v4/users', { json: { email: 'cheap@example.com', role: 'viewer', password: 'cheap-password-1' } });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  assert.match(hashOf('cheap@example.com'), /^scrypt\$N=2048,/);
  assert.equal((await api.call('PUT', '/v4/user/password', { json: { currentPassword: ADMIN.password, password: 'changed-password-1' } })).status, 204);
  assert.match(hashOf(ADMIN.email), /^scrypt\$N=2048,/);
  // A hash made at the default cost (before the setting changed) logs in as it did; a wrong password does not.
  await api.rt.context.store.accounts.createUser('dear@example.com', await hashPassword('dear-password-1'), 'viewer');
  assert.match(hashOf('dear@example.com'), /^scrypt\$N=32768,/);
  assert.equal((await api.call('POST', '/session', { json: { email: 'dear@example.com', password: 'dear-password-1' }, token: null })).status, 200);
  assert.equal((await api.call('POST', '/session', { json: { email: 'dear@example.com', password: 'wrong-password-1' }, token: null })).status, 401);
  assert.equal((await api.call('POST', '/session', { json: { email: 'nobody@example.com', password: 'x' }, token: null })).status, 401);

  // flexd's default: N = 2^15.
  const dataDir = await tempDir(t);
  const byDefault = await createRuntime({ dataDir, port: 0, adminEmail: ADMIN.email, adminPassword: ADMIN.password });
  t.after(() => byDefault.close());
  assert.match((sqliteConnection(byDefault.context.store).prepare('SELECT password_hash AS hash FROM users').get() as { hash: string }).hash, /^scrypt\$N=32768,r=8,p=1\$/);
  for (const passwordHashCost of [9, 21, 14.5]) {
    await assert.rejects(createRuntime({ dataDir: await tempDir(t), port: 0, passwordHashCost }), /passwordHashCost.*10 to 20/, String(passwordHashCost));
  }
});

test('bootstrap: generateAdminPassword makes an admin whose password is returned once and works; a restart makes none', async (t) => {
  const cleanup = cleanupStack(t);
  const dataDir = await tempDir(cleanup);
  const first = await createRuntime({ dataDir, port: 0, generateAdminPassword: true });
  await first.close();
  assert.ok(first.generatedAdmin);
  const { email, password } = first.generatedAdmin;
  assert.equal(email, 'admin@flexd.local');
  assert.ok(password.length >= 24);

  const second = await createRuntime({ dataDir, port: 0, generateAdminPassword: true });
  cleanup.after(() => second.close());
  assert.equal(second.generatedAdmin, undefined, 'returned only on the first start');
  const login = await fetchWithin(`${second.url}/session`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ email, password }) });
  assert.equal(login.status, 200);
});

test('bootstrap: an embedded runtime without an admin password creates no account (that it prints nothing: test/package.test.ts)', async (t) => {
  const cleanup = cleanupStack(t);
  const dataDir = await tempDir(cleanup);
  const rt = await createRuntime({ dataDir, port: 0 });
  cleanup.after(() => rt.close());
  assert.equal(await rt.context.store.accounts.countUsers(), 0);
  assert.equal(rt.generatedAdmin, undefined);
});
