/**
 * The npm package as a user gets it (issue 10): the packed tarball installed into a scratch
 * project (test/helpers/packed.ts builds it once), then a plain `.mjs` embed script runs with node,
 * a `.ts` one type-checks under NodeNext without skipLibCheck (and without @types/node or
 * better-sqlite3's types), and the installed bin, through its node_modules/.bin link, serves.
 *
 * How the installed bin stops (SIGTERM: drain, replicas stopped, exit 0) is
 * test/lifecycle/runtime-process.test.ts (F13), which runs this same packed install's bin; the
 * launchers in front of it (npm start, npx) are test/serve.test.ts and test/serve-npx.test.ts.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { CleanupStack } from './helpers/cleanup.ts';
import { cleanEnv, packedFlexd, REPO_DIR as ROOT, scratchProject } from './helpers/packed.ts';
import { SERVE_START_TIMEOUT_MS, spawnServe } from './helpers/serve.ts';
import { tempDir } from './helpers/tmp.ts';
import { withDeadline } from './helpers/wait.ts';

const run = promisify(execFile);
const FIXTURES = fileURLToPath(new URL('./fixtures/package/', import.meta.url));
const ECHO_PROJECT = fileURLToPath(new URL('./fixtures/cli-project/', import.meta.url));
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

describe('package: the packed tarball in a scratch project', () => {
  const cleanup = new CleanupStack();
  after(() => cleanup.run());
  let scratch: string;
  let files: string[];

  before(async () => {
    ({ files } = await packedFlexd());
    scratch = await scratchProject(cleanup);
  });

  test('the tarball ships dist, bin, README and LICENSE, and no sources, tests or scripts', () => {
    for (const wanted of ['dist/index.js', 'dist/index.d.ts', 'dist/child/entry.cjs', 'dist/logs/store-worker.bundle.mjs', 'bin/flexd.js', 'README.md', 'LICENSE', 'package.json']) {
      assert.ok(files.includes(wanted), `${wanted} is packed`);
    }
    const stray = files.filter((f) => !/^(dist\/|bin\/|README\.md$|LICENSE$|package\.json$)/.test(f));
    assert.deepEqual(stray, []);
  });

  // The one test that an embedded runtime prints nothing of its own: in a process of its own, so a write by any path
  // (console, the log worker thread, fd 1 or 2, a replica's inherited output: the replica does print, into its logs) would show.
  test('a plain .mjs script embeds flexd with node: deploys, is answered, reads the logs, and the runtime prints nothing on either stream', async () => {
    const service = join(scratch, 'service');
    await mkdir(service);
    for (const f of ['package.json', 'index.js']) await cp(join(ECHO_PROJECT, f), join(service, f));
    // the service's own dependencies resolve from the repo, so the deploy skips npm install
    await symlink(join(ROOT, 'node_modules'), join(service, 'node_modules'), 'dir');
    await cp(join(FIXTURES, 'embed.mjs'), join(scratch, 'embed.mjs'));
    const { stdout, stderr } = await run(process.execPath, ['embed.mjs', service], { cwd: scratch, env: cleanEnv(), timeout: 120_000 });
    assert.equal(stderr, '', 'nothing on stderr');
    const lines = stdout.split('\n').filter((l) => l !== '');
    assert.equal(lines.length, 1, `only the script's own line on stdout:\n${stdout}`);
    const result = JSON.parse(lines[0]!);
    assert.equal(result.status, 200);
    assert.equal(result.version, '1.0.0');
    assert.ok(result.lines.some((l: string) => /echo called on version 1\.0\.0/.test(l)), stdout);
  });

  test('a .ts script type-checks against the published types: NodeNext, no skipLibCheck, no @types', async () => {
    await cp(join(FIXTURES, 'embed.ts'), join(scratch, 'embed.ts'));
    await writeFile(join(scratch, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: false, types: [], lib: ['ES2022'] },
      files: ['embed.ts'],
    }));
    const checked = await run(process.execPath, [TSC, '-p', 'tsconfig.json'], { cwd: scratch, env: cleanEnv(), timeout: 120_000 }).catch((err) => err);
    assert.equal(checked.code ?? 0, 0, `tsc:\n${checked.stdout}${checked.stderr}`);
  });

  test('npx flexd --help works, and the installed bin (node_modules/.bin/flexd) serves and prints a generated admin password once', async () => {
    const help = await run('npx', ['flexd', '--help'], { cwd: scratch, env: cleanEnv(), timeout: 60_000 });
    assert.match(help.stdout, /Usage: flexd <command>/);
    const dataDir = await tempDir(cleanup, 'flexd-pack-serve-');
    const env = cleanEnv();
    delete env.FLEXD_ADMIN_PASSWORD;
    // the installed bin through its node_modules/.bin link: npx would add a process between the signal and flexd
    const served = spawnServe(cleanup, ['--data-dir', dataDir], { bin: join(scratch, 'node_modules', '.bin', 'flexd'), cwd: scratch, env });
    const url = await withDeadline('the listening line', served.url, SERVE_START_TIMEOUT_MS);
    assert.equal(served.output().match(/created admin admin@flexd\.local with password \S{24,}/g)?.length, 1, served.output());
    assert.equal((await fetch(`${url}/healthz`)).status, 200);
    const login = await fetch(`${url}/session`, { method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'admin@flexd.local', password: /with password (\S+)/.exec(served.output())![1] }) });
    assert.equal(login.status, 200, 'the printed password is the admin\'s');
  });
  // The README's production command under npx, stopped by SIGTERM to npx's own PID, in a project with
  // this tarball installed: test/serve-npx.test.ts.
});
