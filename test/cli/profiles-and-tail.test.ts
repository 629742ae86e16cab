/**
 * Issue 16 items 4 and 5 through the installed `flexd` command (test/helpers/cli.ts) against a real runtime: global options
 * before the command, profiles (list, use, show, delete), whoami, a login that says which profile
 * is now active, a second login that leaves the first session (and a `logs --follow` on it)
 * running, and `flexd logs` showing the newest lines while kinvey-cli's paging stays as it was.
 * The steps share one runtime and run in order.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createRuntime, type Runtime } from '../../src/runtime.ts';
import { CleanupStack } from '../helpers/cleanup.ts';
import { flexdCli, type FlexdCli } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';
import { waitFor, withDeadline } from '../helpers/wait.ts';
import { TEST_PASSWORD_HASH_COST } from '../helpers/password-cost.ts';

const ADMIN = { email: 'ops@example.com', password: 'correct horse battery' };
const VIEWER = { email: 'watcher@example.com', password: 'viewer password 1' };
const LINES = 150;
/** An API call answered at once, on a loaded machine. */
const CALL_TIMEOUT_MS = 30_000;

/** GET with a session token, with a deadline. */
const get = (url: string, token: string) => withDeadline(`GET ${url}`, fetch(url, { headers: { Authorization: `Kinvey ${token}` } }), CALL_TIMEOUT_MS);

