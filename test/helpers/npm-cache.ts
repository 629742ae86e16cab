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
 */
import { execFile } from 'node:child_process';
import { chmod, copyFile, mkdir, readdir, rename } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { promisify } from 'node:util';
import type { CleanupContext } from './cleanup.ts';
import { tempDir } from './tmp.ts';

const run = promisify(execFile);

const SEED = join(process.env.FLEXD_TEST_HOST_TMPDIR ?? tmpdir(), 'flexd-test-npm-cache');

/**
 * A new npm cache folder for `cleanup`'s owner, holding what the seed holds; its additions go back
 * to the seed at cleanup. Under `under` (default: the temp dir) when the build must see it there: a
 * build whose data dir is elsewhere gets a /tmp and /dev/shm of its own (isolation/build-namespace.ts).
 */
export async function warmNpmCache(cleanup: CleanupContext, under?: string): Promise<string> {
  const parent = await tempDir(cleanup, 'flexd-npm-cache-', under);
  await chmod(parent, 0o755); // flexd's fetch account reaches the cache through it
  const cache = join(parent, 'npm-cache');
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
