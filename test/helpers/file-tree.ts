/**
 * A folder of files written from a literal, for tests of what flexd reads from a project or an
 * archive:
 *
 *   const dir = await fileTree(t, { 'package.json': { version: '1.0.0' }, 'lib/a.js': '' });
 *   await writeTree(join(tmp, 'src'), { 'index.js': 'module.exports = {};' });
 *
 * A string is written as it is; anything else as JSON. Folders are made as the paths need them.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { CleanupContext } from './cleanup.ts';
import { tempDir } from './tmp.ts';

export type Tree = Record<string, unknown>;

/** Writes `files` under `dir` (made when missing). */
export async function writeTree(dir: string, files: Tree): Promise<string> {
  await mkdir(dir, { recursive: true });
  for (const [name, content] of Object.entries(files)) {
    await mkdir(dirname(join(dir, name)), { recursive: true });
    await writeFile(join(dir, name), typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  }
  return dir;
}

/** A fresh temporary folder holding `files`, removed when `t` ends. */
export async function fileTree(t: CleanupContext, files: Tree, prefix = 'flexd-tree-'): Promise<string> {
  return writeTree(await tempDir(t, prefix), files);
}
