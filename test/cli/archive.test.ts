import assert from 'node:assert/strict';
import { mkdir, readdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { list } from 'tar';
import { buildArchive, projectEntries } from '../../src/cli/archive.ts';
import { unpackArchive } from '../../src/deploy/unpack.ts';
import { tempDir } from '../helpers/tmp.ts';

async function project(t: Parameters<typeof tempDir>[0]): Promise<string> {
  const dir = await tempDir(t, 'flexd-cli-project-');
  const files: Record<string, string> = {
    'package.json': '{"name":"p","version":"1.0.0","dependencies":{"kinvey-flex-sdk":"^3.3.0"}}',
    'index.js': 'require("kinvey-flex-sdk")',
    'lib/handler.js': '// handler',
    'lib/node_modules/nested/index.js': '// installed under lib',
    'node_modules/kinvey-flex-sdk/package.json': '{}',
    '.git/HEAD': 'ref: refs/heads/main',
    'output.log': 'old log',
    '.gitignore': 'node_modules',
    '.kinvey': '{}',
    '.flexd/flexd.db': 'a database',
    'empty/.keep': '',
  };
  for (const [path, text] of Object.entries(files)) {
    await mkdir(join(dir, path, '..'), { recursive: true });
    await writeFile(join(dir, path), text);
  }
  return dir;
}

async function tarEntries(archive: Buffer): Promise<string[]> {
  const paths: string[] = [];
  await new Promise<void>((resolve, reject) => {
    const parser = list({ onReadEntry: (e) => { paths.push(e.path); } });
    parser.on('end', resolve).on('error', reject);
    Readable.from([archive]).pipe(parser as unknown as NodeJS.WritableStream);
  });
  return paths;
}

test('archive: the project is a gzip\'ed tar without node_modules (at any depth), .git, output.log or the root .flexd', async (t) => {
  const dir = await project(t);
  const archive = await buildArchive(dir);
  assert.deepEqual([...archive.subarray(0, 2)], [0x1f, 0x8b], 'gzip magic');
  const paths = (await tarEntries(archive)).map((p) => p.replace(/\/$/, ''));
  assert.deepEqual(paths.sort(), ['.gitignore', '.kinvey', 'empty', 'empty/.keep', 'index.js', 'lib', 'lib/handler.js', 'package.json']);
});

test('archive: the server\'s unpack accepts what the CLI builds', async (t) => {
  const dir = await project(t);
  const dest = await tempDir(t, 'flexd-cli-unpacked-');
  const result = await unpackArchive(await buildArchive(dir), join(dest, 'out'));
  assert.equal(result.root, join(dest, 'out'));
  assert.deepEqual((await readdir(result.root)).sort(), ['.gitignore', '.kinvey', 'empty', 'index.js', 'lib', 'package.json']);
});

test('archive: a symbolic link is refused before upload, naming it', async (t) => {
  const dir = await project(t);
  await symlink('index.js', join(dir, 'lib', 'link.js'));
  await assert.rejects(projectEntries(dir), { code: 'InvalidProject', message: /lib\/link\.js is a symbolic link/ });
});
