import type { Logger } from '../logger.ts';
import { visibleControls } from '../logs/visible-text.ts';
import type { Store, JobRow, JobStatus } from '../store/index.ts';

/**
 * A job as `wait` resolves it: `reason` is the first line of a failure (the code and why), also
 * when details follow it; `error` is what the job threw (in this process only: the embedding API
 * gives a test its code).
 */
export type FinishedJob = JobRow & { reason?: string; error?: unknown };

/**
 * Runs jobs one at a time per environment (a deploy and a recycle of the same environment
 * never overlap) and lets callers wait for a job to finish.
 */
export class JobRunner {
  private readonly chains = new Map<string, Promise<void>>();
  private readonly waiters = new Map<string, ((job: FinishedJob) => void)[]>();

  constructor(private readonly store: Store, private readonly log: Logger) {}

  enqueue(job: JobRow, work: (progress: (status: JobStatus, text: string) => void) => Promise<string>): void {
    const key = job.environmentId ?? job.id;
    const lines: string[] = [];
    let latest = { status: job.status, progress: job.progress };
    let unrecorded = false;
    // Progress is recorded in the order it was said: each write waits for the one before.
    let recorded = Promise.resolve();
    const progress = (status: JobStatus, text: string) => {
      // npm's, the scripts' and a failed start's output end up here: shown, never obeyed (logs/visible-text.ts).
      lines.push(visibleControls(text));
      if (lines.length > 30) lines.shift();
      latest = { status, progress: lines.join('\n') };
      const row = latest;
      recorded = recorded.then(() => this.store.jobs.update(job.id, row.status, row.progress)).catch((err: Error) => {
        // A full disk or a closed database: the job goes on and its waiters still hear how it
        // ended; the row says it was unfinished, and the next start marks it ERROR.
        if (!unrecorded) this.log.error({ job: job.id, error: err.message }, 'could not record the progress of a job');
        unrecorded = true;
      });
    };
    const previous = this.chains.get(key) ?? Promise.resolve();
    const run = previous.then(async () => {
      let reason: string | undefined;
      let error: unknown;
      try {
        const done = await work(progress);
        progress('COMPLETED', done);
      } catch (err) {
        progress('ERROR', (err as Error).message);
        reason = visibleControls((err as Error).message.split('\n')[0]!);
        error = err;
      }
      await recorded;
      await this.settle(job, { ...latest, reason, error });
    });
    this.chains.set(key, run);
    void run.finally(() => { if (this.chains.get(key) === run) this.chains.delete(key); });
  }

  /** Resolves with the job once it is COMPLETED or ERROR. */
  async wait(jobId: string): Promise<FinishedJob> {
    // Registered before the store is read: a job that ends meanwhile still finds its waiter.
    const settled = new Promise<FinishedJob>((resolve) => {
      const list = this.waiters.get(jobId) ?? [];
      list.push(resolve);
      this.waiters.set(jobId, list);
    });
    const job = await this.store.jobs.get(jobId);
    if (job && (job.status === 'COMPLETED' || job.status === 'ERROR')) return job;
    return settled;
  }

  /** Resolves when every queued job has finished (shutdown). */
  async idle(): Promise<void> {
    await Promise.all([...this.chains.values()]);
  }

  /** Tells the waiters how the job ended: as stored, or as it ran when the store could not record it. */
  private async settle(job: JobRow, latest: Pick<FinishedJob, 'status' | 'progress' | 'reason' | 'error'>): Promise<void> {
    let stored: JobRow | undefined;
    try {
      stored = await this.store.jobs.get(job.id);
    } catch { /* the database is closed */ }
    const list = this.waiters.get(job.id) ?? [];
    this.waiters.delete(job.id);
    for (const resolve of list) resolve({ ...(stored ?? job), ...latest });
  }
}
