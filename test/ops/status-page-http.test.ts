/**
 * The status page's edges over plain HTTP (the browser test covers the happy path): cookie
 * flags (Secure under TLS), what an anonymous or cross-site request gets, CSRF on changes,
 * escaping of names, and the security headers.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { createRuntime, type Runtime } from '../../src/runtime.ts';
import { echoProjectAt, TEST_PASSWORD_HASH_COST } from '../api/helpers.ts';
import { cleanupStack, type CleanupContext } from '../helpers/cleanup.ts';
import { tempDir } from '../helpers/tmp.ts';
import { fetchWithin } from '../helpers/fetch-within.ts';
import { hasOpenssl, selfSignedCertificate } from '../helpers/tls.ts';
import { waitFor, withDeadline } from '../helpers/wait.ts';
import { FAULTS_DIR, fixtureCopy } from '../lifecycle/helpers.ts';

/** A deploy of a fixture whose SDK resolves from the repo (no npm install), or a swap, on a loaded machine: catches a hang. */
const DEPLOY_DEADLINE_MS = 120_000;

const ADMIN = { email: 'ops@example.com', password: 'status-page-password' };

async function start(cleanup: CleanupContext, options: Record<string, unknown> = {}): Promise<Runtime> {
  const rt = await createRuntime({ dataDir: await tempDir(cleanup, 'flexd-ui-http-'), port: 0, adminEmail: ADMIN.email, adminPassword: ADMIN.password, passwordHashCost: TEST_PASSWORD_HASH_COST, ...options });
  cleanup.after(() => rt.close());
  return rt;
}

/**
 * One runtime for the tests that keep flexd's default settings (each works in a service of its own);
 * a test that needs other settings (a throttle, a timeout, TLS, no account) starts its own.
 */
const fileCleanup = cleanupStack({ after });
let shared: Promise<Runtime> | undefined;
const sharedRuntime = () => (shared ??= start(fileCleanup));

/** The id of `service`/Development, made by a deploy. */
async function environmentId(rt: Runtime, service: string): Promise<string> {
  const { services } = rt.context.store;
  return (await services.findEnvironment((await services.findService(service))!.id, 'Development'))!.id;
}

async function signIn(rt: Runtime, account: { email: string; password: string } = ADMIN): Promise<{ cookie: string; setCookie: string; csrf: string }> {
  const res = await fetchWithin(`${rt.url}/ui/login`, { method: 'POST', body: new URLSearchParams(account), redirect: 'manual' });
  assert.equal(res.status, 303);
  const setCookie = res.headers.get('set-cookie')!;
  const cookie = setCookie.split(';')[0]!;
  const page = await (await fetchWithin(`${rt.url}/`, { headers: { cookie } })).text();
  const csrf = /<meta name="csrf-token" content="([^"]+)">/.exec(page)![1]!;
  return { cookie, setCookie, csrf };
}

test('status page: the session cookie is HttpOnly and SameSite=Strict, anonymous requests get the sign-in page or 401, and every page sends a strict CSP', async () => {
  const rt = await sharedRuntime();
  const anonymous = await fetchWithin(`${rt.url}/`);
  assert.equal(anonymous.status, 200);
  assert.match(await anonymous.text(), /<input name="password" type="password"/);
  assert.match(anonymous.headers.get('content-security-policy') ?? '', /default-src 'none'; script-src 'nonce-[^']+'/);
  assert.equal(anonymous.headers.get('x-frame-options'), 'DENY');
  assert.equal(anonymous.headers.get('cache-control'), 'no-store');

  for (const path of ['/ui/fragments/overview', '/ui/environments/x/logs']) {
    assert.equal((await fetchWithin(`${rt.url}${path}`)).status, 401, path);
  }
  assert.equal((await fetchWithin(`${rt.url}/ui/environments/x`, { redirect: 'manual' })).status, 303);

  const wrong = await fetchWithin(`${rt.url}/ui/login`, { method: 'POST', body: new URLSearchParams({ ...ADMIN, password: 'nope' }), redirect: 'manual' });
  assert.equal(wrong.headers.get('set-cookie'), null);
  assert.match(await wrong.text(), /Wrong e-mail or password/);

  const { setCookie, cookie } = await signIn(rt);
  assert.match(setCookie, /; HttpOnly/);
  assert.match(setCookie, /; SameSite=Strict/);
  assert.match(setCookie, /; Path=\//);
  assert.doesNotMatch(setCookie, /Secure/, 'plain HTTP: a Secure cookie would never come back');
  // The cookie is not a key to the management API: that takes Authorization only.
  assert.equal((await fetchWithin(`${rt.url}/v4/services`, { headers: { cookie } })).status, 401);

  // Every page and fragment, signed in or refused, sends the policy; each page's script carries that answer's own nonce.
  const nonces: string[] = [];
  for (const [path, withCookie, status] of [['/', true, 200], ['/', true, 200], ['/ui/fragments/overview', true, 200], ['/ui/fragments/overview', false, 401]] as const) {
    const res = await fetchWithin(`${rt.url}${path}`, { headers: withCookie ? { cookie } : {} });
    assert.equal(res.status, status, path);
    const policy = res.headers.get('content-security-policy') ?? '';
    assert.match(policy, /^default-src 'none'; script-src 'nonce-[^']+'.*; frame-ancestors 'none'; base-uri 'none'$/, `${path}: ${policy}`);
    assert.deepEqual([res.headers.get('x-frame-options'), res.headers.get('cache-control')], ['DENY', 'no-store'], path);
    const nonce = /'nonce-([^']+)'/.exec(policy)![1]!;
    nonces.push(nonce);
    const body = await res.text();
    if (path === '/') assert.ok(body.includes(`<script nonce="${nonce}">`), 'the page\'s script has the nonce the policy allows');
  }
  assert.equal(new Set(nonces).size, nonces.length, 'a fresh nonce per answer');
});

