/**
 * Installed dependency trees kept across test runs, as the database of a cluster that has built
 * before keeps them (not a test file: the runner only picks up *.test.ts):
 *
 *   const a = await startNode(cleanup, { database, name: 'a' });   // the schema exists now
 *   await keepStoredTrees(cleanup, database);
 *   // a deploy of kinvey-flex-sdk 3.3.0 finds its tree stored: "reusing its installed tree (npm not run)"
 *
 * A scale test's first deploy would otherwise run npm on the building node (~2 s of CPU) to prove
 * nothing the test is about: what it proves — the version stored once, fetched from the database
 * and served by every node — holds the same with the tree reused. The builds that must run npm
 * on a node of a cluster (jobs-retake.test.ts: retaken mid-install) never call this.
 *
 * The trees are rows flexd wrote itself (`dependency_trees`, `dependency_tree_blobs`), saved when
 * a file ends and put into the next file's database as they were; a tree's key is flexd's own
 * (deploy/dependency-cache.ts: every input that decides the install), so flexd reuses one only
 * where it would have built the same. Only trees shared beyond one environment (`npm-…` keys)
 * are kept. The folder (under FLEXD_TEST_HOST_TMPDIR, as helpers/packed.ts) is named by a hash
 * of what else can change a tree's bytes or rows and is not in that key: Node's exact version,
 * the version of the npm that builds (the one on PATH, not Node's own), and every source file
 * of flexd (src/: the build, its box and accounts, the runtimes, the store). Any change there
 * builds trees anew, as helpers/packed.ts repacks flexd for it.
 *
 * When the folder holds no tree yet (a fresh clone, a changed src/), the scale files that start
 * side by side would each run npm for the same tree: one of them takes a lock and saves its rows
 * as soon as its first build stored them (not only when it ends); the others wait for those rows
 * (or for the lock to go: that file ended without one) and put them into their database as above.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { CleanupContext } from '../helpers/cleanup.ts';
import { lockHeld, takeLock } from '../helpers/pid-lock.ts';
import { waitFor } from '../helpers/wait.ts';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));
const ROOT = join(process.env.FLEXD_TEST_HOST_TMPDIR ?? tmpdir(), 'flexd-test-stored-trees');
const CACHE = join(ROOT, inputsHash());
/** Trees kept for other inputs (older sources) and not read for this long are removed. */
const STALE_MS = 24 * 3600_000;
/** Held by the file that builds the first trees for these inputs (a folder holding its pid). */
const BUILDING_LOCK = `${CACHE}.building`;
/** The longest another file's first build is waited for (a cold npm cache on a loaded machine); then this file builds. */
const WAIT_FOR_TREES_MS = 240_000;
/** How often the building file looks for its first stored tree. */
const SAVE_POLL_MS = 1_000;

interface TreeRow { key: string; size: string; sdk_version: string | null; notes: string; native_addons: number; created_at: string; used_at: string }

/** What decides a stored tree's bytes and rows besides the key flexd computes (see the header). */
function inputsHash(): string {
  const hash = createHash('sha256').update(`${process.version}\0npm ${npmVersion()}`);
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((x, y) => (x.name < y.name ? -1 : 1))) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else hash.update(`\0${relative(SRC, path)}\0`).update(readFileSync(path));
    }
  };
  walk(SRC);
  return hash.digest('hex').slice(0, 16);
}

/** The version of the `npm` on PATH, which flexd's builds run (install.ts): from its package.json, without starting it. */
function npmVersion(): string {
  for (const dir of (process.env.PATH ?? '').split(delimiter).filter(Boolean)) {
    const bin = join(dir, 'npm');
    if (!existsSync(bin)) continue;
    // …/lib/node_modules/npm/bin/npm-cli.js, linked from the PATH entry
    const manifest = join(dirname(dirname(realpathSync(bin))), 'package.json');
    const pkg = JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string; version?: string };
    if (pkg.name !== 'npm' || !pkg.version) throw new Error(`stored-trees: cannot tell the version of ${bin} (${manifest})`);
    return pkg.version;
  }
  throw new Error('stored-trees: no npm on PATH');
}

