/**
 * Issue 16 item 3: the README's production command, `npx flexd serve --host 0.0.0.0 --port 8080
 * --data-dir /var/lib/flexd`, run as written (only the port and the data dir made free) in a
 * project where flexd is installed from its packed tarball (test/helpers/packed.ts), and stopped by SIGTERM to npx's own PID — what a supervisor
 * tracking one PID sends. npx runs flexd under `sh -c`, which does not pass the signal on: flexd
 * must notice and stop. Afterwards nothing of it runs (no flexd, no replica), the port is free
 * and the data dir opens again. Also: a Ctrl-C (SIGINT to the whole group) drains once, without
 * the launcher's end counting as a second signal.
 *
 * `flexd serve` stopping, one file per launcher or signal path: the drain under load (intake
 * stops, requests in flight finish, replicas stop, exit 0) through the installed bin in
 * test/lifecycle/runtime-process.test.ts (F13, the packed tarball's installed bin); `npm start`
 * with the same SIGTERM to npm and to its group at once in test/serve.test.ts; the README's `npx`
 * command, SIGTERM to npx alone and Ctrl-C here; the stop's log lines in JSON in
 * test/ops/server-log.test.ts.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { createRuntime } from '../src/runtime.ts';
import { CleanupStack, type CleanupContext } from './helpers/cleanup.ts';
import { cleanEnv, scratchProject } from './helpers/packed.ts';
import { tempDir } from './helpers/tmp.ts';
import { waitFor, withDeadline } from './helpers/wait.ts';
import { descendantsOf } from './helpers/processes.ts';
import { deployFixture, killLater, processGone, startRuntime, whoami } from './lifecycle/helpers.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
/** npx resolving the bin, flexd loading, the environment restored: generous on a loaded box. */
const START_TIMEOUT_MS = 90_000;
/** the launcher is looked at once a second; then the drain and the replicas' stop: a hang-catcher at load 20 */
const STOP_TIMEOUT_MS = 60_000;
const target = { service: 'durable', environment: 'Production' };

/** The production command of README.md, which docs/operating.md shows the same. */
async function productionCommand(): Promise<string[]> {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
  const operating = await readFile(join(ROOT, 'docs', 'operating.md'), 'utf8');
  const line = /^npx flexd serve .*$/m.exec(readme)?.[0];
  assert.ok(line, 'README.md has an `npx flexd serve` line');
  assert.ok(operating.includes(line), 'docs/operating.md shows the same command');
  assert.equal(line, 'npx flexd serve --host 0.0.0.0 --port 8080 --data-dir /var/lib/flexd');
  return line.split(' ');
}

describe('serve: the README production command under npx', () => {
  const suite = new CleanupStack();
  after(() => suite.run());
  let command: string[];
  let project: string;
  let dataDir: string;

  before(async () => {
    command = await productionCommand();
    // a project where flexd is installed from its packed tarball, as an operator installs it
    project = await scratchProject(suite, 'flexd-npx-project-');
    dataDir = await tempDir(suite, 'flexd-npx-data-');
    // an environment with a replica to restore, so there is a replica that must not outlive flexd
    const cleanup = new CleanupStack();
    try {
      await deployFixture(await startRuntime(cleanup, {}, dataDir), cleanup, 'versioned', '1.0.0', target);
    } finally {
      await cleanup.run();
    }
  });

  async function start(cleanup: CleanupContext) {
    const args = command.slice(1).map((a, i, all) => (all[i - 1] === '--port' ? '0' : all[i - 1] === '--data-dir' ? dataDir : a));
    const child = spawn(command[0], args, { cwd: project, env: cleanEnv(), detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    let output = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => { output += d; });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => { output += d; });
    const seen = new Map<number, () => void>([[child.pid!, killLater(child.pid!)]]);
    cleanup.after(async () => {
      for (const kill of seen.values()) kill();
    });
    const url = await waitFor('the listening line', () => /flexd listening on http:\/\/0\.0\.0\.0:(\d+)/.exec(output)?.[1], { timeoutMs: START_TIMEOUT_MS })
      .then((port) => `http://127.0.0.1:${port}`);
    const base = `${url}/flex/${target.service}/${target.environment}`;
    const { pid: replica } = await whoami(base, 'a replica answers', { timeoutMs: START_TIMEOUT_MS });
    const tree = await descendantsOf(child.pid!);
    for (const p of tree) seen.set(p.pid, killLater(p.pid));
    const flexd = tree.find((p) => /bin\/flexd(\.js)? serve/.test(p.cmdline) && /^node /.test(p.cmdline));
    assert.ok(flexd, `flexd runs under npx: ${JSON.stringify(tree)}`);
    assert.ok(tree.some((p) => p.pid === replica), 'the replica is flexd\'s');
    return { child, exited, url, replica, flexd: flexd.pid, tree, output: () => output };
  }

  async function assertNothingLeft(s: Awaited<ReturnType<typeof start>>) {
    for (const p of s.tree) await waitFor(`${p.cmdline} (pid ${p.pid}) to be gone`, () => processGone(p.pid), { timeoutMs: STOP_TIMEOUT_MS, intervalMs: 50 });
    const port = Number(new URL(s.url).port);
    const free = createServer();
    await withDeadline('the port to be free again', new Promise<void>((resolve, reject) => {
      free.once('error', reject);
      free.listen(port, '0.0.0.0', () => resolve());
    }), 30_000);
    await new Promise((r) => free.close(r));
    const again = await createRuntime({ dataDir, port: 0 });
    await again.close();
  }

  test('SIGTERM to npx\'s own PID stops flexd and its replicas, and frees the port and the data dir', async (t) => {
    const cleanup = new CleanupStack();
    t.after(() => cleanup.run());
    const s = await start(cleanup);
    process.kill(s.child.pid!, 'SIGTERM');
    await withDeadline('npx to exit', s.exited, STOP_TIMEOUT_MS);
    await waitFor('flexd to stop', () => processGone(s.flexd), { timeoutMs: STOP_TIMEOUT_MS, intervalMs: 50 });
    assert.match(s.output(), /which started flexd, has ended|the shell between npm .* has ended/);
    assert.match(s.output(), /flexd stopped/);
    await assertNothingLeft(s);
  });

  test('Ctrl-C (SIGINT to the whole group) drains once: npx ending afterwards is not a second signal', async (t) => {
    const cleanup = new CleanupStack();
    t.after(() => cleanup.run());
    const s = await start(cleanup);
    process.kill(-s.child.pid!, 'SIGINT');
    await waitFor('flexd to stop', () => processGone(s.flexd), { timeoutMs: STOP_TIMEOUT_MS, intervalMs: 50 });
    assert.match(s.output(), /SIGINT received, draining/);
    assert.match(s.output(), /flexd stopped/);
    assert.doesNotMatch(s.output(), /exiting now|has ended, draining/);
    await assertNothingLeft(s);
  });
});
