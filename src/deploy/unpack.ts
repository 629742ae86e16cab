import { constants as fsConstants } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { createGunzip } from 'node:zlib';
import type { ReadEntry } from 'tar';
import { DEFAULTS } from '../config.ts';
import { FlexdError } from '../errors.ts';
import {
  ARCHIVE_READ_CHUNK_BYTES, MAX_ENTRY_NAME_BYTES, MAX_ENTRY_PATH_BYTES, TAR_FRAMING_BYTES_PER_ENTRY,
} from './limits.ts';

/** Caps on one uploaded archive. All sizes in bytes. */
export interface UnpackLimits {
  /** the archive as uploaded (compressed or not) */
  maxArchiveBytes: number;
  /** the sum of the file sizes, as declared by the headers and as actually written */
  maxUnpackedBytes: number;
  /** files and folders, counted before anything is written */
  maxEntries: number;
}

/** 10 MiB (kinvey-cli's own upload cap), 200 MiB unpacked, 20 000 entries: see `src/config.ts`. */
export const DEFAULT_UNPACK_LIMITS: Readonly<UnpackLimits> = Object.freeze({
  maxArchiveBytes: DEFAULTS.maxArchiveBytes,
  maxUnpackedBytes: DEFAULTS.maxUnpackedBytes,
  maxEntries: DEFAULTS.maxArchiveEntries,
});

export interface UnpackResult {
  /** files and folders written */
  entries: number;
  /** file bytes written */
  bytes: number;
  /** the project folder: `destDir`, or its single top-level folder holding the package.json (`npm pack`'s `package/`) */
  root: string;
}

const GZIP_MAGIC = [0x1f, 0x8b];
const FILE_TYPES = new Set(['File', 'OldFile', 'ContiguousFile']);
const REFUSED_TYPES: Record<string, string> = {
  Link: 'is a hard link', SymbolicLink: 'is a symbolic link', CharacterDevice: 'is a character device',
  BlockDevice: 'is a block device', FIFO: 'is a named pipe',
};

/**
 * Unpacks a deploy archive — the uncompressed ustar kinvey-cli uploads, or a gzip'ed tar — into
 * `destDir`, which must be missing or empty. The whole archive is read and checked first;
 * only when every entry is a regular file or folder with a relative path inside `destDir`, and
 * the caps hold, is it read again and written (files 0644, folders 0755, whatever the headers say).
 * A refused archive leaves `destDir` empty; after any other failure (a full disk) the caller
 * removes `destDir`.
 *
 * @example
 *   const { root } = await unpackArchive(upload, await fs.mkdtemp(path.join(os.tmpdir(), 'build-')));
 *   const project = await readProject(root);
 *
 * @throws FlexdError `UnsafeArchive` (400), `ArchiveTooLarge` (413), `InvalidArchive` (400)
 */
export async function unpackArchive(
  archive: Buffer, destDir: string, limits: UnpackLimits = DEFAULT_UNPACK_LIMITS,
): Promise<UnpackResult> {
  if (archive.length > limits.maxArchiveBytes) {
    throw tooLarge(`The archive is ${archive.length} bytes; the limit is ${limits.maxArchiveBytes} bytes.`);
  }
  if (archive.length === 0) throw invalid('The archive is empty.');
  const dest = await freshDirectory(destDir);

  const checked = new ArchiveRules(limits);
  await walkTar(archive, limits, (entry) => {
    checked.admit(entry);
    entry.resume();
  });
  if (checked.entries === 0) throw invalid('The archive contains no files.');

  // The second read checks every entry again, so even a buffer changed between the two reads
  // cannot place anything outside `dest`.
  const rules = new ArchiveRules(limits);
  const writer = new TreeWriter(dest);
  await walkTar(archive, limits, async (entry) => {
    const segments = rules.admit(entry);
    if (entry.type === 'Directory') {
      await writer.directory(segments);
      entry.resume();
    } else {
      await writer.file(segments, entry, limits.maxUnpackedBytes);
    }
  });
  const wrapper = rules.wrapperFolder();
  return { entries: rules.entries, bytes: writer.bytes, root: wrapper === null ? dest : path.join(dest, wrapper) };
}

/** The per-entry rules, applied in archive order. Throws on the first entry that breaks one. */
class ArchiveRules {
  entries = 0;
  private declaredBytes = 0;
  private readonly kinds = new Map<string, 'file' | 'dir'>();

  constructor(private readonly limits: UnpackLimits) {}

