/**
 * The status page in a real browser (test/helpers/browser.ts): sign-in, the overview with a
 * deployed service ONLINE at its version, live log lines (escaped), a recycle with its
 * confirmation, a wrong password's error, a phone-sized screen, and not one console error; then
 * Sign out clicked while a status poll is held in flight. Both tests share one browser and one
 * runtime (each signs in with a browser context of its own).
 * Screenshots the overview; `FLEXD_UPDATE_SCREENSHOT=1` keeps it as docs/status-page.png (the
 * README's picture), otherwise it goes to a temporary dir so a test run leaves the tree clean.
 */
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test, type TestContext } from 'node:test';
import type { Browser, Page, Request, Route } from 'playwright-core';
import { createRuntime, type Runtime } from '../../src/runtime.ts';
import { echoProjectAt, TEST_PASSWORD_HASH_COST } from '../api/helpers.ts';
import { launchBrowser } from '../helpers/browser.ts';
import { fetchWithin } from '../helpers/fetch-within.ts';
import { cleanupStack } from '../helpers/cleanup.ts';
import { tempDir } from '../helpers/tmp.ts';
import { waitFor, withDeadline } from '../helpers/wait.ts';

/** A deploy of a fixture whose SDK resolves from the repo (no npm install), or a swap, on a loaded machine: catches a hang. */
const DEPLOY_DEADLINE_MS = 120_000;

const ADMIN = { email: 'ops@example.com', password: 'status-page-password' };
const DOCS_SCREENSHOT = fileURLToPath(new URL('../../docs/status-page.png', import.meta.url));
/** A page step (navigation, a poll of the page's script) on a loaded 2-core box. */
const STEP_MS = 15_000;
/** A wait on the held poll, the form's submit or the sign-out request: it only catches a hang. */
const HANG_MS = 60_000;

interface Shared { browser: Browser; rt: Runtime; dataDir: string }
const fileCleanup = cleanupStack({ after });
let shared: Promise<Shared | string> | undefined;
/** The browser and the runtime, started on first use; or why there is no browser (the test skips). */
const sharedSetup = () => (shared ??= (async () => {
  const browser = await launchBrowser(fileCleanup);
  if (typeof browser === 'string') return browser;
  const dataDir = await tempDir(fileCleanup, 'flexd-ui-');
  const rt = await createRuntime({ dataDir, port: 0, adminEmail: ADMIN.email, adminPassword: ADMIN.password, passwordHashCost: TEST_PASSWORD_HASH_COST });
  fileCleanup.after(() => rt.close());
  return { browser, rt, dataDir };
})());

/** The shared setup for test `t`, or undefined when there is no browser (`t` is skipped, saying why). */
async function setupOrSkip(t: TestContext): Promise<Shared | undefined> {
  const setup = await sharedSetup();
  if (typeof setup !== 'string') return setup;
  t.skip(setup);
  return undefined;
}

/** The page's console errors and warnings, and uncaught errors, as they come. */
function consoleProblems(page: Page): string[] {
  const problems: string[] = [];
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  return problems;
}

