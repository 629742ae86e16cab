/**
 * What many test files share and wait for, made as a whole run starts (scripts/test.mjs runs this
 * beside the first files): the packed tarball and its install (test/helpers/packed.ts: the CLI,
 * package and consumer tests), the Node releases the runtime tests run (test/helpers/runtimes.ts)
 * and one install per kinvey-flex-sdk version (test/helpers/sdk-trees.ts). Each is the helper's
 * own cache, under the helper's own lock: a test file that needs one waits for this process's
 * build instead of starting another, and finds it done when it starts later. Most of it is
 * downloads, which overlap with the files that compute.
 *
 * Nothing here is a test: a failure (the registry unreachable) is printed, and the files that
 * need what failed fail with their own message.
 */
import { openCatalog } from '../../src/runtimes/index.ts';
import { packedFlexd } from '../../test/helpers/packed.ts';
import { RUNTIMES_CACHE_DIR } from '../../test/helpers/runtimes.ts';
import { SDK_VERSIONS, sdkTree } from '../../test/helpers/sdk-trees.ts';

/** The Node majors other than the host's that test/runtimes/** runs. */
const RUNTIMES = ['node22', 'node24'];

const catalog = openCatalog({ defaultRuntime: '', legacyRuntimes: '', runtimesDir: RUNTIMES_CACHE_DIR, runtimeRegistry: '' }, '/nonexistent');
const jobs: Array<[string, () => Promise<unknown>]> = [
  ['the packed flexd', () => packedFlexd()],
  ...RUNTIMES.map((name): [string, () => Promise<unknown>] => [`Node ${name}`, () => catalog.acquire(name, { refresh: false })]),
  // One install at a time: npm's extraction competes with the test files for the cores.
  ['the kinvey-flex-sdk installs', async () => { for (const version of SDK_VERSIONS) await sdkTree(version); }],
];

const started = Date.now();
const results = await Promise.allSettled(jobs.map(async ([, job]) => job()));
let failed = 0;
results.forEach((r, i) => {
  if (r.status === 'rejected') {
    failed++;
    console.error(`prepare: ${jobs[i]![0]} failed: ${(r.reason as Error)?.stack ?? r.reason}`);
  }
});
console.error(`prepare: ${jobs.length - failed} of ${jobs.length} ready in ${((Date.now() - started) / 1000).toFixed(0)} s`);
process.exit(failed > 0 ? 1 : 0);
