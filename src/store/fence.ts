import { FlexdError } from '../errors.ts';
import type { SqlClient } from './sql.ts';

/**
 * One run of a job: its id and the attempt number the claim gave it (docs/scale-out.md, "Jobs").
 * Every write a job makes carries its fence and succeeds only while that attempt is the job's
 * current one: a node that lost its lease (a long pause, a network split) and wakes up to finish
 * can never overwrite what the node that retook the job did.
 */
export interface Fence {
  readonly jobId: string;
  readonly attempt: number;
}

/** The write of an attempt that is no longer the job's current one: another node retook the job. */
export function leaseLost(fence: Fence, by?: string | null): FlexdError {
  return new FlexdError('JobLeaseLost',
    `this node's lease on job ${fence.jobId} (attempt ${fence.attempt}) ran out and ${by ? `node "${by}"` : 'another node'} retook the job: this attempt's writes are refused`,
    { status: 409 });
}

/** Whether `err` is a refused write of a run that lost its job (also after crossing a process boundary: by code). */
export function isLeaseLost(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === 'JobLeaseLost';
}

/**
 * Runs `work` in one transaction that first checks — and on PostgreSQL locks, so a claim by
 * another node waits for it — that `fence` is still the job's current attempt; throws
 * `JobLeaseLost` without running `work` when it is not. Without a fence, `work` runs as is.
 */
export async function inFence<T>(db: SqlClient, fence: Fence | undefined, work: (db: SqlClient) => Promise<T>): Promise<T> {
  if (!fence) return work(db);
  return db.transaction(async (tx) => {
    const row = await tx.get<{ attempt: number; node: string | null }>(`SELECT attempt, node FROM jobs WHERE id = ?${tx.dialect.forUpdate}`, [fence.jobId]);
    if (!row || row.attempt !== fence.attempt) throw leaseLost(fence, row?.node);
    return work(tx);
  });
}
