/**
 * Issue 18: flexd itself runs on Node 20, 22 and 24. The packed tarball (built once per run by
 * helpers/packed.ts) installs into a scratch project under Node 24 — a release from the npm
 * registry, with npm running on it and better-sqlite3 built against its own headers — and a plain
 * script embeds it there: flexd and its replicas run on 24 with nothing downloaded for the default
 * runtime. (Under the host's 20 the same tarball is test/package.test.ts.)
 *
 * better-sqlite3 has no prebuilt download here, so npm compiles it for 24 — unoptimised (-O0: the
 * amalgamation at -O3 takes over ten minutes on a loaded 2-core box) — and the addon is kept under
 * the OS temp dir as a local prebuild (the name prebuild-install looks for): later runs, and CI on
 * the same machine, install in seconds.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, readFile, rename, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { test } from 'node:test';
import * as tar from 'tar';
import { openCatalog } from '../../src/runtimes/index.ts';
import { cleanupStack } from '../helpers/cleanup.ts';
import { cleanEnv, packedFlexd } from '../helpers/packed.ts';
import { RUNTIME_INSTALL_TIMEOUT_MS, RUNTIMES_CACHE_DIR } from '../helpers/runtimes.ts';
import { withDeadline } from '../helpers/wait.ts';
import { tempDir } from '../helpers/tmp.ts';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const FIXTURE = fileURLToPath(new URL('../fixtures/runtimes/version/', import.meta.url));
const EMBED = fileURLToPath(new URL('../fixtures/runtimes/embed-major.mjs', import.meta.url));
/** npm install of the tarball; compiling better-sqlite3 from source the first time (over 10 minutes at load 25: a hang guard, under scripts/test.mjs's 20 per file) */
const INSTALL_TIMEOUT_MS = 15 * 60_000;
/**
 * better-sqlite3 addons compiled for other Nodes than the host's, kept across runs and checkouts:
 * under the machine's temp dir, not the run's own (scripts/test.mjs gives each run a TMPDIR it
 * removes at its end; a compile there is ~20 s of CPU paid again by every run).
 */
const PREBUILDS_DIR = join(process.env.FLEXD_TEST_HOST_TMPDIR ?? tmpdir(), 'flexd-test-prebuilds');
/** flexd's start, a deploy without npm, one request, its stop */
const EMBED_TIMEOUT_MS = 120_000;

test('package: the packed tarball installs under Node 24 from the registry and embeds there, flexd and its replica on 24', async (t) => {
  const cleanup = cleanupStack(t);
  const node = await withDeadline('Node 24 in the cache', openCatalog({ defaultRuntime: '', legacyRuntimes: '', runtimesDir: RUNTIMES_CACHE_DIR, runtimeRegistry: '' }, '/nonexistent')
    .acquire('node24', { refresh: false }), RUNTIME_INSTALL_TIMEOUT_MS);
  const { tarball } = await packedFlexd();
  const scratch = await tempDir(cleanup, 'flexd-node24-');
  await writeFile(join(scratch, 'package.json'), JSON.stringify({
    name: 'scratch', private: true, type: 'module', allowScripts: { 'better-sqlite3': true, esbuild: true },
  }));
  const env: NodeJS.ProcessEnv = {
    ...cleanEnv(),
    // npm itself runs on 24 (the first node on PATH), and node-gyp takes 24's headers from the release.
    PATH: [dirname(node.nodePath), process.env.PATH].join(delimiter),
    npm_config_nodedir: node.headersDir,
    // gcc takes the last -O: these come after node-gyp's -O3 (a test needs SQLite to work, not to be fast).
    CFLAGS: '-O0', CXXFLAGS: '-O0',
  };
  const prebuilds = PREBUILDS_DIR;
  env.npm_config_better_sqlite3_local_prebuilds = prebuilds;
  await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball], { cwd: scratch, env, timeout: INSTALL_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024 });
  const modules = (await run(node.nodePath, ['-p', 'process.versions.modules'], { env: {} })).stdout.trim();
  await keepPrebuild(join(scratch, 'node_modules', 'better-sqlite3'), prebuilds, modules);

  const service = join(scratch, 'service');
  await mkdir(service);
  for (const f of ['package.json', 'index.js']) await cp(join(FIXTURE, f), join(service, f));
  await symlink(join(ROOT, 'node_modules'), join(service, 'node_modules'), 'dir');
  await cp(EMBED, join(scratch, 'embed.mjs'));
  const { stdout, stderr } = await run(node.nodePath, ['embed.mjs', service], { cwd: scratch, env: cleanEnv(), timeout: EMBED_TIMEOUT_MS });
  assert.equal(stderr, '');
  const result = JSON.parse(stdout.trim()) as { flexd: string; status: number; replica: string; progress: string };
  assert.equal(result.flexd, `v${node.version}`);
  assert.equal(result.status, 200, stdout);
  assert.equal(result.replica, `v${node.version}`, 'the default runtime is flexd\'s own major');
  assert.match(result.progress, /Runtime flex-runtime-node24 runs on Node 24\.\d+\.\d+ \(the Node flexd runs on\)/);
  assert.doesNotMatch(result.progress, /installing/i, 'nothing downloaded for the default runtime');
});

/** better-sqlite3's addon for ABI `modules`, kept as prebuild-install names a download, for the next install. */
async function keepPrebuild(pkgDir: string, dir: string, modules: string): Promise<void> {
  const { version } = JSON.parse(await readFile(join(pkgDir, 'package.json'), 'utf8')) as { version: string };
  const name = `better-sqlite3-v${version}-node-v${modules}-${process.platform}-${process.arch}.tar.gz`;
  if (existsSync(join(dir, name)) || !existsSync(join(pkgDir, 'build', 'Release', 'better_sqlite3.node'))) return;
  await mkdir(dir, { recursive: true });
  await tar.create({ gzip: true, cwd: pkgDir, file: join(dir, `${name}.tmp`), portable: true }, ['build/Release/better_sqlite3.node']);
  await rename(join(dir, `${name}.tmp`), join(dir, name));
}
