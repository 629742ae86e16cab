import { spawn } from 'node:child_process';
import { closeSync, constants, existsSync, fchownSync, lchownSync, lstatSync, mkdirSync, openSync, unlinkSync, writeSync } from 'node:fs';
import { chown, mkdir, realpath, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { setImmediate } from 'node:timers/promises';
import type * as tar from 'tar';
import { FlexdError } from '../errors.ts';
import type { ArtifactParts } from '../store/versions.ts';
import { PACK_SCRIPT } from './pack-script.ts';

/**
 * What a replica runs is the project folder as `npm install --omit=dev` left it: the project's
 * own files byte for byte and its installed `node_modules` (native addons included), started as
 * `node .` would start it (src/child/load-service.ts). Stored in SQLite as two gzip'ed tars:
 *
 *   project        the project's own files (never node_modules), one per version
 *   dependencies   the installed node_modules (entries under `node_modules/`), stored once per
 *                  distinct tree (dependency-cache.ts)
 *                  and shared by every version built with the same dependencies; null when the
 *                  project has no dependencies
 */
export type { ArtifactParts };
/** Top-level names never packed as the project's own files: installed, generated or version control. */
export const NOT_PROJECT_FILES = ['node_modules', '.git', '.svn', '.hg', 'output.log'];

/** Who packs: the build account when flexd is root (the packer then reads only what it may). */
export interface PackOptions {
  uid?: number;
  gid?: number;
  /** the packer's whole environment; defaults to PATH only */
  env?: NodeJS.ProcessEnv;
  /** top-level names to leave out */
  leaveOut?: readonly string[];
  /** top-level names packed from another file (the project's original package.json), or left out (null) */
  replace?: Record<string, string | null>;
  /** links may point anywhere inside this folder (default: inside the packed folder) */
  linksWithin?: string;
}

/** The archive of a folder, and what the packer refused to carry (as `rel/path: why`). */
export interface Packed { archive: Buffer; skipped: string[] }

/**
 * Packs `dir` into a gzip'ed tar with the packer script (pack-script.ts), run as `options.uid`
 * when given; a list of [prefix, folder] packs each folder under its prefix. Symlinks that leave the folder and files the packer cannot read are not packed.
 *
 * @example
 *   const { archive, skipped } = await packTree('/…/builds/j1/project', { uid, gid, leaveOut: NOT_PROJECT_FILES });
 */
export function packTree(dir: string | [prefix: string, dir: string][], options: PackOptions = {}): Promise<Packed> {
  return new Promise((resolvePacked, reject) => {
    const folders = typeof dir === 'string' ? dir : JSON.stringify(dir);
    const child = spawn(process.execPath, ['-e', PACK_SCRIPT, folders, JSON.stringify(options.leaveOut ?? []), JSON.stringify(options.replace ?? {}), options.linksWithin ?? ''], {
      cwd: '/',
      env: options.env ?? { PATH: process.env.PATH ?? '/usr/bin:/bin' },
      stdio: ['ignore', 'pipe', 'pipe'],
      uid: options.uid,
      gid: options.gid,
    });
    const chunks: Buffer[] = [];
    let errors = '';
    child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => { errors += chunk; });
    child.once('error', reject);
    child.once('close', (code, signal) => {
      const skipped: string[] = [];
      const other: string[] = [];
      for (const line of errors.split('\n').filter(Boolean)) {
        try {
          const { skipped: path, why } = JSON.parse(line) as { skipped: string; why: string };
          skipped.push(`${path}: ${why}`);
        } catch {
          other.push(line);
        }
      }
      if (code !== 0) {
        const how = signal ? `killed by ${signal}` : `exit code ${code}`;
        reject(new FlexdError('PackFailed', `The built project could not be packed (the packer's ${how}).`, { debug: other.slice(-10).join('\n') }));
        return;
      }
      resolvePacked({ archive: Buffer.concat(chunks), skipped });
    });
  });
}

