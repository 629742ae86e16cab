/** How a failed deploy, rollback or restart reads in its job and the environment's lastError (pipeline.ts). */
import { FlexdError } from '../errors.ts';
import { StartError } from '../supervisor/replica.ts';

/** A job's error text: the reason, plus the replica's last output lines for a failed start. */
export function describeFailure(err: unknown): string {
  if (err instanceof StartError) return `The new version failed to start: ${err.message}${err.tail ? `\n--- last output ---\n${err.tail}` : ''}`;
  const e = err as { code?: string; message?: string; debug?: string };
  return `${e.code ? `${e.code}: ` : ''}${e.message ?? String(err)}${e.debug ? `\n${e.debug}` : ''}`;
}

/**
 * A full disk or database as the job's `StorageFull` error (SQLITE_FULL: the disk, or the
 * database at `PRAGMA max_page_count`; ENOSPC: the disk, while unpacking, installing or
 * bundling); any other error unchanged.
 */
export function storageFull(err: unknown, consequence: string): unknown {
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 'SQLITE_FULL') {
    return new FlexdError('StorageFull', `flexd's database is full (disk or max_page_count): ${consequence}. Free space and deploy again.`, { status: 507 });
  }
  if (code === 'ENOSPC') {
    return new FlexdError('StorageFull', `flexd's disk is full (${(err as Error).message}): ${consequence}. Free space and deploy again.`, { status: 507 });
  }
  return err;
}
