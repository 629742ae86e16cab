/**
 * The build's internal caps, each with its unit and reason. The ones an operator may tune
 * (archive size, unpacked size, entry count, install timeout) live in `src/config.ts` DEFAULTS;
 * these follow from the tar format, the file system and npm, and are not settings.
 */

/**
 * Bytes of tar framing allowed per entry on top of the file contents when capping the
 * decompressed stream: a 512-byte header, a pax header of up to 1 KiB for a long path, and up to
 * 511 bytes padding the body to a block. Without this cap a gzip of zeros (no entries, only
 * padding) would be inflated in full.
 */
export const TAR_FRAMING_BYTES_PER_ENTRY = 2_048;

/** Bytes read from the archive (or from gunzip) per step: bounds what the parser holds at once. */
export const ARCHIVE_READ_CHUNK_BYTES = 64 * 1024;

/** Linux PATH_MAX, in bytes: a longer entry path could not be created, so it is refused up front. */
export const MAX_ENTRY_PATH_BYTES = 4_096;

/** Linux NAME_MAX, in bytes, for one path segment; same reason as MAX_ENTRY_PATH_BYTES. */
export const MAX_ENTRY_NAME_BYTES = 255;

/** Lines of npm's output quoted in a DependencyInstallFailed message: enough to show npm's error block. */
export const INSTALL_FAILURE_TAIL_LINES = 20;

/** Longest npm output line kept, in bytes: one minified blob on a line must not fill the job's progress. */
export const INSTALL_OUTPUT_LINE_BYTES = 4 * 1024;

/** `npm view kinvey-flex-sdk versions`: one small registry request; longer means the registry is unreachable. */
export const NPM_VIEW_TIMEOUT_MS = 60_000;

/** After SIGTERM, how long npm gets to exit before SIGKILL, in ms (npm removes its lock files on SIGTERM). */
export const NPM_KILL_GRACE_MS = 2_000;

/**
 * How long a stored dependency tree no version uses is kept, in ms: a deploy that failed to start
 * and is fixed the same day reuses its install.
 */
export const UNUSED_DEPENDENCY_TREE_KEEP_MS = 24 * 60 * 60_000;
