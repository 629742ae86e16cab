/** The packer and unpackArtifact (src/deploy/artifact.ts): what may enter an artifact, and where it may land. */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { holdsNativeAddon, packTree, readPackedFile, scanPacked, unpackArtifact } from '../../src/deploy/artifact.ts';
import { rawTar } from '../fixtures/deploy/archives.ts';
import { tempDir } from '../helpers/tmp.ts';
import { gunzipSync, gzipSync } from 'node:zlib';
import { Parser, type ReadEntry } from 'tar';

const asRoot = process.getuid?.() === 0;

test('pack: no link reaches an artifact: links inside the folder are materialised, links leaving it or making a cycle are left out and named', async (t) => {
  const root = await tempDir(t, 'flexd-pack-');
  const dir = join(root, 'project');
  mkdirSync(join(dir, 'lib'), { recursive: true });
  writeFileSync(join(dir, 'lib', 'a.js'), 'module.exports = 1;\n');
  writeFileSync(join(root, 'outside.txt'), 'outside');
  symlinkSync('a.js', join(dir, 'lib', 'alias.js'));
  symlinkSync(join(dir, 'lib'), join(dir, 'absolute-inside'));
  symlinkSync('../outside.txt', join(dir, 'climbs.txt'));
  symlinkSync('/etc/passwd', join(dir, 'passwd'));
  symlinkSync('.', join(dir, 'self'));
  symlinkSync('..', join(dir, 'lib', 'up'));

  const { archive, skipped } = await packTree(dir);
  assert.deepEqual(skipped.sort(), ['absolute-inside/up: a symlink to a folder that holds it', 'climbs.txt: a symlink leaving the project folder', 'lib/up: a symlink to a folder that holds it',
    'passwd: a symlink leaving the project folder', 'self: a symlink to a folder that holds it']);
  const out = join(root, 'out');
  await unpackArtifact({ project: archive, dependencies: null }, out);
  assert.ok(lstatSync(join(out, 'lib', 'alias.js')).isFile(), 'a link to a file is the file');
  assert.equal(readFileSync(join(out, 'lib', 'alias.js'), 'utf8'), 'module.exports = 1;\n');
  assert.ok(lstatSync(join(out, 'absolute-inside')).isDirectory(), 'a link to a folder is the folder');
  assert.equal(readFileSync(join(out, 'absolute-inside', 'a.js'), 'utf8'), 'module.exports = 1;\n');
  assert.ok(!existsSync(join(out, 'climbs.txt')) && !existsSync(join(out, 'passwd')) && !existsSync(join(out, 'self')) && !existsSync(join(out, 'lib', 'up')));
});

// A fan of links to one folder: each link alone is under the cap, together they pass it. The file
// is sparse (no disk), and left out itself, so only the first link's 128 MiB of zeros is gzip'ed
// (about 0.5 s of the packer's CPU). The cap on entries is the next test's.
test('pack: a fan of links to one folder adds at most 256 MiB: the link that would pass it is left out and named', async (t) => {
  const dir = join(await tempDir(t, 'flexd-pack-'), 'project');
  mkdirSync(join(dir, 'big'), { recursive: true });
  writeFileSync(join(dir, 'big', 'a.txt'), 'a');
  writeFileSync(join(dir, 'big', 'zero.bin'), '');
  truncateSync(join(dir, 'big', 'zero.bin'), 128 * 1024 * 1024 + 1);
  symlinkSync('big', join(dir, 'l1'));
  symlinkSync('big', join(dir, 'l2'));
  const { archive, skipped } = await packTree(dir, { leaveOut: ['big'] });
  assert.deepEqual(skipped, ['l2/zero.bin: past what links may add to an artifact']);
  // flexd's own reader refuses an archive this compressible (tar's ratio guard): list it here.
  const files = new Map<string, number>();
  const parser = new Parser({ maxDecompressionRatio: Infinity });
  parser.on('entry', (entry: ReadEntry) => { if (entry.type === 'File') files.set(entry.path, entry.size); entry.resume(); });
  await new Promise((done, fail) => { parser.once('error', fail); parser.once('end', done); parser.end(archive); });
  assert.deepEqual([...files], [['l1/a.txt', 1], ['l1/zero.bin', 128 * 1024 * 1024 + 1], ['l2/a.txt', 1]]);
});

