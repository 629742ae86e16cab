import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { DEFAULT_UNPACK_LIMITS, unpackArchive } from '../../src/deploy/unpack.ts';
import { writeTree } from '../helpers/file-tree.ts';
import { tempDir } from '../helpers/tmp.ts';
import { gzipStream, paxHeader, rawEntry, rawTar, tarOf, zeros, type RawEntry } from '../fixtures/deploy/archives.ts';

async function exists(file: string): Promise<boolean> {
  return fs.lstat(file).then(() => true, () => false);
}

/** Asserts the refusal's code and status, and that the destination is still empty. */
async function assertRefused(archive: Buffer, dest: string, code: string, status: number, message?: RegExp, limits = DEFAULT_UNPACK_LIMITS) {
  await assert.rejects(unpackArchive(archive, dest, limits), (err: { code: string; status: number; message: string }) => {
    assert.equal(err.code, code, err.message);
    assert.equal(err.status, status);
    if (message) assert.match(err.message, message);
    return true;
  });
  assert.deepEqual(await fs.readdir(dest).catch(() => []), [], 'nothing was written into the destination');
}

const project = {
  'package.json': '{"name":"svc","version":"1.0.0","dependencies":{"kinvey-flex-sdk":"^3.3.0"}}',
  'index.js': 'require("./lib/handlers");\n',
  'lib/handlers.js': 'module.exports = {};\n',
  '.kinvey': '{"serviceId":"x"}',
};

test('unpack: a plain tar made like kinvey-cli\'s unpacks every file and folder intact', async (t) => {
  const tmp = await tempDir(t, 'flexd-unpack-');
  await writeTree(path.join(tmp, 'src'), project);
  const dest = path.join(tmp, 'dest');

  const result = await unpackArchive(await tarOf(path.join(tmp, 'src')), dest);

  assert.equal(result.root, dest);
  assert.equal(result.entries, 6); // ./, lib/ and four files
  assert.equal(result.bytes, Object.values(project).reduce((n, s) => n + Buffer.byteLength(s), 0));
  for (const [name, content] of Object.entries(project)) {
    assert.equal(await fs.readFile(path.join(dest, name), 'utf8'), content, name);
  }
});

test('unpack: a gzip\'ed tar unpacks the same as the plain one', async (t) => {
  const tmp = await tempDir(t, 'flexd-unpack-');
  await writeTree(path.join(tmp, 'src'), project);
  const archive = await tarOf(path.join(tmp, 'src'), { gzip: true });
  assert.equal(archive[0], 0x1f);

  const result = await unpackArchive(archive, path.join(tmp, 'dest'));

  assert.equal(result.entries, 6);
  assert.equal(await fs.readFile(path.join(tmp, 'dest/lib/handlers.js'), 'utf8'), project['lib/handlers.js']);
});

test('unpack: files of several MiB are written whole, from a plain and from a gzip\'ed tar', async (t) => {
  const tmp = await tempDir(t, 'flexd-unpack-');
  const big = Buffer.alloc(3 * 1024 * 1024 + 7);
  for (let i = 0; i < big.length; i += 1) big[i] = (i * 7919) % 251;
  const archive = rawTar([{ path: 'package.json', body: '{}' }, { path: 'data/big.bin', body: big }, { path: 'data/after.js', body: 'x' }]);

  for (const [name, input] of [['plain', archive], ['gzip', await gzipStream([archive])]] as const) {
    const result = await unpackArchive(input, path.join(tmp, name));
    assert.equal(result.bytes, big.length + 3);
    assert.ok((await fs.readFile(path.join(tmp, name, 'data/big.bin'))).equals(big), name);
    assert.equal(await fs.readFile(path.join(tmp, name, 'data/after.js'), 'utf8'), 'x');
  }
});

test('unpack: zeros after the end-of-archive blocks are not inflated', async (t) => {
  const tmp = await tempDir(t, 'flexd-unpack-');
  const archive = rawTar([{ path: 'package.json', body: '{}' }]);
  const padded = await gzipStream([archive, ...zeros(300 * 1024 * 1024)]);

  const result = await unpackArchive(padded, path.join(tmp, 'dest'));

  assert.equal(result.entries, 1);
});

test('unpack: files get 0644 and folders 0755 whatever modes and setuid bits the headers carry', async (t) => {
  const tmp = await tempDir(t, 'flexd-unpack-');
  const archive = rawTar([
    { path: 'bin/', type: 'Directory', mode: 0o7777 },
    { path: 'bin/run', body: '#!/bin/sh\n', mode: 0o4755 },
    { path: 'secret', body: 'x', mode: 0o000 },
  ]);

  await unpackArchive(archive, path.join(tmp, 'dest'));

  assert.equal((await fs.stat(path.join(tmp, 'dest/bin'))).mode & 0o7777, 0o755);
  assert.equal((await fs.stat(path.join(tmp, 'dest/bin/run'))).mode & 0o7777, 0o644);
  assert.equal((await fs.stat(path.join(tmp, 'dest/secret'))).mode & 0o7777, 0o644);
});