test('status page: recycle needs the session\'s CSRF token and this origin; sign-out without the token keeps the session', async (t) => {
  const rt = await sharedRuntime();
  await withDeadline('the deploy', rt.deployDirectory(await echoProjectAt(t, '1.0.0'), { service: 'csrf', environment: 'Development' }), DEPLOY_DEADLINE_MS);
  const envId = await environmentId(rt, 'csrf');
  const { cookie, csrf } = await signIn(rt);
  const recycle = (headers: Record<string, string>) => fetchWithin(`${rt.url}/ui/environments/${envId}/recycle`, { method: 'POST', headers: { cookie, 'content-type': 'application/json', ...headers }, body: '{}' });

  assert.equal((await recycle({})).status, 403, 'no token');
  assert.equal((await recycle({ 'x-csrf-token': 'x'.repeat(csrf.length) })).status, 403, 'a wrong token');
  assert.equal((await recycle({ 'x-csrf-token': csrf, origin: 'https://evil.example' })).status, 403, 'another origin');
  assert.equal((await rt.context.store.jobs.latest(envId))!.type, 'deployService', 'nothing was started');
  const ok = await recycle({ 'x-csrf-token': csrf, origin: rt.url });
  assert.equal(ok.status, 201);
  const { job } = await ok.json() as { job: string };
  assert.equal((await withDeadline('the recycle job', rt.context.deployer.jobs.wait(job), 30_000)).status, 'COMPLETED');

  const rollback = await fetchWithin(`${rt.url}/ui/environments/${envId}/rollback`, { method: 'POST', headers: { cookie, 'x-csrf-token': csrf, 'content-type': 'application/json' }, body: '{"version":"9.9.9"}' });
  assert.equal(rollback.status, 404);

  await fetchWithin(`${rt.url}/ui/logout`, { method: 'POST', headers: { cookie }, body: new URLSearchParams({ csrf: 'forged' }), redirect: 'manual' });
  assert.equal((await fetchWithin(`${rt.url}/ui/fragments/overview`, { headers: { cookie } })).status, 200, 'a forged sign-out ends nothing');
  await fetchWithin(`${rt.url}/ui/logout`, { method: 'POST', headers: { cookie }, body: new URLSearchParams({ csrf }), redirect: 'manual' });
  assert.equal((await fetchWithin(`${rt.url}/ui/fragments/overview`, { headers: { cookie } })).status, 401, 'signed out');
});

