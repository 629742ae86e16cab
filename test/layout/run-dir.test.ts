/**
 * Issue 20, "nothing outside dataDir": a runtime's run folder (its replicas' folders) is inside
 * the data dir unless `runDir` asks for another place, and what a runtime killed with -9 left
 * behind is removed by the next runtime that finds it: one sharing the same runDir (whatever
 * its data dir), or one on the same data dir (wherever the dead one's runDir was). A live
 * runtime's folder is never touched.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createRuntime } from '../../src/index.ts';
import { currentOwner, sweepDeadRunDirs } from '../../src/supervisor/run-dir.ts';
import { cleanupStack, type CleanupStack } from '../helpers/cleanup.ts';
import { installedFlexdBin } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';
import { withDeadline } from '../helpers/wait.ts';
import { DEPLOY_TIMEOUT_MS, REPO_DIR } from '../lifecycle/helpers.ts';

const FIXTURE = fileURLToPath(new URL('../fixtures/layout/cwd/', import.meta.url));
/** Starting a runtime and a deploy in a child process on a loaded machine. */
const CHILD_READY_MS = DEPLOY_TIMEOUT_MS + 60_000;

/** A runtime in a process of its own: the installed package (compiled, no tsx compiling flexd's sources in each child). */
const runtimeScript = (flexdMain: string) => `
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRuntime } from ${JSON.stringify(flexdMain)};
const [dataDir, runDir, fixture] = process.argv.slice(2);
const rt = await createRuntime({ dataDir, port: 0, ...(runDir ? { runDir } : {}) });
await rt.deployDirectory(fixture, { service: 'cwd', environment: 'Development' });
const res = await fetch(rt.url + '/flex/cwd/Development/_flexFunctions/read', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
process.stdout.write(JSON.stringify({ status: res.status, runFolder: readFileSync(join(dataDir, 'run-dir'), 'utf8').trim() }) + '\\n');
setInterval(() => {}, 60_000);
`;

/** A runtime in a process of its own that deploys the fixture; resolves with its run folder, then is killed with -9. */
async function runtimeKilledHard(cleanup: CleanupStack, script: string, dataDir: string, runDir: string): Promise<string> {
  const child = spawn(process.execPath, [script, dataDir, runDir, FIXTURE], { cwd: REPO_DIR, stdio: ['ignore', 'pipe', 'pipe'] });
  cleanup.after(() => { child.kill('SIGKILL'); });
  let out = '';
  let err = '';
  child.stdout.on('data', (c) => { out += c; });
  child.stderr.on('data', (c) => { err += c; });
  const line = await withDeadline('the child runtime to deploy', new Promise<string>((resolve, reject) => {
    child.stdout.on('data', () => { if (out.includes('\n')) resolve(out.split('\n')[0]!); });
    child.once('exit', (code) => reject(new Error(`the child runtime exited with ${code}: ${err.slice(-2000)}`)));
  }), CHILD_READY_MS);
  const { status, runFolder } = JSON.parse(line) as { status: number; runFolder: string };
  assert.equal(status, 200);
  const exited = new Promise((resolve) => child.once('exit', resolve));
  process.kill(child.pid!, 'SIGKILL');
  await withDeadline('the killed runtime to be gone', exited, 10_000);
  assert.ok(existsSync(runFolder), 'kill -9 left its run folder behind');
  return runFolder;
}

