/**
 * SPEC §2 and issue 10: `npm start -- --port 0 --data-dir DIR` serves, prints its URL, and stops
 * cleanly; the same SIGTERM delivered twice at once (npm's PID and its group, as a terminal or
 * Docker's init may) does not cut the drain short.
 *
 * `flexd serve` stopping, one test per launcher or signal path: the drain under load (intake
 * stops, requests in flight finish, replicas stop, exit 0) through the installed bin in
 * test/lifecycle/runtime-process.test.ts (F13); `npm start` with SIGTERM to npm and its group at
 * once here; SIGTERM to the launcher's PID alone (npm → sh → flexd: flexd notices the launcher
 * ended, src/cli/launcher-watch.ts) and Ctrl-C with the README's `npx` command (`npm exec`, the
 * same chain) in test/serve-npx.test.ts; the stop's log lines in JSON in test/ops/server-log.test.ts.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { cleanupStack, type CleanupStack } from './helpers/cleanup.ts';
import { SERVE_START_TIMEOUT_MS } from './helpers/serve.ts';
import { tempDir } from './helpers/tmp.ts';
import { waitFor, withDeadline } from './helpers/wait.ts';
import { killGroupLater } from './helpers/kill-later.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
/** A drain and the stop of npm, sh and flexd on a loaded machine: a deadline for a hang, not a measure. */
const STOP_TIMEOUT_MS = 60_000;

interface Started { child: ChildProcess; url: string; output: () => string; exited: Promise<unknown> }

/** `npm start` in its own process group, as a terminal or a process manager starts it. */
async function npmStart(cleanup: CleanupStack): Promise<Started> {
  const dataDir = await tempDir(cleanup);
  const child = spawn('npm', ['start', '--', '--port', '0', '--data-dir', dataDir], {
    cwd: ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, FLEXD_ADMIN_EMAIL: 'admin@example.com', FLEXD_ADMIN_PASSWORD: 'serve-test-password' },
  });
  const exited = once(child, 'exit');
  cleanup.after(killGroupLater(child.pid!));
  let output = '';
  child.stderr!.on('data', (d) => { output += d; });
  const url = await withDeadline('the listening line', new Promise<string>((resolve) => {
    child.stdout!.on('data', (d) => {
      output += d;
      const m = /flexd listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (m) resolve(m[1]);
    });
  }), SERVE_START_TIMEOUT_MS);
  return { child, url, output: () => output, exited };
}

function saying(s: Started, pattern: RegExp): Promise<void> {
  return withDeadline(`output matching ${pattern}`, new Promise<void>((resolve) => {
    const check = () => { if (pattern.test(s.output())) resolve(); };
    check();
    s.child.stderr!.on('data', check);
  }), STOP_TIMEOUT_MS);
}

/** True while any process of the group (npm, flexd) is alive. */
function groupAlive(pid: number): boolean {
  try { process.kill(-pid, 0); return true; } catch { return false; }
}

async function groupGone(pid: number): Promise<void> {
  // polling a PID: there is no event for another process's exit
  await waitFor('every process of the group gone', () => !groupAlive(pid), { timeoutMs: STOP_TIMEOUT_MS, intervalMs: 50 });
}

it('serve: npm start passes flags through, prints the URL, answers, never prints the admin password; the same SIGTERM to npm and to its whole group at once drains an in-flight request instead of exiting at once, then stops everything and frees the port', async (t) => {
  const cleanup = cleanupStack(t);
  const s = await npmStart(cleanup);
  assert.equal((await fetch(`${s.url}/healthz`)).status, 200);
  const login = await fetch(`${s.url}/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'admin@example.com', password: 'serve-test-password' }) });
  assert.equal(login.status, 200, 'the admin given in the environment logs in');

  // A login whose body is still arriving: in flight until its last byte.
  const body = JSON.stringify({ email: 'admin@example.com', password: 'wrong-password' });
  const req = request(`${s.url}/session`, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } });
  const answered = new Promise<number>((resolve, reject) => { req.on('response', (res) => { res.resume(); resolve(res.statusCode!); }); req.on('error', reject); });
  await new Promise<void>((resolve) => req.write(body.slice(0, 10), () => resolve()));
  // The server's loop has read our headers by the time it answers a later request.
  assert.equal((await fetch(`${s.url}/healthz`)).status, 200);

  process.kill(s.child.pid!, 'SIGTERM');
  process.kill(-s.child.pid!, 'SIGTERM');
  await saying(s, /SIGTERM received, draining/);
  req.end(body.slice(10));
  assert.equal(await withDeadline('the in-flight answer', answered, STOP_TIMEOUT_MS), 401);
  await withDeadline('npm exits after SIGTERM', s.exited, STOP_TIMEOUT_MS);
  await groupGone(s.child.pid!);
  assert.match(s.output(), /flexd stopped/);
  assert.doesNotMatch(s.output(), /exiting now/, 'the second SIGTERM of the same stop is not taken for a second signal');
  assert.doesNotMatch(s.output(), /serve-test-password/, 'the admin password is never printed');
  await assert.rejects(fetch(`${s.url}/healthz`), (err: Error & { cause?: { code?: string } }) => err.cause?.code === 'ECONNREFUSED', 'the port is closed: the connection is refused');
});