// The cap on entries, reached for real: 100 links to one folder of 999 empty files add exactly
// 100,000 entries (each link's folder and its files), the 101st link's folder would be one more.
// Empty files are the cheapest entry the packer writes (one 512-byte header, nothing to compress):
// about 2 s of the packer's CPU. Each entry is then one header block, so the unpacked archive is
// 512 bytes per entry and the two zero blocks that end it, and its headers are read in place
// (tar's parser over 100,000 entries would cost more than the pack).
test('pack: a fan of links to one folder adds at most 100,000 entries: the link that would pass it is left out and named', async (t) => {
  const dir = join(await tempDir(t, 'flexd-pack-'), 'project');
  mkdirSync(join(dir, 'many'), { recursive: true });
  const fileNames = Array.from({ length: 999 }, (_, i) => `f${String(i).padStart(3, '0')}`);
  for (const name of fileNames) writeFileSync(join(dir, 'many', name), '');
  const links = Array.from({ length: 101 }, (_, i) => `l${String(i).padStart(3, '0')}`);
  for (const link of links) symlinkSync('many', join(dir, link));
  const { archive, skipped } = await packTree(dir, { leaveOut: ['many'] });
  assert.deepEqual(skipped, ['l100: past what links may add to an artifact']);
  const tar = gunzipSync(archive);
  const entries = 100 * 1000;
  assert.equal(tar.length, entries * 512 + 1024, 'one header block per entry, then the end');
  const name = (i: number) => tar.toString('utf8', i * 512, i * 512 + 100).replace(/\0.*$/s, '');
  const size = (i: number) => parseInt(tar.toString('ascii', i * 512 + 124, i * 512 + 135), 8);
  const expected = links.slice(0, 100).flatMap((link) => [`${link}/`, ...fileNames.map((f) => `${link}/${f}`)]);
  for (let i = 0; i < entries; i++) {
    if (name(i) !== expected[i] || size(i) !== 0) assert.fail(`entry ${i}: ${name(i)} (${size(i)} bytes), expected ${expected[i]} (empty)`);
  }
  assert.ok(tar.subarray(entries * 512).every((b) => b === 0), 'the archive ends after the 100,000th entry');
});

test('pack: a loop of links between two folders ends, cut where it comes back', async (t) => {
  const root = await tempDir(t, 'flexd-pack-');
  const dir = join(root, 'project');
  mkdirSync(join(dir, 'x'), { recursive: true });
  mkdirSync(join(dir, 'y'));
  symlinkSync('../y', join(dir, 'x', 'to-y'));
  symlinkSync('../x', join(dir, 'y', 'to-x'));
  writeFileSync(join(dir, 'x', 'file.txt'), 'x');
  const { archive, skipped } = await packTree(dir);
  assert.ok(skipped.some((s) => /a symlink to a folder that holds it/.test(s)), skipped.join('; '));
  assert.equal((await readPackedFile(archive, 'x/to-y/to-x/file.txt')), undefined, 'the loop is cut where it comes back');
  assert.equal((await readPackedFile(archive, 'y/to-x/file.txt'))?.toString(), 'x');
});

test('pack: top-level names are left out or taken from another file; long and unicode names survive', async (t) => {
  const root = await tempDir(t, 'flexd-pack-');
  const dir = join(root, 'install');
  mkdirSync(join(dir, 'node_modules', 'x'), { recursive: true });
  writeFileSync(join(dir, 'package.json'), '{"rewritten": true}');
  writeFileSync(join(dir, 'package-lock.json'), '{"made by npm": true}');
  writeFileSync(join(root, 'original.json'), '{ "original":  true }\n');
  const long = `${'deep/'.repeat(30)}ünïcödé-${'n'.repeat(120)}.txt`;
  mkdirSync(join(dir, long, '..'), { recursive: true });
  writeFileSync(join(dir, long), 'long');

  const { archive } = await packTree(dir, { leaveOut: ['node_modules'], replace: { 'package.json': join(root, 'original.json'), 'package-lock.json': null } });
  assert.equal((await readPackedFile(archive, 'package.json'))?.toString(), '{ "original":  true }\n');
  assert.equal(await readPackedFile(archive, 'package-lock.json'), undefined);
  assert.equal((await readPackedFile(archive, long))?.toString(), 'long');
  assert.equal(await holdsNativeAddon(archive), false);
});

