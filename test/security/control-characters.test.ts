/**
 * Issue 15, finding 8: a service whose start fails writes terminal control sequences (a title
 * change, a screen clear, a carriage return, an 8-bit CSI, a right-to-left override) to its
 * output and its error. flexd passes that text on — in the job's progress (kinvey-cli prints it),
 * the environment's status `reason`, the status page — with every control character shown as a
 * visible escape (src/logs/visible-text.ts), never raw.
 */
import assert from 'node:assert/strict';
import { symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { terminalSafeJson, visibleControls } from '../../src/logs/visible-text.ts';
import { ADMIN, startApi, type Api } from '../api/helpers.ts';
import { CleanupStack, cleanupStack } from '../helpers/cleanup.ts';
import { flexdCli } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';
import { waitFor } from '../helpers/wait.ts';
import { REPO_DIR } from '../lifecycle/helpers.ts';

/** Every control character flexd must never pass on raw (tab and line feed aside). */
const RAW_CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/;
const HOSTILE_OUTPUT = '\x1b]0;owned\x07\x1b[2J\x1b[1;1Hall good\rDeployed\u009b31m \u202eevil';

describe('control characters on one runtime', () => {
  const suite = new CleanupStack();
  after(() => suite.run());
  let api: Api;
  before(async () => { api = await startApi(suite); });

  test('a failed start\'s control characters reach the job\'s progress, the status reason and the status page as visible escapes only', async (t) => {
    const dir = await tempDir(t, 'flexd-controls-');
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'controls', version: '1.0.0', main: 'index.js', dependencies: { 'kinvey-flex-sdk': '^3.3.0' } }));
    writeFileSync(join(dir, 'index.js'), `process.stdout.write(${JSON.stringify(`${HOSTILE_OUTPUT}\n`)});\nthrow new Error(${JSON.stringify(HOSTILE_OUTPUT)});\n`);
    // Its dependencies resolve from the repo (no npm run): only the start fails.
    symlinkSync(join(REPO_DIR, 'node_modules'), join(dir, 'node_modules'), 'dir');
    const target = await api.createEnvironment('controls');
    await assert.rejects(api.rt.deployDirectory(dir, { service: target.serviceId, environment: target.environmentId }));
    const latest = await api.rt.context.store.jobs.latest(target.environmentId);
    assert.ok(latest, 'the deploy made a job');

    const job = await api.call('GET', `/v4/jobs/${latest.id}`);
    const progress = JSON.stringify(job.body);
    assert.equal(job.body.status, 'ERROR', progress);
    assert.equal(typeof job.body.progress, 'string', progress);
    const parsedProgress: string = job.body.progress;
    assert.ok(parsedProgress.includes('\\x1b]0;owned\\x07'), `the service's output is shown, escaped: ${parsedProgress.slice(0, 800)}`);
    assert.doesNotMatch(parsedProgress, RAW_CONTROL, 'no raw control character in the job');

    const status = await api.call('GET', `/v4/services/${target.serviceId}/environments/${target.environmentId}/status`);
    assert.equal(typeof status.body.reason, 'string', JSON.stringify(status.body));
    assert.ok(status.body.reason.includes('\\x1b'), status.body.reason);
    assert.doesNotMatch(status.body.reason, RAW_CONTROL, 'no raw control character in the status reason');

    const login = await fetch(`${api.rt.url}/ui/login`, { method: 'POST', body: new URLSearchParams(ADMIN), redirect: 'manual' });
    const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
    for (const page of ['/', `/ui/environments/${target.environmentId}`]) {
      const html = await (await fetch(`${api.rt.url}${page}`, { headers: { cookie } })).text();
      assert.ok(html.includes('\\x1b'), `${page} shows the failed start's text, escaped: ${html.slice(0, 2000)}`);
      assert.doesNotMatch(html, RAW_CONTROL, `no raw control character on ${page}`);
    }
  });

  test('a service\'s log lines with terminal escapes reach the log API, flexd logs (table, --follow, --output json) and the status page as visible escapes; --raw / ?raw=true pass them as written', async (t) => {
    const cleanup = cleanupStack(t);
    const dir = await tempDir(cleanup, 'flexd-controls-logs-');
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'noisy', version: '1.0.0', main: 'index.js', dependencies: { 'kinvey-flex-sdk': '^3.3.0' } }));
    writeFileSync(join(dir, 'index.js'), `'use strict';
  process.stdout.write(${JSON.stringify(`start ${HOSTILE_OUTPUT}\n`)});
  require('kinvey-flex-sdk').service({ sharedSecret: 'env-secret' }, (err, flex) => {
    if (err) throw err;
    flex.functions.register('noise', (context, complete) => {
      console.error(${JSON.stringify(`noise ${HOSTILE_OUTPUT}`)});
      complete().setBody({}).ok().next();
    });
  });
  `);
    symlinkSync(join(REPO_DIR, 'node_modules'), join(dir, 'node_modules'), 'dir');
    const target = await api.createEnvironment('noisy');
    await api.rt.deployDirectory(dir, { service: target.serviceId, environment: target.environmentId });
    const logsPath = `/v4/services/${target.serviceId}/environments/${target.environmentId}/logs`;
    const hasStart = (lines: Array<{ message: string }>) => lines.some((l) => l.message.startsWith('start '));
    await waitFor('the start line in the log', async () => hasStart((await api.call('GET', logsPath)).body), { timeoutMs: 30_000 });

    // The JSON API: valid JSON, each message escaped; ?raw=true as written.
    const res = await fetch(`${api.rt.url}${logsPath}`, { headers: { Authorization: `Kinvey ${api.token}` } });
    const text = await res.text();
    assert.doesNotMatch(text, RAW_CONTROL, 'no raw control character in the answer\'s bytes');
    const lines = JSON.parse(text) as Array<{ message: string }>;
    const start = lines.find((l) => l.message.startsWith('start '))!;
    assert.equal(start.message, `start ${visibleControls(HOSTILE_OUTPUT)}`);
    const rawRes = await fetch(`${api.rt.url}${logsPath}?raw=true`, { headers: { Authorization: `Kinvey ${api.token}` } });
    const rawText = await rawRes.text();
    assert.doesNotMatch(rawText, /[\x7f-\x9f\u202a-\u202e]/, 'even raw, the JSON spells C1 and bidi controls as escapes');
    const raw = JSON.parse(rawText) as Array<{ message: string }>;
    assert.ok(raw.some((l) => l.message === `start ${HOSTILE_OUTPUT}`), 'raw=true gives the bytes as written');
    assert.equal((await api.call('GET', `${logsPath}?raw=maybe`)).status, 400);

    // flexd's command line, as an operator runs it in a terminal.
    const home = await tempDir(cleanup, 'flexd-controls-home-');
    const cli = await flexdCli(home);
    await cli.ok(['login', '--host', api.rt.url, '--email', ADMIN.email], { env: { FLEXD_PASSWORD: ADMIN.password } });
    const table = await cli.ok(['logs', '--service', 'noisy']);
    assert.doesNotMatch(table, RAW_CONTROL, 'flexd logs prints no raw control character');
    assert.ok(table.includes('start \\x1b]0;owned\\x07\\x1b[2J'), table);
    const asJson = await cli.ok(['logs', '--service', 'noisy', '--output', 'json']);
    assert.doesNotMatch(asJson, RAW_CONTROL);
    assert.ok((JSON.parse(asJson).result as Array<{ message: string }>).some((l) => l.message === start.message));
    assert.ok((await cli.ok(['logs', '--service', 'noisy', '--raw'])).includes(`\x1b]0;owned\x07`), 'with --raw the bytes pass');
    const rawJson = await cli.ok(['logs', '--service', 'noisy', '--raw', '--output', 'json']);
    assert.doesNotMatch(rawJson, RAW_CONTROL, '--raw --output json: valid JSON, every control character escaped by JSON');
    assert.ok((JSON.parse(rawJson).result as Array<{ message: string }>).some((l) => l.message === `start ${HOSTILE_OUTPUT}`));

    // --follow: a line written while it follows arrives escaped.
    const follower = cli.start(['logs', '--service', 'noisy', '--follow']);
    cleanup.after(() => { follower.kill('SIGKILL'); });
    let followed = '';
    follower.stdout!.setEncoding('utf8').on('data', (d: string) => { followed += d; });
    await waitFor('--follow to print the start line', () => followed.includes('start '), { timeoutMs: 30_000 });
    const call = await fetch(`${api.rt.url}/flex/${target.serviceId}/${target.environmentId}/_flexFunctions/noise`, {
      method: 'POST', headers: { 'content-type': 'application/json', 'x-auth-key': 'env-secret' }, body: '{}',
    });
    assert.equal(call.status, 200);
    await waitFor('--follow to print the new line', () => followed.includes('noise '), { timeoutMs: 30_000 });
    assert.doesNotMatch(followed, RAW_CONTROL, 'flexd logs --follow prints no raw control character');
    assert.ok(followed.includes('noise \\x1b]0;owned\\x07'), followed);

    // The status page and the lines it polls for.
    const login = await fetch(`${api.rt.url}/ui/login`, { method: 'POST', body: new URLSearchParams(ADMIN), redirect: 'manual' });
    const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
    const page = await (await fetch(`${api.rt.url}/ui/environments/${target.environmentId}`, { headers: { cookie } })).text();
    assert.ok(page.includes('start \\x1b]0;owned'), 'the page shows the line, escaped');
    assert.doesNotMatch(page, RAW_CONTROL);
    const polled = await (await fetch(`${api.rt.url}/ui/environments/${target.environmentId}/logs?after=0`, { headers: { cookie } })).text();
    assert.doesNotMatch(polled, RAW_CONTROL, 'the lines the page polls for are escaped');
    assert.ok((JSON.parse(polled) as Array<{ message: string }>).some((l) => l.message === start.message));
  });
});

test('terminalSafeJson: the same JSON, with DEL, C1, bidi controls and separators spelled as escapes', () => {
  const value = { m: `x${HOSTILE_OUTPUT}\u2028\u007f` };
  const json = terminalSafeJson(JSON.stringify(value));
  assert.doesNotMatch(json, RAW_CONTROL);
  assert.doesNotMatch(json, /[\u2028\u2029]/);
  assert.deepEqual(JSON.parse(json), value);
});

test('visibleControls: C0, DEL, C1 and bidirectional controls become escapes; line feeds, tabs and other text stay', () => {
  assert.equal(visibleControls('a\tb\nc'), 'a\tb\nc');
  assert.equal(visibleControls('\x1b[2J\r\x00\x7f\u009b\u202e\u2066ü✓'), '\\x1b[2J\\r\\x00\\x7f\\x9b\\u202e\\u2066ü✓');
});
