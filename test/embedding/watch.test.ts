/**
 * The development loop (issue 20): `rt.watch(dir, target)` and `flexd dev ./service` serve the
 * folder in place (its own files and node_modules; the replica's cwd is the folder), print what
 * the service writes, redeploy on every save, keep the previous version when a save does not
 * start, and leave nothing running once closed (Ctrl-C for flexd dev).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { chmod, readdir, readFile, readlink, realpath, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { createRuntime } from '../../src/runtime.ts';
import { cleanupStack, type CleanupContext } from '../helpers/cleanup.ts';
import { installedFlexdBin } from '../helpers/cli.ts';
import { serveEnv } from '../helpers/serve.ts';
import { tempDir } from '../helpers/tmp.ts';
import { waitFor, withDeadline } from '../helpers/wait.ts';
import { count, DEPLOY_TIMEOUT_MS, projectCopy } from './helpers.ts';

/** A redeploy is a restart (≈200 ms unloaded); this only bounds a hang on a loaded machine. */
const REDEPLOY_TIMEOUT_MS = 60_000;
/** flexd dev's stop after Ctrl-C (its replica's included): a deadline for a hang. */
const STOP_TIMEOUT_MS = 60_000;

/** Changes what embed-counter answers: `calls` counts by `step`. */
async function editStep(dir: string, step: number): Promise<void> {
  const file = join(dir, 'index.js');
  await writeFile(file, (await readFile(file, 'utf8')).replace(/calls \+= \d+;/, `calls += ${step};`));
}

const gone = (pid: number) => { try { process.kill(pid, 0); return false; } catch { return true; } };

test('rt.watch serves the folder in place, redeploys each save, keeps serving through a broken save, and stops on close', async (t) => {
  const cleanup = cleanupStack(t);
  const dir = await projectCopy(cleanup, 'embed-counter');
  const rt = await createRuntime({ dataDir: await tempDir(cleanup), port: 0 });
  cleanup.after(() => rt.close());
  const target = { service: 'live', environment: 'Development' };
  const output: string[] = [];
  const outcomes: unknown[] = [];
  const watcher = await withDeadline('watch', rt.watch(dir, { ...target, onOutput: (line) => output.push(line), onDeploy: (o) => outcomes.push(o) }), DEPLOY_TIMEOUT_MS);
  assert.equal(watcher.version, '1.0.0');
  assert.equal((await count(rt.url, 'live', 'Development')).calls, 1);
  await waitFor('the service output reaches onOutput', () => output.some((l) => l.includes('count called: 1')));

  // recycle and setVariables work on a watched folder too: fresh replicas of it, with the variables.
  assert.equal((await count(rt.url, 'live', 'Development')).calls, 2);
  await withDeadline('recycle a watched folder', rt.recycle(target), REDEPLOY_TIMEOUT_MS);
  assert.equal((await count(rt.url, 'live', 'Development')).calls, 1, 'in-memory state reset');
  await withDeadline('setVariables on a watched folder', rt.setVariables(target, { KEY: 'watched' }), REDEPLOY_TIMEOUT_MS);
  const withKey = await count(rt.url, 'live', 'Development');
  assert.deepEqual([withKey.KEY, withKey.calls], ['watched', 1]);

  // In place: the replica runs in the folder itself, nothing copied.
  const [replica] = (await rt.status(target)).replicas;
  assert.equal(await readlink(`/proc/${replica!.pid}/cwd`), await realpath(dir));

  // One save may reach the watcher as more than one change (a truncate, then the write): wait for
  // what serves, not for a count of redeploys.
  const next = watcher.nextDeploy();
  await editStep(dir, 10);
  const outcome = await withDeadline('redeploy after a save', next, REDEPLOY_TIMEOUT_MS);
  assert.equal(outcome.ok, true, JSON.stringify(outcome));
  assert.ok(typeof outcome.durationMs === 'number' && outcome.durationMs > 0, `the redeploy took ${outcome.durationMs} ms`);
  t.diagnostic(`redeploy after a save: ${outcome.durationMs} ms to serving (load ${(await readFile('/proc/loadavg', 'utf8')).split(' ')[0]})`);
  const saved = await waitFor('the saved code serves', async () => {
    const answer = await count(rt.url, 'live', 'Development');
    return answer.calls % 10 === 0 ? answer : undefined;
  }, { timeoutMs: REDEPLOY_TIMEOUT_MS });
  assert.equal(saved.KEY, 'watched', 'with the variables set before');
  assert.ok(outcomes.length >= 1 && outcomes.every((o) => (o as { ok: boolean }).ok), JSON.stringify(outcomes));

  const file = join(dir, 'index.js');
  await writeFile(file, `${await readFile(file, 'utf8')}\nthis is not javascript(\n`);
  const failed = await withDeadline('a broken save', (async () => {
    for (;;) {
      const o = await watcher.nextDeploy();
      if (!o.ok) return o;
    }
  })(), REDEPLOY_TIMEOUT_MS);
  assert.equal(failed.error?.code, 'StartFailed');
  assert.match(failed.error!.message, /SyntaxError: .+ \(index\.js:\d+\)/);
  assert.equal((await count(rt.url, 'live', 'Development')).calls % 10, 0, 'the previous code keeps serving');

  const pids = (await rt.status(target)).replicas.map((r) => r.pid!);
  assert.ok(pids.length > 0 && pids.every((p) => typeof p === 'number'), `replicas run before close: ${pids}`);
  await watcher.close();
  for (const pid of pids) await waitFor(`replica ${pid} stopped`, () => gone(pid));
  assert.deepEqual((await rt.status(target)).replicas, []);
});

