/**
 * A warm npm cache for a test file's builds, as a flexd that has built before has one:
 *
 *   const npmCache = await warmNpmCache(cleanup);
 *   api = await startApi(cleanup, { npmCacheDir: npmCache });
 *
 * The file gets a fresh folder of its own, filled with a copy of the packages earlier test files
 * fetched (a seed kept beside the packed tarball's cache, under FLEXD_TEST_HOST_TMPDIR, across
 * runs); when the file ends, what its installs added is copied into the seed. The file's own
 * folder is new and its own, so flexd hands it to its fetch account as it would any cache, and
 * no two files share one (each runtime's fetch account is another uid).
 *
 * npm still runs for real: flexd's installs are `--prefer-offline`, so they read packuments and
 * tarballs from the cache instead of the registry (a cold install of kinvey-flex-sdk 3.3.0 is
 * 5.0 s of CPU at load 20, a warm one 2.5 s); `npm view` (the SDK's versions and dist-tags) and
 * anything the cache lacks still go to the registry. The seed is content-addressed (npm's cacache):
 * a file is added only under a name it does not hold yet, written beside and renamed, so files
 * ending at once add to it side by side, and a half-written seed is never read.
 *
 * On a machine whose seed lacks them (a fresh clone, CI), the packages nearly every building file
 * installs — the echo project's (test/fixtures/cli-project: kinvey-flex-sdk and its tree) — are
 * fetched into the seed once, by the first file that asks for a cache, under a lock the others
 * wait on (`seedBase`): the files that start together at the beginning of a run (the longest ones,
 * which build the most) would otherwise each fetch them from the registry, every node of
 * `scale/jobs-retake` once more, since the seed only grows when a file ends. It is a plain
 * `npm install` of that package.json into a cache of its own, whose files go to the seed as a
 * file's additions do: what a flexd that built the echo project once has in its cache.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, copyFile, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { promisify } from 'node:util';
import type { CleanupContext } from './cleanup.ts';
import { ECHO_PROJECT } from './echo-project.ts';
import { lockHeld, takeLock } from './pid-lock.ts';
import { createTempDir, removeDir, tempDir } from './tmp.ts';
import { waitFor } from './wait.ts';

const run = promisify(execFile);

const SEED = join(process.env.FLEXD_TEST_HOST_TMPDIR ?? tmpdir(), 'flexd-test-npm-cache');
/** The base install from the registry (a cold cache, a loaded machine). */
const BASE_INSTALL_TIMEOUT_MS = 240_000;

/**
 * A new npm cache folder for `cleanup`'s owner, holding what the seed holds; its additions go back
 * to the seed at cleanup. Under `under` (default: the temp dir) when the build must see it there: a
 * build whose data dir is elsewhere gets a /tmp and /dev/shm of its own (isolation/build-namespace.ts).
 */
export async function warmNpmCache(cleanup: CleanupContext, under?: string): Promise<string> {
  const parent = await tempDir(cleanup, 'flexd-npm-cache-', under);
  await chmod(parent, 0o755); // flexd's fetch account reaches the cache through it
  const cache = join(parent, 'npm-cache');
  await seedBase();
  // After the removal of `parent` in cleanup order: registered later, run first.
  cleanup.after(() => addToSeed(cache));
  // cp(1): ~40 ms of CPU for the seed's 600 files, where Node 20's fs.promises.cp takes ~800 ms. A
  // `.adding-` file of another file's additions may be copied half-written or vanish under cp (which
  // then exits 1 having copied the rest): a name npm never looks up. Whatever was copied is a cache.
  if (existsSync(SEED)) await run('cp', ['-R', '--', SEED, cache]).catch(() => undefined);
  await mkdir(cache, { recursive: true });
  return cache;
}

/** Copies into the seed every file of `cache` the seed lacks (npm's content and index files; not its logs). */
async function addToSeed(cache: string): Promise<void> {
  const files = await readdir(cache, { recursive: true, withFileTypes: true }).catch(() => []);
  for (const entry of files) {
    if (!entry.isFile()) continue;
    const from = join(entry.parentPath ?? (entry as { path: string }).path, entry.name);
    const name = relative(cache, from);
    if (!/^_cacache\/(index-v5|content-v2)\//.test(name) || name.includes('.adding-')) continue;
    const to = join(SEED, name);
    if (existsSync(to)) continue;
    await mkdir(dirname(to), { recursive: true });
    const partial = `${to}.adding-${process.pid}`;
    await copyFile(from, partial);
    await rename(partial, to);
  }
}

let baseSeeded: Promise<void> | undefined;

/**
 * Makes sure the seed holds the echo project's packages (see the top of the file): done when a
 * marker beside the seed names the project's dependencies; else one process installs them, the
 * others wait. Never fails a test: without the registry the seed stays as it was, and the builds
 * that need the packages fail with their own message.
 */
function seedBase(): Promise<void> {
  return (baseSeeded ??= (async () => {
    const pkg = JSON.parse(await readFile(join(ECHO_PROJECT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    const key = createHash('sha256').update(JSON.stringify(pkg.dependencies)).digest('hex').slice(0, 16);
    const marker = `${SEED}.base-${key}`;
    // A marker left beside a seed that was removed since names nothing.
    if (!existsSync(SEED)) await rm(marker, { force: true });
    const lock = `${SEED}.base.lock`;
    await mkdir(dirname(SEED), { recursive: true });
    while (!existsSync(marker)) {
      if (await takeLock(lock)) {
        try {
          if (!existsSync(marker)) await installBase(pkg.dependencies, marker);
        } finally {
          await rm(lock, { recursive: true, force: true });
        }
        return;
      }
      // a lock whose owner died is taken over by takeLock on the next turn
      await waitFor('another test file to seed the npm cache', async () => existsSync(marker) || !(await lockHeld(lock)),
        { timeoutMs: BASE_INSTALL_TIMEOUT_MS + 30_000, intervalMs: 250 });
    }
  })().catch((err: Error) => { process.stderr.write(`npm-cache: the echo project's packages were not seeded: ${err.message}\n`); }));
}

async function installBase(dependencies: Record<string, string>, marker: string): Promise<void> {
  const dir = await createTempDir('flexd-npm-seed-');
  try {
    await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'npm-cache-seed', private: true, dependencies }));
    const env = { ...process.env };
    for (const name of Object.keys(env)) if (/^(npm_|NODE_OPTIONS|NODE_TEST_CONTEXT)/i.test(name)) delete env[name];
    const cache = join(dir, 'npm-cache');
    await run('npm', ['install', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--no-package-lock', '--prefer-offline', '--cache', cache, '--loglevel=error'],
      { cwd: dir, env, timeout: BASE_INSTALL_TIMEOUT_MS, killSignal: 'SIGKILL', maxBuffer: 16 * 1024 * 1024 });
    await addToSeed(cache);
    await writeFile(marker, `${new Date().toISOString()}\n`);
  } finally {
    await removeDir(dir);
  }
}