test('unpack: an npm-pack style package/ wrapper is kept and root points into it', async (t) => {
  const tmp = await tempDir(t, 'flexd-unpack-');
  const archive = rawTar([
    { path: 'package/package.json', body: project['package.json'] },
    { path: 'package/index.js', body: project['index.js'] },
  ]);

  const result = await unpackArchive(archive, path.join(tmp, 'dest'));

  assert.equal(result.root, path.join(tmp, 'dest', 'package'));
  assert.ok(await exists(path.join(result.root, 'index.js')));
});

test('unpack: root stays at the destination when the root has a package.json or two folders have one', async (t) => {
  const tmp = await tempDir(t, 'flexd-unpack-');
  const both = rawTar([{ path: 'package.json', body: '{}' }, { path: 'sub/package.json', body: '{}' }]);
  const two = rawTar([{ path: 'a/package.json', body: '{}' }, { path: 'b/package.json', body: '{}' }]);

  assert.equal((await unpackArchive(both, path.join(tmp, 'both'))).root, path.join(tmp, 'both'));
  assert.equal((await unpackArchive(two, path.join(tmp, 'two'))).root, path.join(tmp, 'two'));
});

const evilEntries: Array<[string, RawEntry | Buffer, RegExp]> = [
  ['a ../ path', { path: '../x', body: 'owned' }, /"\.\.\/x".*"\.\."/],
  ['a .. in the middle of a path', { path: 'lib/../../x', body: 'owned' }, /"\.\."/],
  ['an absolute path', { path: '/etc/x', body: 'owned' }, /"\/etc\/x" is an absolute path/],
  ['a symbolic link', { path: 'link', type: 'SymbolicLink', linkpath: '/etc' }, /"link" is a symbolic link/],
  ['a hard link', { path: 'hard', type: 'Link', linkpath: 'package.json' }, /"hard" is a hard link/],
  ['a character device', { path: 'null', type: 'CharacterDevice' }, /"null" is a character device/],
  ['a block device', { path: 'sda', type: 'BlockDevice' }, /"sda" is a block device/],
  ['a fifo', { path: 'pipe', type: 'FIFO' }, /"pipe" is a named pipe/],
  ['a type tar does not know', { path: 'sparse', type: 'SparseFile' }, /"sparse" has type SparseFile/],
  ['a Windows drive letter', { path: 'C:x', body: 'owned' }, /drive letter/],
  ['a backslash', { path: '..\\x', body: 'owned' }, /backslash/],
  ['a pax path that climbs out', Buffer.concat([paxHeader({ path: '../../pax-x' }), rawEntry({ path: 'placeholder', body: 'owned' })]), /"\.\.\/\.\.\/pax-x"/],
];

for (const [what, evil, message] of evilEntries) {
  test(`unpack: an archive with ${what} is refused whole and nothing is written anywhere`, async (t) => {
    const tmp = await tempDir(t, 'flexd-unpack-');
    const dest = path.join(tmp, 'deep', 'dest');
    // A good entry first: refusing must happen before anything is written, not at the bad entry.
    const archive = rawTar([{ path: 'package.json', body: '{}' }, evil, { path: 'after.js', body: '' }]);

    await assertRefused(archive, dest, 'UnsafeArchive', 400, message);

    assert.equal(await exists(path.join(tmp, 'deep', 'x')), false);
    assert.equal(await exists(path.join(tmp, 'x')), false);
    assert.equal(await exists(path.join(tmp, 'pax-x')), false);
  });
}

test('unpack: a path used as both a file and a folder is refused', async (t) => {
  const tmp = await tempDir(t, 'flexd-unpack-');
  const archive = rawTar([{ path: 'lib', body: 'file' }, { path: 'lib/x.js', body: '' }]);
  await assertRefused(archive, path.join(tmp, 'dest'), 'UnsafeArchive', 400, /"lib\/x\.js" is inside "lib", which is a file/);
  const twice = rawTar([{ path: 'a.js', body: '1' }, { path: './a.js', body: '2' }]);
  await assertRefused(twice, path.join(tmp, 'dest2'), 'UnsafeArchive', 400, /appears twice/);
});

test('unpack: an archive over maxArchiveBytes is refused with 413 before it is read', async (t) => {
  const tmp = await tempDir(t, 'flexd-unpack-');
  const archive = rawTar([{ path: 'big.bin', body: Buffer.alloc(4096) }]);
  await assertRefused(archive, path.join(tmp, 'dest'), 'ArchiveTooLarge', 413, /the limit is 4000 bytes/,
    { ...DEFAULT_UNPACK_LIMITS, maxArchiveBytes: 4000 });
  // Bytes that are no archive at all: read, they would be InvalidArchive (400); the size alone refuses them.
  await assertRefused(Buffer.alloc(4001, 'x'), path.join(tmp, 'dest2'), 'ArchiveTooLarge', 413, /The archive is 4001 bytes; the limit is 4000 bytes/,
    { ...DEFAULT_UNPACK_LIMITS, maxArchiveBytes: 4000 });
});

