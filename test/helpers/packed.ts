/**
 * flexd as the npm package a user installs: `npm pack` of this checkout, installed into a scratch
 * project. Packing (tsc + esbuild) and installing take minutes, so it is done once for every test
 * file that needs it, and again only when what goes into the package changes:
 *
 *   const pkg = await packedFlexd();              // { tarball, files, nodeModules }
 *   const scratch = await scratchProject(t);      // a temp folder whose node_modules is that install
 *   await run(process.execPath, ['embed.mjs'], { cwd: scratch });
 *
 * The pack and the install live under the OS temp dir, in a folder named by a hash of the package's
 * inputs (src, bin, package.json, the lockfile, the build script, README, LICENSE) and of Node's
 * version; a lock makes concurrent test files (and checkouts) wait for one build instead of
 * racing. A scratch project links that install: tests write their own files beside it, never
 * into it.
 *
 * better-sqlite3 has no prebuilt download here (its install script would fetch one from GitHub, as
 * on a user's machine); the install is given the addon this checkout already built, as a local
 * prebuild, instead of compiling SQLite from source for minutes. Everything of flexd's own is
 * what npm pack produced.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as tar from 'tar';
import type { CleanupContext } from './cleanup.ts';
import { lockHeld, takeLock } from './pid-lock.ts';
import { tempDir } from './tmp.ts';
import { waitFor } from './wait.ts';

const run = promisify(execFile);
export const REPO_DIR = fileURLToPath(new URL('../../', import.meta.url));
/** What decides the package's content. */
const INPUTS = ['src', 'bin', 'scripts/build.mjs', 'package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'README.md', 'LICENSE'];
/** Outside the run's own TMPDIR (scripts/test.mjs), so the next run finds it. */
const CACHE_ROOT = join(process.env.FLEXD_TEST_HOST_TMPDIR ?? tmpdir(), 'flexd-test-packed');
/** npm pack builds dist (tsc + esbuild) */
const PACK_TIMEOUT_MS = 300_000;
/** npm install of the tarball from npm's cache (the repo's own `npm ci` filled it) */
const INSTALL_TIMEOUT_MS = 600_000;
/** Whoever waits for another process's build waits at most this long. */
const BUILD_WAIT_MS = PACK_TIMEOUT_MS + INSTALL_TIMEOUT_MS;
const STALE_BUILD_MS = 24 * 3600_000;

export interface PackedFlexd {
  /** the .tgz npm pack wrote */
  tarball: string;
  /** every path in the tarball, as npm pack listed them */
  files: string[];
  /** node_modules of a project that ran `npm install <tarball>` */
  nodeModules: string;
}

/** The environment of npm and of scratch projects: none of the test runner's loader flags. */
export function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of ['NODE_OPTIONS', 'NODE_TEST_CONTEXT']) delete env[name];
  return env;
}

let memo: Promise<PackedFlexd> | undefined;

/** The packed and installed package for this checkout's current content; built at most once. */
export function packedFlexd(): Promise<PackedFlexd> {
  return (memo ??= buildOrReuse());
}

/**
 * A folder inside this content's build, for what a test derives from the install and keeps for the
 * next run (a compile cache): it goes when the build is pruned.
 */
export async function packedCacheDir(name: string): Promise<string> {
  return join((await packedFlexd()).nodeModules, '..', '..', name);
}

/** A fresh folder (removed by `t`) with a package.json and the packed install as its node_modules. */
export async function scratchProject(t: CleanupContext, prefix = 'flexd-scratch-'): Promise<string> {
  const { nodeModules } = await packedFlexd();
  const dir = await tempDir(t, prefix);
  await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'scratch', private: true, type: 'module' }));
  await symlink(nodeModules, join(dir, 'node_modules'), 'dir');
  return dir;
}