test('flexd dev ./service: serves, prints the service output, redeploys on save, and Ctrl-C leaves nothing running or in the temp dir', async (t) => {
  const cleanup = cleanupStack(t);
  const dir = await projectCopy(cleanup, 'embed-counter');
  const tmp = await tempDir(cleanup, 'flexd-dev-tmp-');
  // As /tmp is: others may pass through (as root the build box then stays in the data dir, deploy/box.ts).
  await chmod(tmp, 0o711);
  const dev = await spawnDev(cleanup, [dir, '--service', 'devsvc'], serveEnv({ TMPDIR: tmp }));
  const { child, exited } = dev;
  const base = await waitFor('the serving line', () => /serving .+ at (http:\/\/\S+)/.exec(dev.stderr)?.[1], { timeoutMs: DEPLOY_TIMEOUT_MS });
  assert.equal(base.replace(/:\d+\//, ':PORT/'), 'http://127.0.0.1:PORT/flex/devsvc/Development');
  const url = base.slice(0, base.indexOf('/flex/'));
  assert.equal((await count(url, 'devsvc', 'Development')).calls, 1);
  await waitFor('the service output on stdout', () => dev.stdout.includes('count called: 1'));

  await editStep(dir, 7);
  await waitFor('the redeploy line', () => /redeployed version 1\.0\.0 in \d+ ms/.test(dev.stderr), { timeoutMs: REDEPLOY_TIMEOUT_MS });
  const answer = await count(url, 'devsvc', 'Development');
  assert.equal(answer.calls % 7, 0, 'the saved code serves');
  // The swap retires the old replica once the new one serves: for a moment after the redeploy line
  // both run (seen at load 25). One must be left; a replica never retired fails here.
  const replicas = await waitFor('one replica left serving the folder after the redeploy', async () => {
    const found = (await readdir('/proc')).filter((p) => /^\d+$/.test(p) && p !== String(child.pid) && isReplicaOf(p, dir)).map(Number);
    return found.length === 1 ? found : undefined;
  }, { timeoutMs: STOP_TIMEOUT_MS });
  child.kill('SIGINT');
  const [code] = await withDeadline('flexd dev exits after SIGINT', exited, STOP_TIMEOUT_MS);
  assert.equal(code, 0, dev.stderr);
  assert.ok(gone(replicas[0]!), `replica ${replicas[0]} stopped before flexd dev exited`);
  assert.deepEqual(await readdir(tmp), [], 'the temporary data dir and run dir are removed');
});

/**
 * `flexd dev --port 0 <args>` as a process of its own, from the installed package (test/helpers/cli.ts:
 * no sources compiled through tsx); what it printed so far in `stdout`/`stderr`; SIGKILLed by `cleanup` if still running.
 */
async function spawnDev(cleanup: CleanupContext, args: string[], env: NodeJS.ProcessEnv) {
  const child = spawn(process.execPath, [await installedFlexdBin(), 'dev', ...args, '--port', '0'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  cleanup.after(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); });
  const dev = { child, exited: once(child, 'exit'), stdout: '', stderr: '' };
  child.stdout.setEncoding('utf8').on('data', (c: string) => { dev.stdout += c; });
  child.stderr.setEncoding('utf8').on('data', (c: string) => { dev.stderr += c; });
  return dev;
}

/** Whether /proc/<pid> is a replica serving `dir` (its command line names the folder). */
function isReplicaOf(pid: string, dir: string): boolean {
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.split('\0').includes(dir) && cmdline.includes('child-');
  } catch {
    return false;
  }
}

test('flexd dev --log-format json: every line it prints, the service\'s and its own (serving, redeploy, a broken save, the stop), is one JSON object', async (t) => {
  const cleanup = cleanupStack(t);
  const dir = await projectCopy(cleanup, 'embed-counter');
  const dev = await spawnDev(cleanup, [dir, '--service', 'jsonsvc', '--log-format', 'json'], serveEnv());
  const { child, exited } = dev;
  const objects = (text: string) => text.split('\n').filter(Boolean).map((line) => {
    const parsed = JSON.parse(line) as Record<string, unknown>;
    assert.equal(typeof parsed, 'object');
    return parsed;
  });
  const serving = await waitFor('the serving line', () => objects(dev.stderr).find((o) => typeof o.url === 'string'), { timeoutMs: DEPLOY_TIMEOUT_MS });
  assert.match(String(serving.msg), /^serving .+ \(version 1\.0\.0\) at http/);
  const url = String(serving.url).slice(0, String(serving.url).indexOf('/flex/'));
  assert.equal((await count(url, 'jsonsvc', 'Development')).calls, 1);
  const output = await waitFor('the service output on stdout', () => objects(dev.stdout).find((o) => String(o.msg).includes('count called: 1')));
  assert.equal(output.source, 'service');

  await editStep(dir, 3);
  await waitFor('the redeploy line', () => objects(dev.stderr).some((o) => /redeployed version 1\.0\.0 in \d+ ms/.test(String(o.msg))), { timeoutMs: REDEPLOY_TIMEOUT_MS });
  const file = join(dir, 'index.js');
  await writeFile(file, `${await readFile(file, 'utf8')}\nthis is not javascript(\n`);
  const broken = await waitFor('the failed redeploy line', () => objects(dev.stderr).find((o) => o.code === 'StartFailed'), { timeoutMs: REDEPLOY_TIMEOUT_MS });
  assert.equal(broken.level, 'error');
  child.kill('SIGINT');
  const [code] = await withDeadline('flexd dev exits after SIGINT', exited, STOP_TIMEOUT_MS);
  assert.equal(code, 0, dev.stderr);
  for (const [name, text] of [['stdout', dev.stdout], ['stderr', dev.stderr]] as const) {
    for (const line of text.split('\n').filter(Boolean)) {
      let parsed: Record<string, unknown>;
      assert.doesNotThrow(() => { parsed = JSON.parse(line); }, `${name}: not JSON: ${line}`);
      assert.ok(typeof parsed!.level === 'string' && typeof parsed!.msg === 'string', `${name}: ${line}`);
    }
  }
  assert.ok(objects(dev.stderr).some((o) => /SIGINT/.test(String(o.msg))), `the stop is said: ${dev.stderr}`);
});