/**
 * Writes a stored artifact's project tree into `dir` (created if missing): its node_modules
 * first, then the project's own files. Both archives were made by `packTree`; entries are
 * checked anyway, so nothing lands outside `dir` and no link points out of it.
 *
 * @example
 *   await unpackArtifact(store.versions.artifact(version.id), dir);   // a whole project folder, as `node .` would run it
 */
export async function unpackArtifact(parts: ArtifactParts, dir: string): Promise<void> {
  if (parts.dependencies) await writeDependencyTree(parts.dependencies, dir);
  await writeProjectFiles(parts.project, dir);
}

/** Whose the written files are (flexd's own when absent): as root, the environment's account. */
export interface FileOwner { uid: number; gid: number }

/**
 * Writes the project's own files (the `project` part) into `dir` (created if missing); node_modules
 * is not among them. Written once per version (src/supervisor/layout.ts).
 */
export async function writeProjectFiles(project: Buffer, dir: string, owner?: FileOwner): Promise<void> {
  await mkdir(dir, { recursive: true });
  const root = await realpath(dir);
  await extract(project, root, '', owner);
  // A version built by flexd before it shipped installed trees: one bundle.cjs (whose project
  // files find their own folder through LEGACY_ARTIFACT_DIR_GLOBAL) and no package.json of its own.
  if (existsSync(join(root, 'bundle.cjs')) && existsSync(join(root, 'project')) && !existsSync(join(root, 'package.json'))) {
    await writeFile(join(root, 'package.json'), '{"main": "bundle.cjs"}\n');
    if (owner) await chown(join(root, 'package.json'), owner.uid, owner.gid);
  }
}

/**
 * Writes an installed dependency tree (the `dependencies` part: entries under `node_modules/`)
 * into `dir`, which stands in for the project folder: its links may point anywhere inside it.
 * Written once per runtime and tree, and shared read-only by the versions and environments that
 * have it (src/supervisor/shared-trees.ts). No file or folder in it is writable by group or others
 * (npm installs with umask 022 anyway): as root, replicas of several accounts get hard links of it.
 */
export async function writeDependencyTree(dependencies: Buffer, dir: string, owner?: FileOwner): Promise<void> {
  await mkdir(dir, { recursive: true });
  await extract(dependencies, await realpath(dir), 'node_modules/', owner, 0o755);
}

/** Compressed bytes fed to the parser between two turns of the event loop (a few ms of writing each). */
const EXTRACT_FEED_BYTES = 128 * 1024;

/**
 * Extracts into `root` what stays inside it, every entry under `under`; refuses the archive after
 * the last write. Written with synchronous calls, a slice of the archive at a time with the event
 * loop turning between slices: node-tar's extract took about 550 ms of CPU for kinvey-flex-sdk's
 * tree (1,600 files) against about 90 ms here, which every new environment's first start pays.
 * `root` is a folder of flexd's own that no replica writes; still, nothing is written through a
 * link: a file in the way is replaced, a link where a folder belongs refuses the archive.
 */