/** Puts the kept trees into `database` (migrated already) now, and keeps the trees its builds add when `cleanup` runs. */
export async function keepStoredTrees(cleanup: CleanupContext, database: string): Promise<void> {
  let kept = keptKeys();
  let building = false;
  if (kept.length === 0) {
    await mkdir(ROOT, { recursive: true });
    building = await takeLock(BUILDING_LOCK);
    if (!building) {
      // Another file builds the first trees for these inputs: its rows, once saved, instead of npm here.
      await waitFor('another scale file to store its first dependency tree', async () => keptKeys().length > 0 || !(await lockHeld(BUILDING_LOCK)),
        { timeoutMs: WAIT_FOR_TREES_MS, intervalMs: 250 }).catch(() => undefined);
      kept = keptKeys();
    }
  }
  const client = new pg.Client({ connectionString: database });
  await client.connect();
  if (kept.length > 0) await utimes(CACHE, new Date(), new Date());
  await pruneStale();
  try {
    for (const key of kept) {
      const row = JSON.parse(await readFile(join(CACHE, `${key}.json`), 'utf8')) as TreeRow;
      const tree = await readFile(join(CACHE, `${key}.tgz`));
      await client.query('BEGIN');
      // Used now: a prune of trees unused for a day must not take it before the deploy does.
      await client.query(`INSERT INTO dependency_trees (key, size, sdk_version, notes, native_addons, created_at, used_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
        ON CONFLICT (key) DO NOTHING`, [row.key, row.size, row.sdk_version, row.notes, row.native_addons, row.created_at, new Date().toISOString()]);
      await client.query('INSERT INTO dependency_tree_blobs (key, tree) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING', [row.key, tree]);
      await client.query('COMMIT');
    }
  } finally {
    await client.end();
  }
  // The building file saves its first tree as soon as it is stored, then lets the waiting files go on.
  let early: Promise<void> | undefined;
  let poll: NodeJS.Timeout | undefined;
  const release = () => rm(BUILDING_LOCK, { recursive: true, force: true });
  if (building) {
    poll = setInterval(() => {
      early ??= saveTrees(database, new Set(keptKeys())).then(async () => {
        if (keptKeys().length > 0) {
          clearInterval(poll);
          await release();
        }
      }, () => undefined).finally(() => { early = undefined; });
    }, SAVE_POLL_MS);
    poll.unref();
  }
  cleanup.after(async () => {
    clearInterval(poll);
    await early;
    try {
      await saveTrees(database, new Set(keptKeys()));
    } finally {
      if (building) await release();
    }
  });
}

function keptKeys(): string[] {
  return existsSync(CACHE) ? readdirSync(CACHE).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -'.json'.length)) : [];
}

async function saveTrees(database: string, kept: Set<string>): Promise<void> {
  const client = new pg.Client({ connectionString: database });
  await client.connect();
  try {
    const rows = (await client.query<TreeRow>(`SELECT key, size, sdk_version, notes, native_addons, created_at, used_at FROM dependency_trees WHERE key LIKE 'npm-%'`)).rows;
    for (const row of rows.filter((r) => !kept.has(r.key))) {
      const blob = (await client.query<{ tree: Buffer }>('SELECT tree FROM dependency_tree_blobs WHERE key = $1', [row.key])).rows[0];
      if (!blob) continue;
      await mkdir(CACHE, { recursive: true });
      // The tree first, its row last: a reader lists rows, so it never finds a row without its tree. Written beside and renamed: never half-read.
      for (const [name, bytes] of [[`${row.key}.tgz`, blob.tree], [`${row.key}.json`, JSON.stringify(row)]] as const) {
        const partial = join(CACHE, `${name}.adding-${process.pid}`);
        await writeFile(partial, bytes);
        await rename(partial, join(CACHE, name));
      }
    }
  } finally {
    await client.end();
  }
}

async function pruneStale(): Promise<void> {
  for (const name of existsSync(ROOT) ? readdirSync(ROOT) : []) {
    const path = join(ROOT, name);
    const st = await stat(path).catch(() => undefined);
    if (path !== CACHE && st && Date.now() - st.mtimeMs > STALE_MS) await rm(path, { recursive: true, force: true });
  }
}
