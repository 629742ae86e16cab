/**
 * `createRuntime({ temporary: true })` (issue 20): a data dir of its own in the OS temp dir,
 * removed by close(); after a `kill -9` of the process that ran it, the next runtime removes what
 * it left (its data dir and run dir) — nothing stays in the temp dir, nothing stays running.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, copyFile, readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { createRuntime } from '../../src/runtime.ts';
import { cleanupStack } from '../helpers/cleanup.ts';
import { cleanEnv, scratchProject } from '../helpers/packed.ts';
import { tempDir } from '../helpers/tmp.ts';
import { waitFor, withDeadline } from '../helpers/wait.ts';
import { DEPLOY_TIMEOUT_MS, projectCopy } from './helpers.ts';

const SCRIPT = fileURLToPath(new URL('../fixtures/embed/temporary-runtime.mjs', import.meta.url));

/** Everything in the temp dir (the fixture runs compiled flexd with plain node: nothing else writes there). */
const leftovers = (dir: string) => readdir(dir);

/**
 * Starts the fixture with TMPDIR=`tmp`, with plain node in `scratch` (flexd installed from its packed
 * tarball: no sources compiled on the way, about a second of CPU less per start); resolves once its
 * runtime is up (and deployed).
 */
async function startTemporaryRuntime(t: { after(fn: () => unknown): void }, scratch: string, tmp: string, project?: string) {
  const env: NodeJS.ProcessEnv = { ...cleanEnv(), TMPDIR: tmp };
  const child = spawn(process.execPath, [join(scratch, 'temporary-runtime.mjs'), ...(project ? [project] : [])], { cwd: scratch, env, stdio: ['pipe', 'pipe', 'pipe'] });
  t.after(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => { out += c; });
  child.stderr.setEncoding('utf8').on('data', (c: string) => { err += c; });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  await withDeadline('the temporary runtime is up', Promise.race([
    waitFor('its ready line', () => out.includes('"ready":true'), { timeoutMs: DEPLOY_TIMEOUT_MS }),
    exited.then((code) => { throw new Error(`exited ${code}: ${err}`); }),
  ]), DEPLOY_TIMEOUT_MS + 5_000);
  return { child, exited, dataDir: (JSON.parse(out.trim().split('\n').at(-1)!) as { dataDir: string }).dataDir };
}

test('a temporary runtime makes its data dir in the temp dir and close() removes it', async (t) => {
  const cleanup = cleanupStack(t);
  const rt = await createRuntime({ temporary: true, port: 0 });
  cleanup.after(() => rt.close());
  const { dataDir } = rt.context;
  assert.match(basename(dataDir), /^flexd-data-/);
  assert.ok((await stat(dataDir)).isDirectory());
  await rt.close();
  await assert.rejects(stat(dataDir), { code: 'ENOENT' });
  await assert.rejects(createRuntime({ temporary: true, dataDir: await tempDir(cleanup), port: 0 }), { code: 'ValidationError' });
  assert.equal(dirname(dataDir), (await import('node:os')).tmpdir());
});

test('after kill -9 of a process with a temporary runtime, the next runtime removes its data dir and run dir; nothing keeps running', async (t) => {
  const cleanup = cleanupStack(t);
  const tmp = await tempDir(cleanup, 'flexd-tmpdir-');
  await chmod(tmp, 0o1777); // as /tmp is
  const project = await projectCopy(cleanup, 'embed-counter');
  const scratch = await scratchProject(cleanup, 'flexd-temporary-user-');
  await copyFile(SCRIPT, join(scratch, 'temporary-runtime.mjs'));
  const killed = await startTemporaryRuntime(cleanup, scratch, tmp, project);
  assert.ok((await leftovers(tmp)).includes(basename(killed.dataDir)));
  // Where its replicas' working dirs are (supervisor/sandbox.ts records it in the data dir).
  const runDir = (await readFile(join(killed.dataDir, 'run-dir'), 'utf8')).trim();
  const replicas = (await readdir('/proc')).filter((p) => /^\d+$/.test(p)).filter((p) => {
    try {
      return cmdline(p).includes(tmp) && cmdline(p).includes('child-');
    } catch {
      return false;
    }
  });
  assert.equal(replicas.length, 1, 'its replica runs');
  killed.child.kill('SIGKILL');
  await killed.exited;
  for (const pid of replicas) await waitFor(`replica ${pid} ends with its runtime`, () => { try { process.kill(Number(pid), 0); return false; } catch { return true; } });
  assert.ok((await leftovers(tmp)).includes(basename(killed.dataDir)), 'the killed runtime left its data dir');
  assert.ok(existsSync(runDir), `the killed runtime left its run dir ${runDir}`);
  t.diagnostic(`run dir: ${runDir}`);

  const next = await startTemporaryRuntime(cleanup, scratch, tmp);
  const left = await leftovers(tmp);
  assert.ok(!left.includes(basename(killed.dataDir)), `the killed runtime's data dir is removed: ${left}`);
  assert.ok(!existsSync(runDir), `the killed runtime's run dir ${runDir} is removed: ${left}`);
  assert.ok(left.includes(basename(next.dataDir)));
  next.child.stdin.write('close\n');
  assert.equal(await withDeadline('the next runtime closes', next.exited, 60_000), 0);
  assert.deepEqual(await leftovers(tmp), []);
});

function cmdline(pid: string): string {
  return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
}