test('status page: sign in, see the deployed service ONLINE with its version, watch live log lines arrive escaped, recycle with a confirmation, no console errors', async (t) => {
  const cleanup = cleanupStack(t);
  const setup = await setupOrSkip(t);
  if (!setup) return;
  const { browser, rt, dataDir } = setup;
  await withDeadline('the deploy', rt.deployDirectory(await echoProjectAt(cleanup, '1.4.2'), { service: 'orders', environment: 'Production', secret: 'env-secret' }), DEPLOY_DEADLINE_MS);
  await withDeadline('the deploy', rt.deployDirectory(await echoProjectAt(cleanup, '0.9.0'), { service: 'orders', environment: 'Staging', secret: 'env-secret' }), DEPLOY_DEADLINE_MS);
  const echo = (env: string) => fetchWithin(`${rt.url}/flex/orders/${env}/_flexFunctions/echo`, {
    method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Auth-Key': 'env-secret' }, body: '{}',
  }).then((r) => r.status);
  for (let i = 0; i < 12; i++) assert.equal(await echo('Production'), 200);
  for (let i = 0; i < 3; i++) assert.equal(await echo('Staging'), 200);

  const context = await browser.newContext({ viewport: { width: 1100, height: 300 } });
  cleanup.after(() => context.close());
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_MS);
  const consoleErrors = consoleProblems(page);

  // A wrong password shows an error and no session.
  await page.goto(`${rt.url}/`);
  await page.fill('input[name=email]', ADMIN.email);
  await page.fill('input[name=password]', 'not-the-password');
  await page.click('button[type=submit]');
  assert.match(await page.textContent('[role=alert]') ?? '', /Wrong e-mail or password/);
  assert.equal(await page.inputValue('input[name=email]'), ADMIN.email, 'the e-mail stays filled in');
  assert.deepEqual((await context.cookies()).filter((c) => c.name === 'flexd_session'), []);

  // The right one signs in: an HttpOnly, SameSite=Strict cookie, and the overview.
  await page.fill('input[name=password]', ADMIN.password);
  await page.click('button[type=submit]');
  await page.waitForSelector('table.overview');
  const [cookie] = (await context.cookies()).filter((c) => c.name === 'flexd_session');
  assert.ok(cookie, 'a session cookie');
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.sameSite, 'Strict');
  assert.equal(await page.evaluate(() => document.cookie), '', 'the page\'s script cannot read the session');

  const row = page.locator('table.overview tbody tr', { hasText: 'Production' });
  assert.equal((await row.locator('[data-label=Service]').textContent())?.trim(), 'orders');
  assert.equal((await row.locator('[data-label=Status]').textContent())?.trim(), 'ONLINE');
  assert.equal((await row.locator('[data-label=Version]').textContent())?.trim(), '1.4.2');
  assert.equal((await row.locator('[data-label=Replicas]').textContent())?.trim(), '1');
  assert.match(await row.locator('[data-label=Memory]').textContent() ?? '', /^\d+ MB$/);
  assert.match(await row.locator('[data-label=Errors]').textContent() ?? '', /0 of 12/);
  assert.equal((await page.locator('table.overview tbody tr', { hasText: 'Staging' }).locator('[data-label=Version]').textContent())?.trim(), '0.9.0');

  assert.match(await page.locator('ol.events li').first().textContent() ?? '', /orders \/ Staging: deployed 0\.9\.0 in/);

  // The overview refreshes itself: more requests show up without a reload.
  for (let i = 0; i < 5; i++) await echo('Production');
  await row.locator('[data-label=Errors]', { hasText: 'of 17' }).waitFor();
  const screenshot = process.env.FLEXD_UPDATE_SCREENSHOT === '1' ? DOCS_SCREENSHOT : join(dataDir, 'status-page.png');
  await page.screenshot({ path: screenshot, fullPage: true });
  assert.ok(statSync(screenshot).size > 5_000, 'a screenshot with something on it');

  // The environment page: versions, the recent log, then live lines, escaped.
  await page.click('a:text("Production")');
  await page.waitForSelector('ol.log li');
  assert.ok(await page.locator('ol.log li', { hasText: 'echo called on version 1.4.2' }).count() >= 12);
  assert.equal(await page.locator('table >> text=1.4.2').count() > 0, true);
  const envId = (await rt.context.store.services.findEnvironment((await rt.context.store.services.findService('orders'))!.id, 'Production'))!.id;
  const hostile = '<img src=x onerror="window.pwned=1"> & </li><b>bold</b>';
  rt.context.logs.note(envId, 'attacker', hostile);
  await echo('Production');
  await page.locator('ol.log li', { hasText: '<img src=x' }).waitFor();
  await page.locator('ol.log li', { hasText: 'echo called on version 1.4.2' }).nth(12).waitFor();
  assert.equal(await page.locator('ol.log img, ol.log b').count(), 0, 'a log line is text, never HTML');
  assert.equal(await page.evaluate(() => (window as { pwned?: number }).pwned), undefined);
  // Reloaded, the same line comes from the server's rendering: still text.
  await page.reload();
  await page.locator('ol.log li', { hasText: '<img src=x' }).waitFor();
  assert.equal(await page.locator('ol.log img, ol.log b').count(), 0);

  // Recycle asks first, then starts a job; the replicas are replaced.
  const before = rt.context.supervisor.pool(envId)!.describe()[0]!.containerId;
  const dialogs: string[] = [];
  page.on('dialog', (d) => { dialogs.push(d.message()); void d.accept(); });
  await page.click('button[data-action=recycle]');
  await page.locator('.message', { hasText: 'started (job' }).waitFor();
  assert.deepEqual(dialogs, ['Restart every replica of Production?']);
  await waitFor('the recycle to replace the replica', () => { const now = rt.context.supervisor.pool(envId)!.describe(); return now.length > 0 && now.every((r) => r.containerId !== before && r.state === 'ready'); }, { timeoutMs: STEP_MS });

  // A phone: the overview fits the screen's width.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${rt.url}/`);
  await page.waitForSelector('table.overview');
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1), 'no sideways scrolling on a phone');

  // Sign out (and its race with a poll in flight): the next test.
  assert.deepEqual(consoleErrors, []);
});