describe('flexd CLI: global options, profiles, whoami, logs tail', () => {
  const cleanup = new CleanupStack();
  after(() => cleanup.run());
  let rt: Runtime;
  let home: string;
  let cli: FlexdCli;
  let environmentId: string;
  let serviceId: string;

  before(async () => {
    rt = await createRuntime({ dataDir: await tempDir(cleanup, 'flexd-profiles-data-'), port: 0, adminEmail: ADMIN.email, adminPassword: ADMIN.password, passwordHashCost: TEST_PASSWORD_HASH_COST });
    cleanup.after(() => rt.close());
    home = await tempDir(cleanup, 'flexd-profiles-home-');
    cli = await flexdCli(home);
  });

  test('before any login, whoami and profile use fail in one line that says what to do', async () => {
    assert.match(await cli.fails(['whoami']), /^flexd: not logged in; run flexd login$/);
    assert.match(await cli.fails(['profile', 'use', 'nope']), /no profile "nope" \(there are none yet: flexd login saves one\)/);
    assert.match(await cli.ok(['profile', 'list']), /No profiles yet/);
  });

  test('login --profile says that profile is now the active one, and which one it replaced', async () => {
    const first = await cli.ok(['login', '--profile', 'ops', '--host', rt.url, '--email', ADMIN.email, '--password', ADMIN.password]);
    assert.match(first, new RegExp(`^Logged in to ${rt.url} as ${ADMIN.email} \\(profile ops, now the active profile: later commands run as it\\)\\.\\n$`));
    await cli.json(['user', 'add', VIEWER.email, '--role', 'viewer', '--password-stdin'], { stdin: `${VIEWER.password}\n` });
    const second = await cli.ok(['login', '--profile', 'watch', '--host', rt.url, '--email', VIEWER.email, '--password', VIEWER.password]);
    assert.match(second, /\(profile watch, now the active profile instead of ops: later commands run as it\)/);
  });

  test('global options stand before the command as well as after it', async () => {
    const me = await cli.json(['whoami']);
    assert.deepEqual(me, { email: VIEWER.email, role: 'viewer', host: rt.url, profile: 'watch' });
    const before = await cli.ok(['--output', 'json', '--profile', 'ops', 'whoami']);
    assert.deepEqual(JSON.parse(before).result, { email: ADMIN.email, role: 'admin', host: rt.url, profile: 'ops' });
    const mixed = await cli.ok(['--profile=ops', 'whoami', '--output', 'json']);
    assert.equal(JSON.parse(mixed).result.email, ADMIN.email);

    const created = await cli.json(['--profile', 'ops', 'create', 'tails']);
    environmentId = created.svcEnvId;
    serviceId = created.id;
    const status = await cli.ok(['--output', 'json', 'status', '--service', 'tails']);
    assert.equal(JSON.parse(status).result.status, 'NEW');
    assert.match(await cli.ok(['--help']), /Usage: flexd <command>/);
    assert.match(await cli.ok(['--output', 'json', 'help', 'logs']), /--tail N/);

    assert.match(await cli.fails(['--env', 'x', 'status']), /"--env" before the command is not a global option/);
    assert.match(await cli.fails(['--output']), /option --output needs a value/);
    assert.match(await cli.fails(['stauts']), /unknown command "stauts" \(did you mean "status"\?\)/);
    const failed = await cli.run(['--output', 'json', 'status', '--service', 'missing']);
    assert.equal(failed.code, 1);
    assert.equal(failed.stderr, '');
    assert.equal(failed.stdout.trimEnd().split('\n').length, 1, 'a failure under --output json before the command is one JSON line');
    assert.equal(JSON.parse(failed.stdout).error.code, 'ServiceNotFound');
  });

  test('profile list, use and show: the active one marked, no tokens shown', async () => {
    const listed = await cli.json(['profile', 'list']);
    assert.deepEqual(listed.map((p: any) => [p.profile, p.email, p.active, p.session]), [
      ['ops', ADMIN.email, false, 'logged in'], ['watch', VIEWER.email, true, 'logged in'],
    ]);
    const table = await cli.ok(['profile', 'list']);
    assert.match(table, /^\*\s+watch\s/m);
    assert.doesNotMatch(table, /token/i);
    assert.match(await cli.ok(['profile', 'use', 'ops']), new RegExp(`Active profile: ops \\(${ADMIN.email} on ${rt.url}\\)`));
    assert.equal((await cli.json(['whoami'])).email, ADMIN.email, 'later commands run as the profile chosen');
    const shown = await cli.json(['profile', 'show']);
    assert.deepEqual(shown, { profile: 'ops', active: true, host: rt.url, email: ADMIN.email, session: 'logged in' });
    assert.match(await cli.fails(['profile', 'use']), /needs a profile name/);
    assert.match(await cli.fails(['profile', 'rename', 'x']), /unknown action/);
  });

  test('logs without paging flags end with the newest line; -n/--tail pick how many; --number/--page/--from/--to page as kinvey-cli does', async () => {
    // Through the runtime's log writer, one second apart (so --from below has lines on both sides of it).
    const firstAt = Date.now() - (LINES + 60) * 1000;
    const at = (i: number) => new Date(firstAt + i * 1000).toISOString();
    for (let i = 1; i <= LINES; i++) rt.context.logs.write({ environmentId, containerId: 'tailtesttail', threshold: 'info', message: `line ${i}`, timestamp: at(i) });
    await rt.context.logs.flush();
    const messages = (rows: Array<{ message: string }>) => rows.map((r) => r.message);
    const newest = await cli.json(['logs', '--service', 'tails']);
    assert.equal(newest.length, 100);
    assert.equal(messages(newest).at(-1), `line ${LINES}`, 'the last line printed is the newest');
    assert.equal(messages(newest)[0], `line ${LINES - 99}`, 'oldest of the newest first');
    assert.deepEqual(messages(await cli.json(['logs', '--service', 'tails', '-n', '2'])), [`line ${LINES - 1}`, `line ${LINES}`]);
    assert.deepEqual(messages(await cli.json(['logs', '--service', 'tails', '--tail', '3'])), [`line ${LINES - 2}`, `line ${LINES - 1}`, `line ${LINES}`]);
    const table = (await cli.ok(['logs', '--service', 'tails', '-n', '5'])).trimEnd().split('\n');
    assert.equal(table[0], 'Count: 5');
    assert.match(table.at(-1)!, new RegExp(`line ${LINES}$`));

    // kinvey-cli's paging: page 1 holds the oldest lines
    assert.deepEqual(messages(await cli.json(['logs', '--service', 'tails', '--number', '2'])), ['line 1', 'line 2']);
    assert.deepEqual(messages(await cli.json(['logs', '--service', 'tails', '--number', '2', '--page', '3'])), ['line 5', 'line 6']);
    const from = newest[50].timestamp;
    assert.equal(from, at(LINES - 49));
    assert.deepEqual(messages(await cli.json(['logs', '--service', 'tails', '--from', from, '--number', '2000'])),
      Array.from({ length: 50 }, (_, i) => `line ${LINES - 49 + i}`), '--from: the lines from that instant on, oldest first');

    assert.match(await cli.fails(['logs', '--service', 'tails', '-n', '2', '--page', '2']), /--tail \(-n\) shows the newest lines and cannot be combined with --page/);
    assert.match(await cli.fails(['logs', '--service', 'tails', '--tail', 'ten']), /--tail must be a whole number from 0 to 2000/);
    assert.match(await cli.fails(['logs', '--service', 'tails', '--tail', '0']), /--tail 0 shows nothing without --follow/);

    // the API kinvey-cli calls is unchanged; tail is an extension beside it
    const token = JSON.parse(await readProfileFile()).profiles.ops.token as string;
    const url = (query: string) => `${rt.url}/v4/services/${serviceId}/environments/${environmentId}/logs${query}`;
    const paged = await (await get(url('?limit=2'), token)).json() as Array<{ message: string }>;
    assert.deepEqual(messages(paged), ['line 1', 'line 2']);
    const tailed = await (await get(url('?tail=2'), token)).json() as Array<{ message: string }>;
    assert.deepEqual(messages(tailed), [`line ${LINES - 1}`, `line ${LINES}`]);
    const clash = await get(url('?tail=2&page=2'), token);
    assert.equal(clash.status, 400);
    assert.equal((await clash.json() as { code: string }).code, 'InvalidLogQuery');
  });

  test('a second login of the same profile leaves the first session working: a logs --follow on it goes on printing', async () => {
    const follower = cli.start(['logs', '--service', 'tails', '--follow', '--tail', '1']);
    cleanup.after(() => { if (follower.exitCode === null) follower.kill('SIGKILL'); });
    let followed = '';
    follower.stdout!.setEncoding('utf8').on('data', (d: string) => { followed += d; });
    follower.stderr!.setEncoding('utf8').on('data', (d: string) => { followed += d; });
    await waitFor('--follow to print the newest line first', () => new RegExp(`line ${LINES}\\n`).test(followed), { timeoutMs: 60_000 });
    assert.doesNotMatch(followed, new RegExp(`line ${LINES - 1}\\n`), '--tail 1: only the newest line before following');
    const oldToken = JSON.parse(await readProfileFile()).profiles.ops.token as string;

    await cli.ok(['login', '--profile', 'ops', '--email', ADMIN.email, '--password', ADMIN.password]);
    const newToken = JSON.parse(await readProfileFile()).profiles.ops.token as string;
    assert.notEqual(newToken, oldToken, 'each login its own session');
    const me = await get(`${rt.url}/v4/user`, oldToken);
    assert.equal(me.status, 200, 'the first session still works');

    rt.context.logs.note(environmentId, 'tailtesttail', 'after the second login');
    await rt.context.logs.flush();
    await waitFor('the follower to print a line written after the second login', () => /after the second login/.test(followed), { timeoutMs: 60_000 });
    assert.equal(follower.exitCode, null, 'still following');
    follower.kill('SIGINT');
  });

  test('profile delete ends that profile\'s session and forgets it', async () => {
    const token = JSON.parse(await readProfileFile()).profiles.watch.token as string;
    assert.match(await cli.ok(['profile', 'delete', 'watch']), /Deleted profile: watch/);
    assert.equal((await get(`${rt.url}/v4/user`, token)).status, 401);
    assert.deepEqual((await cli.json(['profile', 'list'])).map((p: any) => p.profile), ['ops']);
  });

  async function readProfileFile(): Promise<string> {
    const { readFile } = await import('node:fs/promises');
    return readFile(join(home, '.flexd', 'profiles.json'), 'utf8');
  }
});
