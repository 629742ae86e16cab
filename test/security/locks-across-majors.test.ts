/**
 * flexd's host-wide locks hold between flexd processes on different Node majors. They are
 * abstract unix sockets, and Node 20 binds an abstract name padded with NULs to the whole of
 * sun_path while Node 22 and later bind exactly the bytes given: unpadded, a data dir or a uid
 * range held by a flexd on Node 20 was free to one on Node 24. Two test suites side by side showed
 * it as builds killed by another flexd's build clean-up (both had taken one uid range).
 * src/isolation/private-lock.ts pads every name; here a flexd on this Node (20) holds a data dir
 * and a uid range, and the same code on Node 24 (22 when this is 24) is refused the one and takes
 * another of the other.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { claimUidRange } from '../../src/isolation/range-claim.ts';
import { openCatalog } from '../../src/runtimes/index.ts';
import { resolveSettings } from '../../src/config.ts';
import { lockDataDir } from '../../src/store/lock.ts';
import { cleanupStack } from '../helpers/cleanup.ts';
import { RUNTIME_INSTALL_TIMEOUT_MS, RUNTIMES_CACHE_DIR } from '../helpers/runtimes.ts';
import { tempDir } from '../helpers/tmp.ts';
import { withDeadline } from '../helpers/wait.ts';

const run = promisify(execFile);
const REPO_DIR = fileURLToPath(new URL('../../', import.meta.url));
const HOST_MAJOR = Number(process.versions.node.split('.')[0]);
const OTHER_MAJOR = HOST_MAJOR === 24 ? 22 : 24;
const asRoot = process.getuid?.() === 0;

/** What the same lock code does on the other major, in a process of its own (through tsx). */
const PROBE = `
  const [dataDir, claim] = process.argv.slice(1);
  const { lockDataDir } = await import(${JSON.stringify(`${REPO_DIR}src/store/lock.ts`)});
  const { claimUidRange } = await import(${JSON.stringify(`${REPO_DIR}src/isolation/range-claim.ts`)});
  const { resolveSettings } = await import(${JSON.stringify(`${REPO_DIR}src/config.ts`)});
  const out = { node: process.version };
  try { await lockDataDir(dataDir); out.dataDir = 'locked'; } catch (err) { out.dataDir = err.code; }
  if (claim === 'yes') out.rangeStart = (await claimUidRange(resolveSettings(), false)).start;
  console.log(JSON.stringify(out));
  process.exit(0);
`;

test(`a data dir and a uid range held by flexd on Node ${HOST_MAJOR} are held for flexd on Node ${OTHER_MAJOR} too`, { timeout: 2 * RUNTIME_INSTALL_TIMEOUT_MS }, async (t) => {
  const cleanup = cleanupStack(t);
  const catalog = openCatalog({ defaultRuntime: '', legacyRuntimes: '', runtimesDir: RUNTIMES_CACHE_DIR, runtimeRegistry: '' }, '/nonexistent');
  const other = await withDeadline(`Node ${OTHER_MAJOR} in the cache`, catalog.acquire(`node${OTHER_MAJOR}`, { refresh: false }), RUNTIME_INSTALL_TIMEOUT_MS);

  const dataDir = await tempDir(cleanup, 'flexd-lock-majors-');
  const lock = await lockDataDir(dataDir);
  cleanup.after(() => lock.release());
  const held = asRoot ? await claimUidRange(resolveSettings(), false) : undefined;
  if (held) cleanup.after(() => held.release());

  const { stdout } = await run(other.nodePath, ['--import', 'tsx', '--input-type=module', '-e', PROBE, dataDir, asRoot ? 'yes' : 'no'], {
    cwd: REPO_DIR, timeout: 120_000, env: { ...process.env, NODE_OPTIONS: '' },
  });
  const seen = JSON.parse(stdout.trim().split('\n').at(-1)!) as { node: string; dataDir: string; rangeStart?: number };
  assert.equal(Number(seen.node.slice(1).split('.')[0]), OTHER_MAJOR, `the probe ran on Node ${OTHER_MAJOR}`);
  assert.equal(seen.dataDir, 'DataDirInUse', `Node ${OTHER_MAJOR} is refused the data dir Node ${HOST_MAJOR} holds`);
  if (held) {
    const size = resolveSettings().uidRangeSize;
    assert.ok(seen.rangeStart !== undefined && (seen.rangeStart >= held.start + size || seen.rangeStart + size <= held.start),
      `Node ${OTHER_MAJOR} took the uid range from ${seen.rangeStart}, which overlaps none of ${held.start}–${held.start + size - 1}`);
  }
});