test('status page: a viewer sees no recycle or rollback button and is refused them; a deployer gets both (an account from before roles is an admin: test/api/roles.test.ts, migration 3)', async (t) => {
  const cleanup = cleanupStack(t);
  const rt = await sharedRuntime();
  await withDeadline('the deploy', rt.deployDirectory(await echoProjectAt(cleanup, '1.0.0'), { service: 'orders', environment: 'Development' }), DEPLOY_DEADLINE_MS);
  await withDeadline('the deploy', rt.deployDirectory(await echoProjectAt(cleanup, '1.1.0'), { service: 'orders', environment: 'Development' }), DEPLOY_DEADLINE_MS);
  const envId = await environmentId(rt, 'orders');
  const password = 'another-long-password';
  // the accounts as an admin adds them, through the management API
  const login = await fetchWithin(`${rt.url}/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(ADMIN) });
  const { token } = await login.json() as { token: string };
  for (const [email, role] of [['viewer@example.com', 'viewer'], ['deployer@example.com', 'deployer']]) {
    const added = await fetchWithin(`${rt.url}/v4/users`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ email, role, password }) });
    assert.equal(added.status, 201, await added.text());
  }

  const viewer = await signIn(rt, { email: 'viewer@example.com', password });
  const page = await (await fetchWithin(`${rt.url}/ui/environments/${envId}`, { headers: { cookie: viewer.cookie } })).text();
  assert.match(page, /1\.1\.0/);
  assert.doesNotMatch(page, /data-action=/, 'no buttons for a viewer');
  assert.match(page, /viewer@example\.com · viewer/);
  for (const [action, body] of [['recycle', '{}'], ['rollback', '{"version":"1.0.0"}']]) {
    const res = await fetchWithin(`${rt.url}/ui/environments/${envId}/${action}`, { method: 'POST', headers: { cookie: viewer.cookie, 'x-csrf-token': viewer.csrf, 'content-type': 'application/json' }, body });
    assert.equal(res.status, 403, action);
    assert.equal((await res.json() as { code: string }).code, 'InsufficientPermissions');
  }

  const deployer = await signIn(rt, { email: 'deployer@example.com', password });
  const deployerPage = await (await fetchWithin(`${rt.url}/ui/environments/${envId}`, { headers: { cookie: deployer.cookie } })).text();
  assert.match(deployerPage, /data-action="recycle"/);
  assert.match(deployerPage, /data-action="rollback" data-version="1\.0\.0"/);
  const rollback = await fetchWithin(`${rt.url}/ui/environments/${envId}/rollback`, { method: 'POST', headers: { cookie: deployer.cookie, 'x-csrf-token': deployer.csrf, 'content-type': 'application/json' }, body: '{"version":"1.0.0"}' });
  assert.equal(rollback.status, 201);
  const done = await withDeadline('the rollback job', rt.context.deployer.jobs.wait((await rollback.json() as { job: string }).job), 30_000);
  assert.equal(done.status, 'COMPLETED');
  assert.equal(done.userEmail, 'deployer@example.com');

  // After the rollback the page says where the serving version came from, and which offers are newer
  const after = await (await fetchWithin(`${rt.url}/ui/environments/${envId}`, { headers: { cookie: deployer.cookie } })).text();
  assert.match(after, /<p class="origin">Version 1\.0\.0: <span class="origin-rollback">rolled back from 1\.1\.0<\/span> <span class="muted">by deployer@example\.com \d{4}-\d\d-\d\d [\d:]+ UTC<\/span><\/p>/);
  assert.doesNotMatch(after, /last deploy: /, 'the completed deploy of 1.1.0 is not shown as if it served');
  assert.match(after, /data-action="rollback" data-version="1\.1\.0" data-confirm="Serve the newer version 1\.1\.0 of Development instead of 1\.0\.0\?">Roll forward to 1\.1\.0 \(newer\)<\/button>/);
  const overview = await (await fetchWithin(`${rt.url}/ui/fragments/overview`, { headers: { cookie: deployer.cookie } })).text();
  assert.match(overview, /data-label="Serving since"><span class="origin-rollback">rolled back from 1\.1\.0<\/span>/);
  assert.match(overview, /orders \/ Development<\/a>: rolled back from 1\.1\.0 to 1\.0\.0 by deployer@example\.com<\/li>/);

  // A variable and a setting changed through the management API: an event naming them, never the value
  const session = await (await fetchWithin(`${rt.url}/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'deployer@example.com', password }) })).json() as { token: string };
  const auth = { Authorization: `Kinvey ${session.token}`, 'content-type': 'application/json' };
  const sid = (await rt.context.store.services.findService('orders'))!.id;
  const { id: _id, secret: _secret, ...env } = await (await fetchWithin(`${rt.url}/v4/services/${sid}/environments/${envId}`, { headers: auth })).json() as Record<string, any>;
  const put = await fetchWithin(`${rt.url}/v4/services/${sid}/environments/${envId}`, {
    method: 'PUT', headers: auth, body: JSON.stringify({ ...env, environmentVariables: { API_KEY: 'very-secret-value' }, settings: { ...env.settings, requestTimeoutMs: 20_000 } }),
  });
  assert.equal(put.status, 200);
  await withDeadline('the change applied', rt.context.deployer.jobs.wait(put.headers.get('x-flexd-job')!), 30_000);
  const changed = await (await fetchWithin(`${rt.url}/ui/fragments/overview`, { headers: { cookie: deployer.cookie } })).text();
  assert.match(changed, /orders \/ Development<\/a>: changed by deployer@example\.com: variables: API_KEY added; settings: requestTimeoutMs default → 20000<\/li>/);
  assert.match(changed, /orders \/ Development<\/a>: replicas of 1\.0\.0 restarted to apply the change<\/li>/);
  assert.doesNotMatch(changed, /very-secret-value/);

  // Three versions, the middle one serving: one offer is older, one newer
  await withDeadline('the deploy', rt.deployDirectory(await echoProjectAt(cleanup, '1.2.0'), { service: 'orders', environment: 'Development' }), DEPLOY_DEADLINE_MS);
  const middle = await fetchWithin(`${rt.url}/ui/environments/${envId}/rollback`, { method: 'POST', headers: { cookie: deployer.cookie, 'x-csrf-token': deployer.csrf, 'content-type': 'application/json' }, body: '{"version":"1.1.0"}' });
  await withDeadline('the second rollback', rt.context.deployer.jobs.wait((await middle.json() as { job: string }).job), 30_000);
  const offers = await (await fetchWithin(`${rt.url}/ui/environments/${envId}`, { headers: { cookie: deployer.cookie } })).text();
  assert.match(offers, />Roll back to 1\.0\.0 \(older\)</);
  assert.match(offers, />Roll forward to 1\.2\.0 \(newer\)</);
  assert.match(offers, /rolled back from 1\.2\.0/);
});

