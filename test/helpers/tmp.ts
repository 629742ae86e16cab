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

/** Creates a fresh directory under the OS temp dir and registers its removal on `t`. */
export async function tempDir(t: CleanupContext, prefix = 'flexd-test-'): Promise<string> {
  const dir = await createTempDir(prefix);
  t.after(() => removeDir(dir));
  return dir;
}

/** Creates a fresh directory under the OS temp dir; the caller removes it with `removeDir`. */
export function createTempDir(prefix = 'flexd-test-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export function removeDir(dir: string): Promise<void> {
  return rm(dir, { recursive: true, force: true });
}
