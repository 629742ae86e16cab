/**
 * unpackArtifact's writer (src/deploy/artifact.ts) where its folder already holds something: it
 * writes nothing through a link that is there, keeps the files' modes and owner, and writes every
 * file and folder of a real tree.
 */
import assert from 'node:assert/strict';
import { lstatSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { packTree, unpackArtifact, writeDependencyTree } from '../../src/deploy/artifact.ts';
import { rawTar } from '../fixtures/deploy/archives.ts';
import { tempDir } from '../helpers/tmp.ts';

const asRoot = process.getuid?.() === 0;

test('extract: a link planted where a folder of the tree belongs refuses it, and nothing is written where it points', async (t) => {
  const root = await tempDir(t, 'flexd-extract-');
  const outside = join(root, 'outside');
  mkdirSync(outside);
  const into = join(root, 'project');
  mkdirSync(into);
  symlinkSync(outside, join(into, 'node_modules'));
  const tree = gzipSync(rawTar([{ path: 'node_modules/x/index.js', body: 'planted' }]));
  // Refused at the link itself (the folder cannot be made there), not for another reason.
  await assert.rejects(writeDependencyTree(tree, into), { code: 'EEXIST', message: /node_modules'$/ });
  assert.deepEqual(readdirSync(outside), []);
});

test('extract: a link planted where a file of the tree goes is replaced by the file; its target is untouched', async (t) => {
  const root = await tempDir(t, 'flexd-extract-');
  const victim = join(root, 'victim.txt');
  writeFileSync(victim, 'unchanged');
  const into = join(root, 'project');
  mkdirSync(join(into, 'node_modules', 'x'), { recursive: true });
  symlinkSync(victim, join(into, 'node_modules', 'x', 'index.js'));
  await writeDependencyTree(gzipSync(rawTar([{ path: 'node_modules/x/index.js', body: 'the tree\'s' }])), into);
  assert.equal(readFileSync(victim, 'utf8'), 'unchanged');
  assert.ok(lstatSync(join(into, 'node_modules', 'x', 'index.js')).isFile());
  assert.equal(readFileSync(join(into, 'node_modules', 'x', 'index.js'), 'utf8'), 'the tree\'s');
});

test('extract: a packed folder comes back whole — every file\'s bytes and mode, empty folders, as the owner asked', async (t) => {
  const root = await tempDir(t, 'flexd-extract-');
  const source = join(root, 'source');
  mkdirSync(join(source, 'node_modules', 'a', 'lib', 'deep'), { recursive: true });
  mkdirSync(join(source, 'node_modules', 'empty'));
  for (let i = 0; i < 300; i++) writeFileSync(join(source, 'node_modules', 'a', 'lib', `f${i}.js`), `module.exports = ${i};\n`.repeat(i));
  writeFileSync(join(source, 'node_modules', 'a', 'lib', 'deep', 'run.sh'), '#!/bin/sh\n', { mode: 0o755 });
  const { archive } = await packTree([['node_modules', join(source, 'node_modules')]]);
  const into = join(root, 'project');
  const owner = asRoot ? { uid: 4242, gid: 4243 } : undefined;
  await writeDependencyTree(archive, into, owner);
  const written = join(into, 'node_modules');
  assert.deepEqual(readdirSync(written).sort(), ['a', 'empty']);
  assert.equal(readdirSync(join(written, 'a', 'lib')).length, 301);
  for (let i = 0; i < 300; i++) {
    const file = join(written, 'a', 'lib', `f${i}.js`);
    assert.equal(readFileSync(file, 'utf8'), `module.exports = ${i};\n`.repeat(i), file);
    assert.equal(statSync(file).mode & 0o777, 0o644, file);
  }
  assert.equal(statSync(join(written, 'a', 'lib', 'deep', 'run.sh')).mode & 0o777, 0o755);
  assert.equal(readFileSync(join(written, 'a', 'lib', 'deep', 'run.sh'), 'utf8'), '#!/bin/sh\n');
  assert.deepEqual(readdirSync(join(written, 'empty')), [], 'an empty folder comes back, empty');
  if (owner) {
    for (const path of [join(written, 'a'), join(written, 'a', 'lib', 'f7.js'), join(written, 'empty')]) {
      const st = statSync(path);
      assert.deepEqual([st.uid, st.gid], [owner.uid, owner.gid], path);
    }
  }
  // The project part on top of its tree: both there, and the tree's files stay.
  await unpackArtifact({ project: gzipSync(rawTar([{ path: 'package.json', body: '{}' }])), dependencies: null }, into);
  assert.equal(readFileSync(join(into, 'package.json'), 'utf8'), '{}');
  assert.equal(readdirSync(join(written, 'a', 'lib')).length, 301);
});
