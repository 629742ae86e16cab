import { buildSync, type BuildOptions } from 'esbuild';

/** Attempts at compiling one of flexd's own entries before giving up. */
const COMPILE_ATTEMPTS = 3;

/**
 * esbuild's buildSync for flexd's own entries (the replica's entry, the log thread), when no
 * prebuilt file exists (a checkout run with tsx). Once, in a full test run with two test files
 * starting runtimes side by side, esbuild reported the replica entry `Could not resolve` while
 * the file was there, and the same build passed at once when run again; the cause was not
 * found. A failed compile is therefore tried again before it stops flexd's start.
 */
export function compileEntry(options: BuildOptions & { write: false }): Uint8Array {
  for (let attempt = 1; ; attempt++) {
    try {
      return buildSync(options).outputFiles[0].contents;
    } catch (err) {
      if (attempt >= COMPILE_ATTEMPTS) throw err;
    }
  }
}