test('status page: failed sign-ins on the page throttle the account, for the page and for POST /session alike (the reverse: test/api/roles.test.ts)', async (t) => {
  const cleanup = cleanupStack(t);
  const rt = await start(cleanup, { loginFailuresPerAccount: 2 });
  const attempt = async (password: string) => (await fetchWithin(`${rt.url}/ui/login`, { method: 'POST', body: new URLSearchParams({ email: ADMIN.email, password }), redirect: 'manual' }));
  assert.match(await (await attempt('wrong-1')).text(), /Wrong e-mail or password/);
  assert.match(await (await attempt('wrong-2')).text(), /Wrong e-mail or password/);
  const throttled = await attempt(ADMIN.password);
  assert.equal(throttled.headers.get('set-cookie'), null, 'not even the right password, until the window passes');
  assert.match(await throttled.text(), /Too many failed sign-ins. Try again in \d+ s/);
  const api = await fetchWithin(`${rt.url}/session`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(ADMIN) });
  assert.equal(api.status, 429, 'the API\'s sign-in counts the page\'s failures');
});

test('status page: the overview counts a timed-out request as an error and a crashed replica as a restart', async (t) => {
  const cleanup = cleanupStack(t);
  const rt = await start(cleanup, { requestTimeoutMs: 1_000 });
  await withDeadline('the deploy', rt.deployDirectory(join(FAULTS_DIR, 'versioned'), { service: 'orders', environment: 'Development' }), DEPLOY_DEADLINE_MS);
  const { cookie } = await signIn(rt);
  const row = async () => (await (await fetchWithin(`${rt.url}/ui/fragments/overview`, { headers: { cookie } })).text());
  assert.match(await row(), /data-label="Errors">0 <span class="muted">of 0</);
  assert.match(await row(), /data-label="Restarts">0</);

  // The handler answers after 30 s, far past the 1 s timeout, so a stalled machine cannot let the answer win.
  const slow = await fetchWithin(`${rt.url}/flex/orders/Development/_flexFunctions/slow`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"body":{"ms":30000}}' });
  assert.equal(slow.status, 504);
  assert.match(await row(), /data-label="Errors"><span class="bad">1<\/span> <span class="muted">of 1</);

  const pool = rt.context.supervisor.pool((await rt.context.store.services.listEnvironments())[0]!.id)!;
  process.kill(pool.describe()[0]!.pid!, 'SIGKILL');
  // the exit is counted when the pool sees it; the deadline only catches a hang
  await waitFor('the restart on the overview', async () => /data-label="Restarts"><span class="bad">1</.test(await row()), { timeoutMs: 60_000, intervalMs: 100 });
  assert.match(await row(), /<p class="summary">1 environment: <span class="s-online">1 online<\/span><\/p>/);

  // A failed deploy: the environment page says why, the previous version still serving.
  await assert.rejects(withDeadline('the failing deploy', rt.deployDirectory(fixtureCopy(cleanup, 'throws-at-start', '2.0.0'), { service: 'orders', environment: 'Development' }), DEPLOY_DEADLINE_MS), /failed to start/);
  const envId = (await rt.context.store.services.listEnvironments())[0]!.id;
  const page = await (await fetchWithin(`${rt.url}/ui/environments/${envId}`, { headers: { cookie } })).text();
  assert.match(page, /<summary class="bad">Why the last deploy failed<\/summary><pre>[^<]*failed to start/);
  assert.match(await row(), /data-label="Version" class="version">1\.0\.0</);

  // What happened, newest first, on the overview.
  const events = [...(await row()).matchAll(/<li class="(bad)?"><time>[^<]+<\/time> <a href="[^"]+">orders \/ Development<\/a>: ([^<]+)<\/li>/g)].map((m) => m[2]!);
  assert.match(events[0]!, /^deploy of 2\.0\.0 failed: The new version failed to start/);
  assert.match(events[1]!, /^replica \w+ ended \(crash: killed by SIGKILL\); restarted$/);
  assert.match(events.at(-1)!, /^deployed 1\.0\.0 in \d+\.\d s$/);
});

test('status page: a flexd without accounts says how to make one on its sign-in page', async (t) => {
  const cleanup = cleanupStack(t);
  const rt = await createRuntime({ dataDir: await tempDir(cleanup, 'flexd-ui-noaccount-'), port: 0 });
  cleanup.after(() => rt.close());
  assert.match(await (await fetchWithin(`${rt.url}/`)).text(), /no account yet: start it with <code>FLEXD_ADMIN_EMAIL<\/code>/);
  const withAdmin = await sharedRuntime();
  assert.doesNotMatch(await (await fetchWithin(`${withAdmin.url}/`)).text(), /no account yet/);
});

test('status page: service and environment names are escaped', async () => {
  const rt = await sharedRuntime();
  // Names the management API takes (it refuses "/", so no closing tags): made as an admin makes them.
  const login = await fetchWithin(`${rt.url}/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(ADMIN) });
  const auth = { Authorization: `Kinvey ${(await login.json() as { token: string }).token}`, 'content-type': 'application/json' };
  const svc = await fetchWithin(`${rt.url}/v4/services`, { method: 'POST', headers: auth, body: JSON.stringify({ name: '<img src=x onerror=alert(1)>', type: 'internal' }) });
  assert.equal(svc.status, 201, await svc.clone().text());
  const env = await fetchWithin(`${rt.url}/v4/services/${(await svc.json() as { id: string }).id}/environments`, { method: 'POST', headers: auth, body: JSON.stringify({ name: '"><b>bold', secret: 'env-secret' }) });
  assert.equal(env.status, 201, await env.clone().text());
  const { cookie } = await signIn(rt);
  const page = await (await fetchWithin(`${rt.url}/`, { headers: { cookie } })).text();
  assert.ok(page.includes('&lt;img src=x onerror=alert(1)&gt;'), page);
  assert.ok(page.includes('&quot;&gt;&lt;b&gt;bold'), page);
  assert.doesNotMatch(page, /<img src=x|<b>bold/);
});

test('status page: under TLS the session cookie is Secure', { skip: !hasOpenssl() && 'openssl is not installed' }, async (t) => {
  const cleanup = cleanupStack(t);
  const { cert, key } = await selfSignedCertificate(cleanup);
  const rt = await start(cleanup, { tlsCert: cert, tlsKey: key });
  const body = new URLSearchParams(ADMIN).toString();
  const setCookie = await withDeadline('an HTTPS sign-in', new Promise<string>((resolve, reject) => {
    const req = request(`${rt.url}/ui/login`, { method: 'POST', ca: readFileSync(cert), headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      resolve(String(res.headers['set-cookie']));
    });
    req.on('error', reject);
    req.end(body);
  }));
  assert.match(setCookie, /; Secure/);
  assert.match(setCookie, /; HttpOnly; SameSite=Strict/);
});