async function extract(archive: Buffer, root: string, under: string, owner?: FileOwner, modeMask = 0o777): Promise<void> {
  let refused: string | undefined;
  const made = new Set<string>([root]);
  /** Makes `dir` (inside root) and its missing parents real folders: an existing link there refuses the archive (EEXIST). */
  const folder = (dir: string, mode?: number): void => {
    if (made.has(dir)) return;
    folder(dirname(dir));
    try {
      mkdirSync(dir, mode ?? 0o777 & modeMask);
      if (owner) lchownSync(dir, owner.uid, owner.gid);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || !lstatSync(dir).isDirectory()) throw err;
    }
    made.add(dir);
  };
  let open: number | undefined;
  const { Parser } = await import('tar'); // loaded by the first artifact, not by the runtime's start
  const parser = new Parser({ strict: true });
  parser.on('entry', (entry: tar.ReadEntry) => {
    const target = resolve(root, entry.path);
    if (!within(root, target) || !`${entry.path}/`.startsWith(under) || entry.path.split('/').includes('..')) refused ??= `artifact entry ${entry.path} is out of place`;
    // No link is ever written (docs/security.md, "A replica"): the packer materialises them;
    // an artifact stored before it did keeps its links out of the replica's folder.
    const file = entry.type === 'File' || entry.type === 'OldFile' || entry.type === 'ContiguousFile';
    if (refused !== undefined || isLink(entry) || !(file || entry.type === 'Directory') || (file && target === root)) {
      if (refused === undefined && !isLink(entry)) refused = `artifact entry ${entry.path} is a ${entry.type} where none can be`;
      entry.resume();
      return;
    }
    // Permission bits only (no setuid, setgid or sticky bit; none beyond `modeMask`); a folder stays writable by its owner while it is filled.
    const mode = typeof entry.mode === 'number' ? entry.mode & modeMask : undefined;
    if (entry.type === 'Directory') {
      if (target !== root) folder(target, mode === undefined ? undefined : mode | 0o700);
      entry.resume();
      return;
    }
    folder(dirname(target));
    const create = () => openSync(target, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode ?? 0o666 & modeMask);
    let fd: number;
    try {
      fd = create();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || lstatSync(target).isDirectory()) throw err;
      unlinkSync(target); // a file (or link) in the way: replaced, never written through
      fd = create();
    }
    open = fd;
    if (owner) fchownSync(fd, owner.uid, owner.gid);
    entry.on('data', (chunk: Buffer) => { writeSync(fd, chunk); });
    entry.on('end', () => {
      open = undefined;
      closeSync(fd);
    });
  });
  try {
    await new Promise<void>((done, fail) => {
      parser.once('error', fail);
      parser.once('end', () => done());
      void (async () => {
        for (let offset = 0; offset < archive.length; offset += EXTRACT_FEED_BYTES) {
          parser.write(archive.subarray(offset, offset + EXTRACT_FEED_BYTES));
          await setImmediate();
        }
        parser.end();
      })().catch(fail);
    });
  } finally {
    if (open !== undefined) closeSync(open);
  }
  if (refused) throw new FlexdError('InvalidArtifact', `The stored artifact was refused: ${refused}.`, { status: 500 });
}

function isLink(entry: unknown): boolean {
  const type = (entry as { type?: string }).type;
  return type === 'SymbolicLink' || type === 'Link';
}

/** True when an archive made by `packTree` holds a compiled addon (a `.node` file). */
export async function holdsNativeAddon(archive: Buffer): Promise<boolean> {
  return (await scanPacked(archive)).nativeAddons;
}

/**
 * One file's content from an archive made by `packTree`, read in memory (never through the
 * file system the build account controls), or undefined.
 */
export async function readPackedFile(archive: Buffer, path: string): Promise<Buffer | undefined> {
  return (await scanPacked(archive, path)).file;
}

/**
 * What a build records of an archive made by `packTree`, in one walk of it (a tree of 1,600
 * files is about 70 ms of gunzip and parsing): whether it holds a compiled addon (a `.node`
 * file), and the content of the file at `path`, read in memory (undefined when absent).
 */
export async function scanPacked(archive: Buffer, path?: string): Promise<{ nativeAddons: boolean; file: Buffer | undefined }> {
  let nativeAddons = false;
  let file: Buffer | undefined;
  await eachEntry(archive, (entry) => {
    if (entry.type === 'File' && entry.path.endsWith('.node')) nativeAddons = true;
    if (entry.type === 'File' && entry.path === path) {
      const chunks: Buffer[] = [];
      entry.on('data', (chunk: Buffer) => chunks.push(chunk));
      entry.on('end', () => { file = Buffer.concat(chunks); });
    } else {
      entry.resume();
    }
  });
  return { nativeAddons, file };
}

/** Walks an in-memory tar archive; `onEntry` must consume or resume each entry. */
async function eachEntry(archive: Buffer, onEntry: (entry: tar.ReadEntry) => void): Promise<void> {
  const { Parser } = await import('tar');
  const parser = new Parser({ strict: false });
  parser.on('entry', onEntry);
  await new Promise<void>((done, fail) => {
    parser.once('error', fail);
    parser.once('end', () => done());
    parser.end(archive);
  });
}

function within(root: string, target: string): boolean {
  const rel = relative(root, target);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}
