/** SPEC §2: `npm start -- --port 0 --data-dir DIR` serves, prints its URL, and stops cleanly on SIGTERM. */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { cleanupStack } from './helpers/cleanup.ts';
import { tempDir } from './helpers/tmp.ts';
import { withDeadline } from './helpers/wait.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

it('serve: npm start passes --port 0 and --data-dir through, prints the URL, answers, and drains on SIGTERM', async (t) => {
  const cleanup = cleanupStack(t);
  const dataDir = await tempDir(cleanup);
  // Its own process group, so the signal reaches npm, tsx and flexd as it would from a terminal.
  const child = spawn('npm', ['start', '--', '--port', '0', '--data-dir', dataDir], {
    cwd: ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, FLEXD_ADMIN_EMAIL: 'admin@example.com', FLEXD_ADMIN_PASSWORD: 'serve-test-password' },
  });
  const exited = once(child, 'exit');
  cleanup.after(() => { if (child.exitCode === null) try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ } });
  let output = '';
  child.stderr.on('data', (d) => { output += d; });
  const url = await withDeadline('the listening line', new Promise<string>((resolve) => {
    child.stdout.on('data', (d) => {
      output += d;
      const m = /flexd listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (m) resolve(m[1]);
    });
  }), 30_000);
  assert.doesNotMatch(output, /serve-test-password/, 'the admin password is never printed');
  const health = await fetch(`${url}/healthz`);
  assert.equal(health.status, 200);
  const login = await fetch(`${url}/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'admin@example.com', password: 'serve-test-password' }) });
  assert.equal(login.status, 200);

  // npm itself dies of the signal (exit code null); flexd, behind it, drains and stops.
  // test/lifecycle/runtime-process.test.ts checks flexd's own exit code 0 without npm in between.
  process.kill(-child.pid!, 'SIGTERM');
  await withDeadline('exit after SIGTERM', exited, 15_000);
  await withDeadline('flexd saying it drains', new Promise<void>((resolve) => {
    const check = () => { if (/SIGTERM received, draining/.test(output)) resolve(); };
    check();
    child.stderr.on('data', check);
  }), 5_000);
  await withDeadline('the port closed', (async () => {
    for (;;) {
      try { await fetch(`${url}/healthz`); } catch { return; }
      await new Promise((r) => setImmediate(r));
    }
  })(), 15_000);
});