  /** Returns the entry's path as segments (empty for the root folder itself). */
  admit(entry: ReadEntry): string[] {
    this.entries += 1;
    if (this.entries > this.limits.maxEntries) {
      throw tooLarge(`The archive has more than ${this.limits.maxEntries} entries.`);
    }
    const isFile = FILE_TYPES.has(entry.type);
    if (!isFile && entry.type !== 'Directory') {
      unsafe(entry.path, `${REFUSED_TYPES[entry.type] ?? `has type ${entry.type}`}; only regular files and folders are allowed`);
    }
    const segments = relativeSegments(entry.path);
    const key = segments.join('/');
    if (isFile) {
      if (segments.length === 0) unsafe(entry.path, 'is a file named like the root folder');
      this.declaredBytes += entry.size ?? 0;
      if (this.declaredBytes > this.limits.maxUnpackedBytes) {
        throw tooLarge(`The archive unpacks to more than ${this.limits.maxUnpackedBytes} bytes (reached at entry ${JSON.stringify(entry.path)}).`);
      }
    }
    for (let i = 1; i < segments.length; i += 1) {
      const parent = segments.slice(0, i).join('/');
      if (this.kinds.get(parent) === 'file') unsafe(entry.path, `is inside ${JSON.stringify(parent)}, which is a file`);
      this.kinds.set(parent, 'dir');
    }
    const before = this.kinds.get(key);
    if (before !== undefined && (isFile || before === 'file')) unsafe(entry.path, 'appears twice in the archive');
    if (segments.length > 0) this.kinds.set(key, isFile ? 'file' : 'dir');
    return segments;
  }

  /** The single top-level folder holding package.json, when the root has none (`npm pack` puts everything in `package/`). */
  wrapperFolder(): string | null {
    if (this.kinds.get('package.json') === 'file') return null;
    const holders = [...this.kinds].filter(([key, kind]) => kind === 'dir' && !key.includes('/')
      && this.kinds.get(`${key}/package.json`) === 'file');
    return holders.length === 1 ? holders[0][0] : null;
  }
}

/** Splits an entry path into segments that stay inside the destination, or refuses it. */
function relativeSegments(entryPath: string): string[] {
  if (entryPath.includes('\0')) unsafe(entryPath, 'contains a NUL character');
  if (entryPath.includes('\\')) unsafe(entryPath, 'contains a backslash');
  if (entryPath.startsWith('/')) unsafe(entryPath, 'is an absolute path');
  if (/^[a-zA-Z]:/.test(entryPath)) unsafe(entryPath, 'starts with a drive letter');
  if (Buffer.byteLength(entryPath) > MAX_ENTRY_PATH_BYTES) unsafe(entryPath, `is longer than ${MAX_ENTRY_PATH_BYTES} bytes`);
  const segments = entryPath.split('/').filter((segment) => segment !== '' && segment !== '.');
  for (const segment of segments) {
    if (segment === '..') unsafe(entryPath, 'has a ".." segment that would leave the project folder');
    if (Buffer.byteLength(segment) > MAX_ENTRY_NAME_BYTES) unsafe(entryPath, `has a name longer than ${MAX_ENTRY_NAME_BYTES} bytes`);
  }
  return segments;
}

/**
 * Feeds the archive (inflating it when gzip'ed) through tar's strict parser and hands each entry
 * to `onEntry`, one at a time, in order. The inflated stream is capped, so a gzip bomb stops early.
 */