test('pack: one walk of a packed tree says whether it holds a compiled addon (at any depth) and reads the file asked for', async (t) => {
  const root = await tempDir(t, 'flexd-pack-');
  const sdk = join(root, 'node_modules', 'kinvey-flex-sdk');
  const addon = join(root, 'node_modules', 'a', 'node_modules', 'b', 'build', 'Release');
  mkdirSync(sdk, { recursive: true });
  mkdirSync(addon, { recursive: true });
  writeFileSync(join(sdk, 'package.json'), '{"version": "3.3.0"}');
  writeFileSync(join(addon, 'b.node'), 'not really ELF');
  const { archive } = await packTree([['node_modules', join(root, 'node_modules')]]);
  assert.deepEqual(await scanPacked(archive, 'node_modules/kinvey-flex-sdk/package.json'), { nativeAddons: true, file: Buffer.from('{"version": "3.3.0"}') });
  assert.deepEqual(await scanPacked(archive, 'node_modules/missing/package.json'), { nativeAddons: true, file: undefined });
  assert.equal(await holdsNativeAddon(archive), true);

  writeFileSync(join(sdk, 'b.node.txt'), 'a name that only contains .node');
  const { archive: plain } = await packTree([['node_modules/kinvey-flex-sdk', sdk]]);
  assert.equal((await readPackedFile(plain, 'node_modules/kinvey-flex-sdk/b.node.txt'))?.toString(), 'a name that only contains .node');
  assert.deepEqual(await scanPacked(plain, 'node_modules/kinvey-flex-sdk/package.json'), { nativeAddons: false, file: Buffer.from('{"version": "3.3.0"}') });
});

test('pack: as another account, a file that account cannot read is not in the archive', { skip: !asRoot && 'needs root to pack as another uid' }, async (t) => {
  const dir = await tempDir(t, 'flexd-pack-');
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, 'public.txt'), 'public', { mode: 0o644 });
  writeFileSync(join(dir, 'secret.txt'), 'root only', { mode: 0o600 });
  const { archive, skipped } = await packTree(dir, { uid: 65534, gid: 65534 });
  assert.deepEqual(skipped, ['secret.txt: EACCES']);
  assert.equal((await readPackedFile(archive, 'public.txt'))?.toString(), 'public');
  assert.equal(await readPackedFile(archive, 'secret.txt'), undefined);
});

test('unpackArtifact: a link in an archive (stored before links were materialised) is never written; an entry outside node_modules is refused', async (t) => {
  const root = await tempDir(t, 'flexd-unpack-');
  const link = gzipSync(rawTar([{ path: 'escape', type: 'SymbolicLink', linkpath: '../../etc' }, { path: 'self', type: 'SymbolicLink', linkpath: '.' }, { path: 'kept.txt', body: 'x' }]));
  await unpackArtifact({ project: link, dependencies: null }, join(root, 'a'));
  assert.deepEqual(readdirSync(join(root, 'a')), ['kept.txt']);
  const misplaced = gzipSync(rawTar([{ path: 'index.js', body: 'planted' }]));
  await assert.rejects(unpackArtifact({ project: gzipSync(rawTar([{ path: 'package.json', body: '{}' }])), dependencies: misplaced }, join(root, 'b')),
    { code: 'InvalidArtifact' });
  assert.ok(!existsSync(join(root, 'b', 'index.js')), 'a dependency tree cannot place project files');
});

test('pack: a packed folder that is itself a link out of the bound (node_modules -> /etc) is left out', async (t) => {
  const root = await tempDir(t, 'flexd-pack-');
  const install = join(root, 'install');
  mkdirSync(install);
  symlinkSync('/etc', join(install, 'node_modules'));
  const { archive, skipped } = await packTree([['node_modules', join(install, 'node_modules')]], { linksWithin: install });
  assert.deepEqual(skipped, ['node_modules: a symlink leaving the project folder']);
  assert.equal(await readPackedFile(archive, 'node_modules/passwd'), undefined);
});
