/**
 * Temporary directories for tests, removed when the test ends:
 *
 *   const dataDir = await tempDir(t, 'flexd-data-');
 *
 * Register whatever uses the directory after it (on a cleanupStack), so it is closed first.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CleanupContext } from './cleanup.ts';

/**
 * Creates a fresh directory under the OS temp dir (or under `parent`: beside files it must
 * hard-link, when the temp dir is another file system) and registers its removal on `t`.
 */
export async function tempDir(t: CleanupContext, prefix = 'flexd-test-', parent = tmpdir()): Promise<string> {
  const dir = await createTempDir(prefix, parent);
  t.after(() => removeDir(dir));
  return dir;
}

/** Creates a fresh directory under the OS temp dir (or `parent`); the caller removes it with `removeDir`. */
export function createTempDir(prefix = 'flexd-test-', parent = tmpdir()): Promise<string> {
  return mkdtemp(join(parent, prefix));
}

export function removeDir(dir: string): Promise<void> {
  return rm(dir, { recursive: true, force: true });
}