async function walkTar(
  archive: Buffer, limits: UnpackLimits, onEntry: (entry: ReadEntry) => void | Promise<void>,
): Promise<void> {
  let failure: unknown;
  let rejectFailed!: (err: unknown) => void;
  const failed = new Promise<never>((_, reject) => { rejectFailed = reject; });
  failed.catch(() => {});
  let current: ReadEntry | undefined;
  const fail = (err: unknown) => {
    if (failure !== undefined) return;
    failure = err;
    current?.destroy();
    rejectFailed(err);
  };

  // brotli/zstd sniffing off; gzip is inflated here, where it is counted. The parser would also
  // inflate a gzip *inside* the inflated stream, so that is refused below.
  const { Parser } = await import('tar'); // loaded by the first archive, not by the runtime's start
  const parser = new Parser({ strict: true, brotli: false, zstd: false });
  const ended = new Promise<void>((resolve) => parser.once('end', () => resolve()));
  let sawEof = false;
  parser.on('eof', () => { sawEof = true; });
  parser.on('error', (err: Error) => fail(invalid(`The archive is corrupt or truncated: ${err.message}.`, err)));
  parser.on('ignoredEntry', (entry: ReadEntry) => {
    fail(entry.meta ? invalid(`The archive has an oversized ${entry.type} header.`) : unsafeError(entry.path, `has type ${entry.type}; only regular files and folders are allowed`));
  });
  let work: Promise<void> = Promise.resolve();
  parser.on('entry', (entry: ReadEntry) => {
    work = work.then(async () => {
      if (failure !== undefined) return void entry.resume();
      current = entry;
      await onEntry(entry);
      current = undefined;
    }).catch((err) => { fail(err); entry.resume(); });
  });

  const inflateCap = limits.maxUnpackedBytes + (limits.maxEntries + 2) * TAR_FRAMING_BYTES_PER_ENTRY;
  const gzipped = archive[0] === GZIP_MAGIC[0] && archive[1] === GZIP_MAGIC[1];
  let fed = 0;
  try {
    for await (const chunk of gzipped ? inflate(archive) : slices(archive)) {
      if (gzipped && fed === 0 && chunk[0] === GZIP_MAGIC[0] && chunk[1] === GZIP_MAGIC[1]) {
        throw invalid('The archive is compressed twice; upload a tar or a gzip\'ed tar.');
      }
      fed += chunk.length;
      if (fed > inflateCap) throw tooLarge(`The archive inflates to more than ${inflateCap} bytes.`);
      if (!parser.write(chunk) && failure === undefined) {
        await Promise.race([new Promise((resolve) => parser.once('drain', resolve)), failed]);
      }
      if (failure !== undefined) break;
      if (sawEof) break; // what follows the end-of-archive blocks is padding, never read
    }
    if (failure === undefined) {
      parser.end();
      await Promise.race([ended, failed]);
    }
  } catch (err) {
    fail(err instanceof FlexdError ? err : invalid(`The archive is corrupt or truncated: ${(err as Error).message}.`, err));
  }
  await work;
  if (failure !== undefined) throw failure;
}

function* slices(buffer: Buffer): Generator<Buffer> {
  for (let at = 0; at < buffer.length; at += ARCHIVE_READ_CHUNK_BYTES) yield buffer.subarray(at, at + ARCHIVE_READ_CHUNK_BYTES);
}

function inflate(buffer: Buffer): AsyncIterable<Buffer> {
  const gunzip = createGunzip({ chunkSize: ARCHIVE_READ_CHUNK_BYTES });
  gunzip.end(buffer);
  return gunzip;
}

/** Writes checked entries under `root`; every path it gets has passed `relativeSegments`. */
class TreeWriter {
  bytes = 0;
  private readonly made = new Set<string>(['']);

  constructor(private readonly root: string) {}

  async directory(segments: string[]): Promise<void> {
    for (let i = 1; i <= segments.length; i += 1) {
      const key = segments.slice(0, i).join('/');
      if (this.made.has(key)) continue;
      const target = path.join(this.root, ...segments.slice(0, i));
      await fs.mkdir(target, { mode: 0o755 });
      await fs.chmod(target, 0o755); // the umask may have narrowed it
      this.made.add(key);
    }
  }

  async file(segments: string[], entry: ReadEntry, maxBytes: number): Promise<void> {
    await this.directory(segments.slice(0, -1));
    // O_EXCL|O_NOFOLLOW: never through a link, never over something already there.
    const flags = fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_NOFOLLOW;
    const handle = await fs.open(path.join(this.root, ...segments), flags, 0o644);
    try {
      await handle.chmod(0o644);
      for await (const chunk of entry) {
        this.bytes += chunk.length;
        if (this.bytes > maxBytes) throw tooLarge(`The archive unpacks to more than ${maxBytes} bytes.`);
        await handle.write(chunk);
      }
    } finally {
      await handle.close();
    }
  }
}

/** Resolves `dir`, creating it when missing; refuses one that has anything in it. */
async function freshDirectory(dir: string): Promise<string> {
  await fs.mkdir(dir, { recursive: true, mode: 0o755 });
  const resolved = await fs.realpath(dir);
  if ((await fs.readdir(resolved)).length > 0) {
    throw new FlexdError('UnpackDestinationNotEmpty', `Cannot unpack into ${resolved}: it is not empty.`, { status: 500 });
  }
  return resolved;
}

function unsafeError(entryPath: string, why: string): FlexdError {
  return new FlexdError('UnsafeArchive', `The archive was refused: entry ${JSON.stringify(entryPath)} ${why}.`, { status: 400 });
}

function unsafe(entryPath: string, why: string): never {
  throw unsafeError(entryPath, why);
}

function tooLarge(message: string): FlexdError {
  return new FlexdError('ArchiveTooLarge', message, { status: 413 });
}

function invalid(message: string, cause?: unknown): FlexdError {
  // The message quotes the cause; its stack (zlib's or tar's internals) would only bury it in the job's progress.
  return new FlexdError('InvalidArchive', message, { status: 400, cause });
}