async function buildOrReuse(): Promise<PackedFlexd> {
  const dir = join(CACHE_ROOT, inputsKey());
  const done = join(dir, 'done.json');
  const lock = `${dir}.lock`;
  await mkdir(CACHE_ROOT, { recursive: true });
  for (;;) {
    if (existsSync(done)) return JSON.parse(await readFile(done, 'utf8')) as PackedFlexd;
    if (await takeLock(lock)) break;
    await waitFor('another test process to finish packing flexd', async () => existsSync(done) || !(await lockHeld(lock)), { timeoutMs: BUILD_WAIT_MS, intervalMs: 250 });
  }
  try {
    if (existsSync(done)) return JSON.parse(await readFile(done, 'utf8')) as PackedFlexd;
    await rm(dir, { recursive: true, force: true });
    await pruneOldBuilds();
    const packed = await build(dir);
    await writeFile(`${done}.tmp`, JSON.stringify(packed));
    await rename(`${done}.tmp`, done);
    return packed;
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}

async function build(dir: string): Promise<PackedFlexd> {
  const packDir = join(dir, 'pack');
  const project = join(dir, 'project');
  await mkdir(packDir, { recursive: true });
  await mkdir(project, { recursive: true });
  const packed = await run('npm', ['pack', '--json', '--pack-destination', packDir], { cwd: REPO_DIR, env: cleanEnv(), timeout: PACK_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024 });
  const [info] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as Array<{ filename: string; files: Array<{ path: string }> }>;
  const tarball = join(packDir, info!.filename);

  await writeFile(join(project, 'package.json'), JSON.stringify({
    name: 'scratch', private: true, type: 'module',
    // npm runs a dependency's install script only when allowed: better-sqlite3 installs its addon, esbuild checks its binary
    allowScripts: { 'better-sqlite3': true, esbuild: true },
  }));
  const env = cleanEnv();
  const prebuilds = await localPrebuild(join(dir, 'prebuilds'));
  if (prebuilds) env.npm_config_better_sqlite3_local_prebuilds = prebuilds;
  await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball], { cwd: project, env, timeout: INSTALL_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024 });
  return { tarball, files: info!.files.map((f) => f.path), nodeModules: join(project, 'node_modules') };
}

/** Builds of other contents not used for a day (older checkouts' sources) are removed. */
async function pruneOldBuilds(): Promise<void> {
  for (const name of readdirSync(CACHE_ROOT)) {
    const path = join(CACHE_ROOT, name);
    const st = await stat(path).catch(() => undefined);
    if (st && !name.endsWith('.lock') && Date.now() - st.mtimeMs > STALE_BUILD_MS) await rm(path, { recursive: true, force: true });
  }
}

/**
 * better-sqlite3's addon as this checkout built it, packed as prebuild-install names a download
 * (`<name>-v<version>-node-v<abi>-<platform>-<arch>.tar.gz`, holding build/Release/*.node), in
 * `dir`; undefined when the checkout has none (then npm compiles it).
 */
async function localPrebuild(dir: string): Promise<string | undefined> {
  const pkgDir = join(REPO_DIR, 'node_modules', 'better-sqlite3');
  const addon = join(pkgDir, 'build', 'Release', 'better_sqlite3.node');
  if (!(await stat(addon).catch(() => undefined))) return undefined;
  const { version } = JSON.parse(await readFile(join(pkgDir, 'package.json'), 'utf8')) as { version: string };
  await mkdir(dir, { recursive: true });
  const name = `better-sqlite3-v${version}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`;
  await tar.create({ gzip: true, cwd: pkgDir, file: join(dir, name), portable: true }, ['build/Release/better_sqlite3.node']);
  return dir;
}

/** A hash of everything that goes into the package, and of the Node that installs it. */
function inputsKey(): string {
  const hash = createHash('sha256').update(`${process.version} ${process.platform} ${process.arch}\n`);
  const files: string[] = [];
  const walk = (path: string): void => {
    if (!existsSync(path)) return;
    const st = readdirSafe(path);
    if (st === undefined) files.push(path);
    else for (const name of st.sort()) walk(join(path, name));
  };
  for (const input of INPUTS) walk(join(REPO_DIR, input));
  for (const file of files) hash.update(`${relative(REPO_DIR, file)}\0`).update(readFileSync(file)).update('\0');
  return hash.digest('hex').slice(0, 20);
}

function readdirSafe(path: string): string[] | undefined {
  try {
    return readdirSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw err;
  }
}