test('unpack: a gzip bomb of 300 MiB of zeros is refused by the unpacked-size cap without inflating it', async (t) => {
  const tmp = await tempDir(t, 'flexd-unpack-');
  const declared = 300 * 1024 * 1024;
  const header = rawEntry({ path: 'bomb.bin', size: declared }).subarray(0, 512);
  const bomb = await gzipStream([header, ...zeros(declared)]);
  assert.ok(bomb.length < DEFAULT_UNPACK_LIMITS.maxArchiveBytes, 'the bomb fits the upload cap');

  // Refused at the header, by the size it declares: the bytes counted while inflating would say the same cap without "reached at entry".
  await assertRefused(bomb, path.join(tmp, 'dest'), 'ArchiveTooLarge', 413, /unpacks to more than 209715200 bytes \(reached at entry "bomb\.bin"\)/);
});

test('unpack: a gzip\'ed stream of zeros is refused as an invalid archive', async (t) => {
  const tmp = await tempDir(t, 'flexd-unpack-');
  const bomb = await gzipStream(zeros(300 * 1024 * 1024));
  await assertRefused(bomb, path.join(tmp, 'dest'), 'InvalidArchive', 400);
});

test('unpack: small files whose declared sizes add up past the cap are refused', async (t) => {
  const tmp = await tempDir(t, 'flexd-unpack-');
  const archive = rawTar(Array.from({ length: 5 }, (_, i) => ({ path: `f${i}`, body: Buffer.alloc(1000) })));
  await assertRefused(archive, path.join(tmp, 'dest'), 'ArchiveTooLarge', 413, /reached at entry "f4"/,
    { ...DEFAULT_UNPACK_LIMITS, maxUnpackedBytes: 4500 });
});

test('unpack: pax headers that inflate past the framing allowance are refused by the inflated-size cap', async (t) => {
  const tmp = await tempDir(t, 'flexd-unpack-');
  const limits = { ...DEFAULT_UNPACK_LIMITS, maxUnpackedBytes: 64 * 1024, maxEntries: 10 };
  const padding = 'x'.repeat(200 * 1024);
  const archive = await gzipStream(Array.from({ length: 5 }, (_, i) => Buffer.concat([
    paxHeader({ comment: padding }), rawEntry({ path: `f${i}` }),
  ])));
  await assertRefused(archive, path.join(tmp, 'dest'), 'ArchiveTooLarge', 413, /inflates to more than/, limits);
});

test('unpack: 20 001 tiny entries are refused by the entry cap before anything is written', async (t) => {
  const tmp = await tempDir(t, 'flexd-unpack-');
  const archive = rawTar(Array.from({ length: 20_001 }, (_, i) => ({ path: `f${i}` })));
  await assertRefused(archive, path.join(tmp, 'dest'), 'ArchiveTooLarge', 413, /more than 20000 entries/);
});

test('unpack: a header that lies about its size is refused as an invalid archive', async (t) => {
  const tmp = await tempDir(t, 'flexd-unpack-');
  const archive = rawTar([{ path: 'package.json', body: 'A'.repeat(2000), size: 10 }]);
  await assertRefused(archive, path.join(tmp, 'dest'), 'InvalidArchive', 400, /corrupt or truncated/);
});

test('unpack: a truncated archive is refused and nothing is written', async (t) => {
  const tmp = await tempDir(t, 'flexd-unpack-');
  const archive = rawTar([{ path: 'package.json', body: '{}' }, { path: 'big.js', body: Buffer.alloc(100_000, 'a') }]);
  await assertRefused(archive.subarray(0, 50_000), path.join(tmp, 'dest'), 'InvalidArchive', 400, /Truncated/);
  const gzipped = await gzipStream([archive]);
  await assertRefused(gzipped.subarray(0, gzipped.length - 20), path.join(tmp, 'dest2'), 'InvalidArchive', 400);
});

test('unpack: empty input, an archive with no entries and random bytes are refused as invalid', async (t) => {
  const tmp = await tempDir(t, 'flexd-unpack-');
  await assertRefused(Buffer.alloc(0), path.join(tmp, 'a'), 'InvalidArchive', 400, /empty/);
  await assertRefused(Buffer.alloc(1024), path.join(tmp, 'b'), 'InvalidArchive', 400);
  await assertRefused(Buffer.from('not a tar at all '.repeat(100)), path.join(tmp, 'c'), 'InvalidArchive', 400);
});

test('unpack: a gzip inside a gzip is refused', async (t) => {
  const tmp = await tempDir(t, 'flexd-unpack-');
  const inner = await gzipStream([rawTar([{ path: 'package.json', body: '{}' }])]);
  await assertRefused(await gzipStream([inner]), path.join(tmp, 'dest'), 'InvalidArchive', 400, /compressed twice/);
});

test('unpack: a destination that is not empty is refused', async (t) => {
  const tmp = await tempDir(t, 'flexd-unpack-');
  await fs.writeFile(path.join(tmp, 'already-here'), '');
  await assert.rejects(unpackArchive(rawTar([{ path: 'package.json', body: '{}' }]), tmp), { code: 'UnpackDestinationNotEmpty' });
});
