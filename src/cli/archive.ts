import { lstat, readdir } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { create } from 'tar';
import { CliError } from './errors.ts';

/**
 * What a deploy never uploads: the server installs `node_modules` itself, and version-control
 * folders and the SDK's `output.log` are not part of the service. kinvey-cli drops any path that
 * merely *starts with* one of its names (so also `.gitignore`); flexd drops a file or folder
 * whose name is one of these, at any depth. `.flexd` is where `flexd serve` keeps its database
 * when it is started inside the project.
 */
export const EXCLUDED_NAMES: ReadonlySet<string> = new Set(['node_modules', '.git', '.svn', '.hg', 'output.log']);
export const EXCLUDED_AT_ROOT: ReadonlySet<string> = new Set(['.flexd']);

/**
 * The project's files and folders to upload, relative with `/` separators, parents before
 * their children, sorted. A symbolic link or other special file is refused here, with its
 * path, because the server accepts regular files and folders only.
 */
export async function projectEntries(dir: string): Promise<string[]> {
  const entries: string[] = [];
  async function walk(relative: string): Promise<void> {
    const names = (await readdir(join(dir, relative))).sort();
    for (const name of names) {
      if (EXCLUDED_NAMES.has(name) || (relative === '' && EXCLUDED_AT_ROOT.has(name))) continue;
      const path = relative === '' ? name : posix.join(relative, name);
      const stat = await lstat(join(dir, path));
      if (stat.isDirectory()) {
        entries.push(path);
        await walk(path);
      } else if (stat.isFile()) {
        entries.push(path);
      } else {
        const kind = stat.isSymbolicLink() ? 'a symbolic link' : 'not a regular file or folder';
        throw new CliError(`${path} is ${kind}; flexd deploys regular files and folders only (replace it with a copy)`, 'InvalidProject');
      }
    }
  }
  await walk('');
  return entries;
}

/**
 * The project as a gzip'ed tar, entries relative to `dir` (no top folder), without what
 * EXCLUDED_NAMES lists. flexd's server detects gzip itself; kinvey-cli sends plain tar.
 *
 * @example const archive = await buildArchive('./my-service'); // Buffer, starts with 1f 8b
 */
export async function buildArchive(dir: string): Promise<Buffer> {
  const entries = await projectEntries(dir);
  if (entries.length === 0) throw new CliError(`${dir} is empty`, 'InvalidProject');
  const chunks: Buffer[] = [];
  // noDirRecurse: the list above is complete, folders are added as entries without their contents
  const stream = create({ gzip: true, cwd: dir, portable: true, noDirRecurse: true }, entries);
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
