/**
 * Issue 17: a dependency tree is written out of the store once per runtime (src/supervisor/
 * shared-trees.ts) and used by every environment and version with its tree key; in overlay mode
 * as root each environment gets its own copy, its account's. What a replica of one environment
 * can do to a shared tree is attacked end to end in version-walls.test.ts; here the folders
 * themselves: who writes, who owns, what modes, and when a tree goes.
 */
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { packTree, writeDependencyTree } from '../../src/deploy/artifact.ts';
import { EnvironmentDirs, prepareSandbox, removeSandbox } from '../../src/supervisor/sandbox.ts';
import { SharedTrees } from '../../src/supervisor/shared-trees.ts';
import { cleanupStack } from '../helpers/cleanup.ts';
import { tempDir } from '../helpers/tmp.ts';
import { waitFor } from '../helpers/wait.ts';

const asRoot = process.getuid?.() === 0;
/** The trees written out in `dir` (a tree let go is renamed to a dot-name at once, then removed in the background). */
const treesIn = (dir: string) => readdirSync(dir).filter((name) => !name.startsWith('.'));
const RANGE = { uidRangeStart: 300_000, uidRangeSize: 1_000 };

/** A packed node_modules with a file npm would never leave writable by others (0666) and a folder (0777) likewise. */
async function packedTree(root: string, content: string): Promise<Buffer> {
  const dir = join(root, `tree-${content}`);
  mkdirSync(join(dir, 'node_modules', 'pkg', 'lib'), { recursive: true });
  writeFileSync(join(dir, 'node_modules', 'pkg', 'index.js'), `module.exports = ${JSON.stringify(content)};\n`);
  writeFileSync(join(dir, 'node_modules', 'pkg', 'lib', 'open.js'), 'open\n');
  chmodSync(join(dir, 'node_modules', 'pkg', 'lib', 'open.js'), 0o666);
  chmodSync(join(dir, 'node_modules', 'pkg', 'lib'), 0o777);
  return (await packTree(dir)).archive;
}

test('trees: environments with one tree key start from one tree written once for the runtime, flexd\'s and writable by no other account; '
  + 'in overlay mode as root an environment copies it once as its own account\'s; the last environment to let a tree go removes it', async (t) => {
  const cleanup = cleanupStack(t);
  const dataDir = await tempDir(cleanup, 'flexd-shared-trees-');
  const sandbox = prepareSandbox(dataDir);
  cleanup.after(() => removeSandbox(sandbox));
  const archives = { one: await packedTree(dataDir, 'one'), two: await packedTree(dataDir, 'two'), three: await packedTree(dataDir, 'three'), four: await packedTree(dataDir, 'four') };
  const trees = new SharedTrees(sandbox.runDir);
  const writes: string[] = [];
  const writeTree = (key: keyof typeof archives) => async (into: string) => {
    writes.push(key);
    await writeDependencyTree(archives[key], into);
  };
  const writeProject = async (into: string) => writeFileSync(join(into, 'index.js'), '');
  const [a, b, c] = [0, 1, 2].map((slot) => new EnvironmentDirs(sandbox, `env-${slot}`, slot, RANGE, trees));

  // Two environments at once, neither owning its tree (copy mode, or no root): one write, one folder.
  const [va, vb] = await Promise.all([
    a!.version('a1', 'one', undefined, writeProject, writeTree('one')),
    b!.version('b1', 'one', undefined, writeProject, writeTree('one')),
  ]);
  assert.deepEqual(writes, ['one'], 'the tree was written out once');
  assert.equal(va.tree, vb.tree);
  assert.equal(va.tree, join(sandbox.runDir, 'trees', readdirSync(join(sandbox.runDir, 'trees'))[0]!), 'the runtime\'s tree');
  const shared = va.tree!;
  const sharedFile = join(shared, 'node_modules', 'pkg', 'lib', 'open.js');
  assert.equal(lstatSync(join(sandbox.runDir, 'trees')).mode & 0o777, 0o700, 'no replica enters the runtime\'s trees');
  assert.equal(lstatSync(sharedFile).uid, process.getuid!());
  assert.equal(lstatSync(sharedFile).mode & 0o777, 0o644, 'a file another account could write would be written through every replica\'s hard link');
  assert.equal(lstatSync(join(shared, 'node_modules', 'pkg', 'lib')).mode & 0o777, 0o755);

  if (asRoot) {
    // Overlay mode as root: the environment's own copy, its account's, made from the runtime's tree.
    const account = c!.account!;
    const vc = await c!.version('c1', 'one', account, writeProject, writeTree('one'));
    assert.deepEqual(writes, ['one'], 'copied, not written out of the store again');
    assert.equal(vc.tree, join(c!.root, 'trees', readdirSync(join(c!.root, 'trees'))[0]!));
    const own = join(vc.tree!, 'node_modules', 'pkg', 'lib', 'open.js');
    assert.deepEqual([lstatSync(own).uid, lstatSync(own).gid, lstatSync(own).mode & 0o777], [account.uid, account.gid, 0o644]);
    assert.equal(lstatSync(join(vc.tree!, 'node_modules')).uid, account.uid, 'node_modules is the account\'s, as a checkout is its user\'s');
    assert.notEqual(lstatSync(own).ino, lstatSync(sharedFile).ino, 'a copy, not a link: the account owns what it may change in its view');
    assert.equal(readFileSync(join(vc.tree!, 'node_modules', 'pkg', 'index.js'), 'utf8'), 'module.exports = "one";\n');
    assert.equal(lstatSync(vc.tree!).uid, 0, 'the folder above node_modules stays flexd\'s');
  }

  // One environment lets the tree go: the others still have it.
  a!.remove();
  assert.ok(existsSync(sharedFile), 'another environment still uses the runtime\'s tree');
  if (asRoot) {
    c!.remove();
    assert.ok(existsSync(sharedFile));
  }
  b!.remove();
  assert.ok(!existsSync(shared), 'the last environment to let it go removed the tree');

  // An environment keeps the trees its kept versions use and the two most recently used others.
  const d = new EnvironmentDirs(sandbox, 'env-3', 3, RANGE, trees);
  const keys = ['one', 'two', 'three', 'four'] as const;
  for (const key of keys) await d.version(`d-${key}`, key, undefined, writeProject, writeTree(key));
  assert.equal(treesIn(join(sandbox.runDir, 'trees')).length, 4);
  d.prune(new Set(['d-four']));
  assert.equal(treesIn(join(sandbox.runDir, 'trees')).length, 3, 'the least recently used spare tree went');
  writes.length = 0;
  await d.version('d-one', 'one', undefined, writeProject, writeTree('one'));
  assert.deepEqual(writes, ['one'], 'a tree let go is written out again when a version needs it');
  d.remove();
  assert.deepEqual(treesIn(join(sandbox.runDir, 'trees')), []);
  await waitFor('the trees let go to be removed in the background', () => (readdirSync(join(sandbox.runDir, 'trees')).length === 0 ? true : undefined), { timeoutMs: 60_000 });
});
