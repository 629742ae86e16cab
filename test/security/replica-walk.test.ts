/**
 * Issue 15, finding 3, a replica walking out of its project: a project ships links (`self -> .`,
 * `up -> ..`, `lib/root -> ..`, `abs -> /`) and its service reads files outside the project by
 * every spelling — a link to the project root followed by `..` (lexically inside the project,
 * so Node's permission model lets it pass), absolute and relative paths, links it makes itself
 * in its writable folder. None reads anything: the artifact holds no link (src/deploy/pack-script.ts)
 * and the permission model refuses the rest. Run as root (the account is a wall too) and as
 * `nobody` (the permission model is the only wall; the database is readable by flexd's account).
 */
import assert from 'node:assert/strict';
import { chmodSync, chownSync, cpSync, lstatSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { cleanupStack, CleanupStack } from '../helpers/cleanup.ts';
import { spawnServe } from '../helpers/serve.ts';
import { installedFlexdBin } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';
import { withDeadline } from '../helpers/wait.ts';
import { callFunction, DEPLOY_TIMEOUT_MS, REPO_DIR, startRuntime } from '../lifecycle/helpers.ts';

const NOBODY = 65534;
const asRoot = process.getuid?.() === 0;
const WALKER = fileURLToPath(new URL('../fixtures/security/walker/', import.meta.url));
const SECRET_TEXT = 'outside-the-project';
/** `flexd serve` (the installed package: no tsx cache of nobody's own to fill) restoring the walker, on a loaded 2-core machine. */
const NOBODY_START_MS = 90_000;

/** A copy of the walker shipping links that lead out of it, its dependencies resolving from the repo. */
async function walkerWithLinks(cleanup: CleanupStack): Promise<string> {
  const dir = await tempDir(cleanup, 'flexd-walker-');
  cpSync(WALKER, dir, { recursive: true });
  symlinkSync('.', join(dir, 'self'));
  symlinkSync('..', join(dir, 'up'));
  symlinkSync('..', join(dir, 'lib', 'root'));
  symlinkSync('/', join(dir, 'abs'));
  symlinkSync(join(REPO_DIR, 'node_modules'), join(dir, 'node_modules'), 'dir');
  chmodSync(dir, 0o755);
  return dir;
}

/** A file any account may read by its mode: only flexd's walls keep a replica from it. */
async function outsideSecret(cleanup: CleanupStack): Promise<string> {
  const dir = await tempDir(cleanup, 'flexd-outside-');
  chmodSync(dir, 0o755);
  const file = join(dir, 'secret.txt');
  writeFileSync(file, SECRET_TEXT, { mode: 0o644 });
  return file;
}

function assertWalledIn(answer: any, targets: string[]): void {
  assert.deepEqual(answer.links, [], 'the artifact holds none of the shipped links');
  assert.ok(answer.control?.read?.includes('walker'), `a path inside the project reads (the walk is not vacuous): ${JSON.stringify(answer.control)}`);
  const read = Object.entries(answer).filter(([how, outcome]) => how !== 'control' && (outcome as { read?: string })?.read !== undefined);
  assert.deepEqual(read, [], 'nothing outside the project was read');
  assert.equal(Object.keys(answer).filter((k) => k.includes(' ')).length >= targets.length * 7, true);
  for (const name of ['made mine-root', 'made mine-slash']) assert.equal(typeof answer[name]?.error, 'string', `${name}: a replica cannot make links (${JSON.stringify(answer[name])})`);
}

test('a replica reads nothing outside its project by any spelling: shipped links followed by .., absolute, relative, links it makes (as root)', async (t) => {
  const cleanup = cleanupStack(t);
  const h = await startRuntime(cleanup);
  const secret = await outsideSecret(cleanup);
  const project = await walkerWithLinks(cleanup);
  await withDeadline('deploy of the walker', h.rt.deployDirectory(project, { service: 'walker', environment: 'Development' }), DEPLOY_TIMEOUT_MS);
  const targets = [secret, join(h.dataDir, 'flexd.db'), '/etc/hostname'];
  const res = await callFunction(h.base('walker', 'Development'), 'walk', { body: { targets } }, { timeoutMs: 15_000 });
  assert.equal(res.status, 200, res.text);
  assertWalledIn(res.answer, targets);
});

test('without root the permission model and the link-free artifact are the walls: the database and an outside file stay unread by any spelling', { skip: !asRoot && 'needs root to start flexd as another account' }, async (t) => {
  const cleanup = cleanupStack(t);
  const dataDir = await tempDir(cleanup, 'flexd-walk-nonroot-');
  const secret = await outsideSecret(cleanup);
  const project = await walkerWithLinks(cleanup);
  {
    const setup = new CleanupStack();
    const h = await startRuntime(setup, {}, dataDir);
    await withDeadline('deploy of the walker', h.rt.deployDirectory(project, { service: 'walker', environment: 'Development' }), DEPLOY_TIMEOUT_MS);
    await setup.run();
  }
  chownTree(dataDir, NOBODY);
  // SIGTERM at cleanup: flexd stops its replicas (which write in the data dir) before the folder is removed.
  const served = spawnServe(cleanup, ['--data-dir', dataDir], {
    bin: await installedFlexdBin(), uid: NOBODY, gid: NOBODY, stopGently: { graceMs: 30_000 },
    env: { PATH: process.env.PATH, HOME: dataDir, FLEXD_ADMIN_PASSWORD: 'walk-not-root-password' },
  });
  const url = await withDeadline('flexd serve as nobody to listen', served.url, NOBODY_START_MS);
  const targets = [secret, join(dataDir, 'flexd.db')];
  const res = await callFunction(`${url}/flex/walker/Development`, 'walk', { body: { targets } }, { timeoutMs: 20_000 });
  assert.equal(res.status, 200, res.text);
  assert.equal(res.answer.uid, NOBODY, 'the replica runs as flexd\'s own account: only flexd\'s walls stand');
  assertWalledIn(res.answer, targets);
});

function chownTree(path: string, uid: number): void {
  chownSync(path, uid, uid);
  if (lstatSync(path).isDirectory()) for (const name of readdirSync(path)) chownTree(join(path, name), uid);
}

