/**
 * The npm package as a user gets it, for the tests that check it from outside the repository
 * (test/package.test.ts, test/embedding/consumer.test.ts):
 *
 *   const tarball = await packedTarball();              // `npm pack` once per state of the sources
 *   const scratch = await installPacked(cleanup, { with: ['kinvey-flex-sdk@3.3.0'] });
 *
 * Packing runs the build (tsc and esbuild, a minute on a busy machine), so the tarball is kept
 * under node_modules/.cache/flexd-pack/<hash of what goes into it> and built by one process at a
 * time: test files running in parallel, and later runs with unchanged sources, reuse it.
 * Installing would compile better-sqlite3 with node-gyp (minutes): instead the install runs
 * without scripts and gets the repository's own compiled addon when the versions match (the same
 * Node, the same better-sqlite3), and is rebuilt only when they do not.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, copyFile, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { CleanupContext } from './cleanup.ts';
import { tempDir } from './tmp.ts';
import { waitFor } from './wait.ts';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CACHE = join(ROOT, 'node_modules', '.cache', 'flexd-pack');
/** What the tarball is made of: a change to any of these packs again. */
const PACKED_INPUTS = ['src', 'bin', 'scripts/build.mjs', 'package.json', 'README.md', 'LICENSE', 'tsconfig.json', 'tsconfig.build.json'];
/** npm pack builds dist (tsc + esbuild) on a loaded 2-core machine */
const PACK_TIMEOUT_MS = 300_000;
/** npm install from the local cache; a rebuild of better-sqlite3 when the repository's addon does not fit */
const INSTALL_TIMEOUT_MS = 600_000;
/** A packing process that died leaves its lock: older than this, the lock is taken over. */
const STALE_LOCK_MS = PACK_TIMEOUT_MS + 60_000;

/** The environment of npm and of a scratch project: none of the test runner's loader flags. */
export function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  for (const name of ['NODE_OPTIONS', 'NODE_TEST_CONTEXT']) delete env[name];
  return env;
}

export interface PackedTarball {
  /** the .tgz */
  file: string;
  /** the paths it holds (npm pack's list) */
  files: string[];
}

/** `npm pack` of this checkout, built once per state of its sources (see above). */
export async function packedTarball(): Promise<PackedTarball> {
  const dir = join(CACHE, await inputsHash());
  const done = join(dir, 'packed.json');
  const lock = join(dir, '.lock');
  await mkdir(dir, { recursive: true });
  for (;;) {
    const packed = await readPacked(done);
    if (packed) return packed;
    try {
      await mkdir(lock);
    } catch {
      // Another process packs: wait for its result, or take over a lock it left by dying.
      await waitFor('the tarball another test process is packing', async () => await readPacked(done) || !await exists(lock) || await isStale(lock), { timeoutMs: STALE_LOCK_MS + 10_000, intervalMs: 500 });
      if (await isStale(lock)) await rm(lock, { recursive: true, force: true });
      continue;
    }
    try {
      const out = await run('npm', ['pack', '--json', '--pack-destination', dir], { cwd: ROOT, env: cleanEnv(), timeout: PACK_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024 });
      const [info] = JSON.parse(out.stdout.slice(out.stdout.indexOf('['))) as Array<{ filename: string; files: Array<{ path: string }> }>;
      const result: PackedTarball = { file: join(dir, info!.filename), files: info!.files.map((f) => f.path) };
      await writeFile(done, JSON.stringify(result));
      await removeOtherPacks(dir);
      return result;
    } finally {
      await rm(lock, { recursive: true, force: true });
    }
  }
}

/**
 * A fresh project in a temp dir (removed with `t`) with the tarball installed, and `with`'s
 * packages beside it. Readable by every account (an ordinary user's run of it). The project's
 * package.json allows better-sqlite3's and esbuild's install scripts, as docs/embedding.md says.
 */
export async function installPacked(t: CleanupContext, o: { with?: string[]; prefix?: string } = {}): Promise<{ dir: string; tarball: PackedTarball }> {
  const tarball = await packedTarball();
  const dir = await tempDir(t, o.prefix ?? 'flexd-scratch-');
  await chmod(dir, 0o755);
  await writeFile(join(dir, 'package.json'), JSON.stringify({
    name: 'scratch', private: true, type: 'module', allowScripts: { 'better-sqlite3': true, esbuild: true },
  }));
  await run('npm', ['install', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline', tarball.file, ...(o.with ?? [])], {
    cwd: dir, env: cleanEnv(), timeout: INSTALL_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024,
  });
  await provideSqliteAddon(dir);
  return { dir, tarball };
}

/** better-sqlite3's compiled addon: the repository's when it is the same version, else built here. */
async function provideSqliteAddon(dir: string): Promise<void> {
  const installed = join(dir, 'node_modules', 'better-sqlite3');
  const repo = join(ROOT, 'node_modules', 'better-sqlite3');
  const version = async (pkg: string) => (JSON.parse(await readFile(join(pkg, 'package.json'), 'utf8')) as { version: string }).version;
  const addon = join('build', 'Release', 'better_sqlite3.node');
  if (await version(installed) === await version(repo) && await exists(join(repo, addon))) {
    await mkdir(join(installed, 'build', 'Release'), { recursive: true });
    await copyFile(join(repo, addon), join(installed, addon));
    return;
  }
  await run('npm', ['rebuild', 'better-sqlite3'], { cwd: dir, env: cleanEnv(), timeout: INSTALL_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024 });
}

async function inputsHash(): Promise<string> {
  const hash = createHash('sha256');
  const add = async (path: string) => {
    const st = await stat(path).catch(() => undefined);
    if (!st) return;
    if (st.isDirectory()) {
      for (const name of (await readdir(path)).sort()) await add(join(path, name));
    } else {
      hash.update(relative(ROOT, path)).update('\0').update(await readFile(path)).update('\0');
    }
  };
  for (const input of PACKED_INPUTS) await add(join(ROOT, input));
  return hash.digest('hex').slice(0, 16);
}

async function readPacked(file: string): Promise<PackedTarball | undefined> {
  try {
    const packed = JSON.parse(await readFile(file, 'utf8')) as PackedTarball;
    return await exists(packed.file) ? packed : undefined;
  } catch {
    return undefined;
  }
}

async function isStale(lock: string): Promise<boolean> {
  const st = await stat(lock).catch(() => undefined);
  return st !== undefined && Date.now() - st.mtimeMs > STALE_LOCK_MS;
}

/** Tarballs of earlier states of the sources are not needed again. */
async function removeOtherPacks(keep: string): Promise<void> {
  for (const name of await readdir(CACHE).catch(() => [] as string[])) {
    if (join(CACHE, name) !== keep) await rm(join(CACHE, name), { recursive: true, force: true }).catch(() => {});
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}