test('status page: Sign out clicked while a status poll is in flight is sent only after that poll was answered (200, no 401 console error), ends the session and shows the sign-in form', async (t) => {
  const cleanup = cleanupStack(t);
  const setup = await setupOrSkip(t);
  if (!setup) return;
  const { browser, rt } = setup;
  const context = await browser.newContext();
  cleanup.after(() => context.close());
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_MS);
  const consoleErrors = consoleProblems(page);

  // The browser's network is the outside world here, so the test holds it: the overview's first
  // poll waits at the browser's edge until Sign out was clicked, then goes on to flexd's own server.
  // The sign-out request waits there too until the poll was let go, so that a page that sends it at
  // once (the race) shows it in `order` every time instead of only when the machine is slow.
  const order: string[] = [];
  let holdNext = true;
  let pollRequest: Request | undefined;
  let heldPoll!: (route: Route) => void;
  const pollHeld = new Promise<Route>((resolve) => { heldPoll = resolve; });
  let releasePoll!: () => void;
  const pollReleased = new Promise<void>((resolve) => { releasePoll = resolve; });
  let signOutSeen!: () => void;
  const signOutSent = new Promise<void>((resolve) => { signOutSeen = resolve; });
  await page.route('**/ui/fragments/overview', (route) => {
    if (!holdNext) {
      order.push('another poll');
      return route.continue();
    }
    holdNext = false;
    pollRequest = route.request();
    order.push('poll held');
    heldPoll(route);
  });
  // Whether the held poll's answer had reached the page when the sign-out form was sent: from the
  // moment the poll is held, the overview's children include a hidden field of the Sign out form,
  // which the poll's answer replaces. The form's body says whether the field was still there.
  let signOutBody: string | null | undefined;
  await page.route('**/ui/logout', async (route) => {
    order.push('sign-out sent');
    signOutBody = route.request().postData();
    signOutSeen();
    await pollReleased;
    await route.continue();
  });
  // Whether the page held the submitted form back: if it did not, the sign-out request is on its
  // way, and the test waits for it before it lets the poll go.
  let formSubmitted!: (heldBack: boolean) => void;
  const submitted = new Promise<boolean>((resolve) => { formSubmitted = resolve; });
  await page.exposeFunction('reportSubmit', (heldBack: boolean) => formSubmitted(heldBack));

  await page.goto(`${rt.url}/`);
  await page.fill('input[name=email]', ADMIN.email);
  await page.fill('input[name=password]', ADMIN.password);
  await page.click('button[type=submit]');
  await page.waitForSelector('table.overview');
  const [session] = (await context.cookies()).filter((c) => c.name === 'flexd_session');
  assert.ok(session, 'signed in');
  // Listens on window, so it runs after the page's own submit listener on document.
  await page.evaluate(() => window.addEventListener('submit', (e) => (window as unknown as { reportSubmit(h: boolean): void }).reportSubmit(e.defaultPrevented)));

  const poll = await withDeadline('the overview\'s first poll', pollHeld, HANG_MS);
  await page.evaluate(() => {
    document.querySelector('form[action="/ui/logout"]')!.id = 'sign-out-form';
    document.querySelector('[data-refresh]')!.insertAdjacentHTML('beforeend', '<input type="hidden" name="before-the-held-poll" value="1" form="sign-out-form">');
  });
  // A click that starts a navigation waits for it, and the sign-out request may be held: awaited below.
  const click = page.click('button:text("Sign out")');
  if (!await withDeadline('the Sign out form\'s submit event', submitted, HANG_MS)) await withDeadline('the sign-out request', signOutSent, HANG_MS);
  order.push('poll let go');
  releasePoll();
  await poll.continue();
  await withDeadline('the sign-out request', signOutSent, HANG_MS);
  await click;
  await page.waitForSelector('input[name=password]');

  assert.deepEqual(order, ['poll held', 'poll let go', 'sign-out sent'], 'Sign out waits for the poll in flight');
  assert.match(signOutBody ?? '', /^csrf=/, 'the Sign out form\'s body');
  assert.doesNotMatch(signOutBody!, /before-the-held-poll/, 'the poll\'s answer reached the page before Sign out was sent');
  assert.equal((await pollRequest!.response())?.status(), 200, 'the held poll was answered while the session lived');
  assert.deepEqual((await context.cookies()).filter((c) => c.name === 'flexd_session'), [], 'the cookie is cleared');
  const afterSignOut = await fetchWithin(`${rt.url}/ui/fragments/overview`, { headers: { Cookie: `flexd_session=${session.value}` } });
  assert.equal(afterSignOut.status, 401, 'the session ended on the server');
  assert.deepEqual(consoleErrors, []);
});