test('run folders: inside the data dir by default; in runDir when asked; a runtime killed with -9 is swept by the next one sharing its runDir or its data dir, a live one never', async (t) => {
  const cleanup = cleanupStack(t);
  const work = await tempDir(cleanup, 'flexd-run-dirs-');
  chmodSync(work, 0o711); // as root, replicas pass through it to the shared runDir
  const script = join(work, 'runtime.mjs');
  writeFileSync(script, runtimeScript(join(dirname(dirname(await installedFlexdBin())), 'dist', 'index.js')));
  const shared = join(work, 'shared-run');
  const elsewhere = join(work, 'elsewhere-run');

  // Two runtimes on other data dirs, both with the same runDir; one is killed with -9.
  const dead = await runtimeKilledHard(cleanup, script, join(work, 'data-dead'), shared);
  assert.equal(dirname(dead), shared);
  const live = await createRuntime({ dataDir: join(work, 'data-live'), port: 0, runDir: shared });
  cleanup.after(() => live.close());
  assert.equal(existsSync(dead), false, 'the next runtime with the same runDir swept the dead one\'s folder');
  const liveFolder = readFileSync(join(work, 'data-live', 'run-dir'), 'utf8').trim();
  assert.equal(dirname(liveFolder), shared);
  const third = await createRuntime({ dataDir: join(work, 'data-third'), port: 0, runDir: shared });
  await third.close();
  assert.ok(existsSync(liveFolder), 'a live runtime\'s folder is kept');
  assert.deepEqual(readdirSync(shared), [liveFolder.slice(shared.length + 1)], 'a runtime that stopped cleanly removed its own');

  // The same data dir, started again without runDir: it sweeps where the dead one's folder was, and runs inside the data dir.
  const moved = await runtimeKilledHard(cleanup, script, join(work, 'data-moved'), elsewhere);
  const again = await createRuntime({ dataDir: join(work, 'data-moved'), port: 0 });
  cleanup.after(() => again.close());
  assert.equal(existsSync(moved), false, 'the data dir\'s last run folder was swept where it was');
  const inside = readFileSync(join(work, 'data-moved', 'run-dir'), 'utf8').trim();
  assert.equal(dirname(inside), join(work, 'data-moved', 'run'));
});

test('run folders: as root, a data dir under a folder closed to other accounts puts them in the temp dir, says so, and still serves', { skip: process.getuid?.() !== 0 && 'replicas switch accounts only as root' }, async (t) => {
  const cleanup = cleanupStack(t);
  const closed = await tempDir(cleanup, 'flexd-closed-'); // mkdtemp: 0700
  const warnings: string[] = [];
  const record = (_fields: Record<string, unknown>, msg: string) => { warnings.push(msg); };
  const rt = await createRuntime({ dataDir: join(closed, 'data'), port: 0, logger: { debug() {}, info() {}, warn: record, error: record } });
  let closing: Promise<void> | undefined;
  const close = () => (closing ??= rt.close());
  cleanup.after(close);
  const runFolder = readFileSync(join(closed, 'data', 'run-dir'), 'utf8').trim();
  assert.equal(dirname(runFolder), tmpdir());
  assert.ok(warnings.some((w) => w.includes(closed) && /closed to other accounts/.test(w)), warnings.join('\n'));
  await withDeadline('deploy', rt.deployDirectory(FIXTURE, { service: 'cwd', environment: 'Development' }), DEPLOY_TIMEOUT_MS);
  const res = await fetch(`${rt.url}/flex/cwd/Development/_flexFunctions/read`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  assert.equal(res.status, 200, await res.text());
  await close();
  assert.equal(existsSync(runFolder), false, 'a clean stop removes it from the temp dir');
});

test('run folders: an owner is gone when its pid is dead or reused by a later process; one on another host, or alive, is kept', async (t) => {
  const cleanup = cleanupStack(t);
  const parent = await tempDir(cleanup, 'flexd-sweep-');
  const me = currentOwner();
  const folders = {
    alive: me,
    reused: { ...me, startTicks: String(Number(me.startTicks ?? 0) + 1) }, // this pid, started at another time: another process
    dead: { ...me, pid: 2 ** 22 + 17 }, // above pid_max: no such process
    otherHost: { ...me, pid: 2 ** 22 + 17, host: `${me.host}-elsewhere` },
  };
  for (const [name, owner] of Object.entries(folders)) {
    mkdirSync(join(parent, `flexd-run-${name}`));
    writeFileSync(join(parent, `flexd-run-${name}`, 'owner.json'), JSON.stringify(owner));
  }
  mkdirSync(join(parent, 'flexd-run-norecord')); // a folder without an owner: not known to be dead
  mkdirSync(join(parent, 'unrelated'));
  const removed = sweepDeadRunDirs(parent).map((d) => d.slice(parent.length + 1)).sort();
  assert.deepEqual(removed, ['flexd-run-dead', 'flexd-run-reused']);
  assert.deepEqual(readdirSync(parent).sort(), ['flexd-run-alive', 'flexd-run-norecord', 'flexd-run-otherHost', 'unrelated']);
});
