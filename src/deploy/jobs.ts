import type { Store, JobRow, JobStatus } from '../store/index.ts';

/**
 * Runs jobs one at a time per environment (a deploy and a recycle of the same environment
 * never overlap) and lets callers wait for a job to finish.
 */
export class JobRunner {
  private readonly chains = new Map<string, Promise<void>>();
  private readonly waiters = new Map<string, ((job: JobRow) => void)[]>();

  constructor(private readonly store: Store) {}

  enqueue(job: JobRow, work: (progress: (status: JobStatus, text: string) => void) => Promise<string>): void {
    const key = job.environmentId ?? job.id;
    const lines: string[] = [];
    const progress = (status: JobStatus, text: string) => {
      lines.push(text);
      if (lines.length > 30) lines.shift();
      this.store.jobs.update(job.id, status, lines.join('\n'));
    };
    const previous = this.chains.get(key) ?? Promise.resolve();
    const run = previous.then(async () => {
      try {
        const done = await work(progress);
        progress('COMPLETED', done);
      } catch (err) {
        progress('ERROR', (err as Error).message);
      }
      this.settle(job.id);
    });
    this.chains.set(key, run);
    void run.finally(() => { if (this.chains.get(key) === run) this.chains.delete(key); });
  }

  /** Resolves with the job once it is COMPLETED or ERROR. */
  wait(jobId: string): Promise<JobRow> {
    const job = this.store.jobs.get(jobId);
    if (job && (job.status === 'COMPLETED' || job.status === 'ERROR')) return Promise.resolve(job);
    return new Promise((resolve) => {
      const list = this.waiters.get(jobId) ?? [];
      list.push(resolve);
      this.waiters.set(jobId, list);
    });
  }

  /** Resolves when every queued job has finished (shutdown). */
  async idle(): Promise<void> {
    await Promise.all([...this.chains.values()]);
  }

  private settle(jobId: string): void {
    const job = this.store.jobs.get(jobId);
    const list = this.waiters.get(jobId) ?? [];
    this.waiters.delete(jobId);
    if (job) for (const resolve of list) resolve(job);
  }
}
