import type { Logger } from '../logger.ts';
import { visibleControls } from '../logs/visible-text.ts';
import type { Fence, JobRow, JobStatus, Store } from '../store/index.ts';
import { isLeaseLost } from '../store/fence.ts';

/**
 * A job as `wait` resolves it: `reason` is the first line of a failure (the code and why), also
 * when details follow it; `error` is what the job threw (in this process only: the embedding API
 * gives a test its code).
 */
export type FinishedJob = JobRow & { reason?: string; error?: unknown };

/** What a job's work is given besides its progress: the fence of its run, to pass to every write it makes. */
export interface JobRun {
  readonly fence: Fence;
  /** aborted once this node no longer holds the job (another node retook it, or a clean stop gave it up): stop at once, write nothing */
  readonly signal: AbortSignal;
}

export type JobWork = (progress: (status: JobStatus, text: string) => void, run: JobRun) => Promise<string>;

export interface JobRunnerOptions {
  /** how long a claim holds a job; renewed every third of it while the job runs (docs/scale-out.md) */
  leaseMs: number;
  /** how often an idle node looks for jobs whose lease ran out (a NOTIFY hint wakes it sooner) */
  pollMs: number;
  /** a job claimed this many times is not retaken again: it ends in ERROR */
  maxAttempts: number;
  /** several nodes share the database: renew leases and retake other nodes' jobs (PostgreSQL) */
  shared: boolean;
  /** the work that runs a claimed job again from the start (by its type and stored request) */
  retake?: (job: JobRow) => JobWork;
}

interface Held {
  fence: Fence;
  abort: AbortController;
  /** another node holds the job now: this run writes nothing more */
  lost: boolean;
}

/** How often a waiter re-reads a job another node runs. */
const FOLLOW_MS = 500;
/** Jobs one claim round takes at most (the rest wait for the next round or another node). */
const CLAIMS_PER_ROUND = 4;

/**
 * Runs jobs one at a time per environment (a deploy and a recycle of the same environment never
 * overlap on a node), holds their leases, and lets callers wait for a job to finish.
 *
 * Every write of a run is fenced by its attempt (store/fence.ts): progress and the end through
 * `jobs.update`/`jobs.finish`, the version and the activation through the fence the work is given.
 * On PostgreSQL (`shared`) the runner renews the leases of the jobs it holds every third of their
 * length, and claims jobs whose lease ran out — a node died, paused or stopped running them — on
 * its poll and when another node hints (`wake`); a claimed job starts again from the start.
 */
export class JobRunner {
  private readonly chains = new Map<string, Promise<void>>();
  private readonly waiters = new Map<string, ((job: FinishedJob) => void)[]>();
  private readonly held = new Map<string, Held>();
  private renewTimer: NodeJS.Timeout | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private claiming: Promise<void> | undefined;
  private claimAgain = false;
  private closed = false;

  constructor(private readonly store: Store, private readonly log: Logger, private readonly o: JobRunnerOptions = { leaseMs: 15_000, pollMs: 5_000, maxAttempts: 3, shared: false }) {}

  /** Runs `job` (claimed by this node: its `attempt` is this node's run) after the environment's earlier jobs. */
  enqueue(job: JobRow, work: JobWork): void {
    const key = job.environmentId ?? job.id;
    const fence: Fence = { jobId: job.id, attempt: job.attempt };
    const held: Held = { fence, abort: new AbortController(), lost: false };
    this.held.set(job.id, held);
    this.renewLeases();
    const lines: string[] = job.attempt > 1 ? [job.progress] : [];
    let latest = { status: job.status, progress: job.progress };
    let unrecorded = false;
    // Progress is recorded in the order it was said: each write waits for the one before.
    let recorded = Promise.resolve();
    const progress = (status: JobStatus, text: string) => {
      if (held.lost) return;
      // npm's, the scripts' and a failed start's output end up here: shown, never obeyed (logs/visible-text.ts).
      lines.push(visibleControls(text));
      if (lines.length > 30) lines.shift();
      latest = { status, progress: lines.join('\n') };
      const row = latest;
      const final = status === 'COMPLETED' || status === 'ERROR';
      recorded = recorded.then(async () => {
        if (held.lost) return;
        const written = final ? await this.store.jobs.finish(fence, status, row.progress) : await this.store.jobs.update(fence, row.status, row.progress);
        if (!written) this.lose(held);
      }).catch((err: Error) => {
        // A full disk or a closed database: the job goes on and its waiters still hear how it
        // ended; the row says it was unfinished, and the next start (or another node) takes it.
        if (!unrecorded) this.log.error({ job: job.id, error: err.message }, 'could not record the progress of a job');
        unrecorded = true;
      });
    };
    const previous = this.chains.get(key) ?? Promise.resolve();
    const run = previous.then(async () => {
      let reason: string | undefined;
      let error: unknown;
      if (!held.lost) {
        try {
          const done = await work(progress, { fence, signal: held.abort.signal });
          progress('COMPLETED', done);
        } catch (err) {
          if (isLeaseLost(err)) {
            this.lose(held);
            this.log.warn({ job: job.id, attempt: job.attempt }, 'a late write of a job\'s run was refused: another node retook the job, and its results stand');
          }
          progress('ERROR', (err as Error).message);
          reason = visibleControls((err as Error).message.split('\n')[0]!);
          error = err;
        }
      }
      await recorded;
      this.held.delete(job.id);
      if (held.lost) {
        // Another node runs the job now: its waiters here hear how that run ends.
        void this.follow(job.id).then((stored) => this.resolveWaiters(job.id, stored));
        return;
      }
      await this.settle(job, { ...latest, reason, error });
    });
    this.chains.set(key, run);
    void run.finally(() => { if (this.chains.get(key) === run) this.chains.delete(key); });
  }

  /** Resolves with the job once it is COMPLETED or ERROR (also when another node runs or ran it). */
  async wait(jobId: string): Promise<FinishedJob> {
    // Registered before the store is read: a job that ends meanwhile still finds its waiter.
    const settled = new Promise<FinishedJob>((resolve) => {
      const list = this.waiters.get(jobId) ?? [];
      list.push(resolve);
      this.waiters.set(jobId, list);
    });
    const job = await this.store.jobs.get(jobId);
    if (job && (job.status === 'COMPLETED' || job.status === 'ERROR')) return job;
    if (job && !this.held.has(jobId)) void this.follow(jobId).then((stored) => this.resolveWaiters(jobId, stored));
    return settled;
  }

  /** Resolves when every queued job has finished (shutdown). */
  async idle(): Promise<void> {
    await Promise.all([...this.chains.values()]);
  }

  /**
   * Starts looking for jobs to retake (PostgreSQL): every `pollMs`, and at once. Each job claimed
   * is run again from the start on this node.
   */
  startClaiming(): void {
    if (!this.o.shared || this.closed) return;
    this.pollTimer = setInterval(() => this.wake(), this.o.pollMs);
    this.pollTimer.unref();
    this.wake();
  }

  /** Looks for claimable jobs now (another node hinted that one is). */
  wake(): void {
    if (!this.o.shared || this.closed || !this.o.retake) return;
    if (this.claiming) {
      this.claimAgain = true;
      return;
    }
    this.claiming = this.claimRound().finally(() => {
      this.claiming = undefined;
      if (this.claimAgain) {
        this.claimAgain = false;
        this.wake();
      }
    });
  }

  /**
   * A clean stop: no more claims, and the leases of the jobs still held are given up so another
   * node retakes them at once (PostgreSQL). Their runs here write nothing more.
   */
  async release(): Promise<Fence[]> {
    this.closed = true;
    clearInterval(this.pollTimer);
    clearInterval(this.renewTimer);
    await this.claiming;
    if (!this.o.shared) return [];
    const fences = [...this.held.values()].map((h) => h.fence);
    for (const held of this.held.values()) this.lose(held);
    if (fences.length > 0) await this.store.jobs.release(fences).catch(() => 0);
    return fences;
  }

  /** Fences of the runs this node holds now. */
  holding(): Fence[] {
    return [...this.held.values()].filter((h) => !h.lost).map((h) => h.fence);
  }

  private async claimRound(): Promise<void> {
    for (let n = 0; n < CLAIMS_PER_ROUND && !this.closed; n++) {
      let claim;
      try {
        claim = await this.store.jobs.claim(this.o.leaseMs, this.o.maxAttempts);
      } catch (err) {
        this.log.warn({ error: (err as Error).message }, 'could not look for jobs to retake');
        return;
      }
      if (!claim) return;
      if (claim.gaveUp) {
        this.log.error({ job: claim.job.id, attempts: claim.job.attempt }, 'a job whose node stopped running it was tried too often: marked ERROR');
        await this.settle(claim.job, { status: 'ERROR', progress: claim.job.progress, reason: 'JobAbandoned' });
        continue;
      }
      this.log.warn({ job: claim.job.id, type: claim.job.type, attempt: claim.job.attempt }, 'retaking a job whose node stopped running it');
      this.enqueue(claim.job, this.o.retake!(claim.job));
    }
    // More may be waiting: the next round takes them.
    this.claimAgain = true;
  }

  /** Renews the leases this node holds, every third of their length while it holds any. */
  private renewLeases(): void {
    if (!this.o.shared || this.renewTimer || this.closed) return;
    this.renewTimer = setInterval(() => {
      const fences = this.holding();
      if (fences.length === 0) {
        clearInterval(this.renewTimer);
        this.renewTimer = undefined;
        return;
      }
      void this.store.jobs.renew(fences, this.o.leaseMs).then((lost) => {
        for (const fence of lost) {
          const held = this.held.get(fence.jobId);
          if (held && held.fence.attempt === fence.attempt) this.lose(held);
        }
      }, () => { /* the database is away: the lease may run out meanwhile, and the fence keeps a retaker's results safe */ });
    }, Math.max(1, Math.floor(this.o.leaseMs / 3)));
    this.renewTimer.unref();
  }

  private lose(held: Held): void {
    if (held.lost) return;
    held.lost = true;
    // Its build stops now (npm is ended): its results could never be written, and a clean stop
    // need not wait for it (runtime.ts).
    held.abort.abort(new Error(`this node no longer holds job ${held.fence.jobId} (attempt ${held.fence.attempt}): its run here was stopped`));
    this.log.warn({ job: held.fence.jobId, attempt: held.fence.attempt }, 'this node no longer holds a job (it gave it up, or another node retook it): its run here stops and writes nothing more');
  }

  /** The job as stored once it finished; polls while another node runs it (until this runner closes). */
  private async follow(jobId: string): Promise<FinishedJob> {
    for (;;) {
      let job: JobRow | undefined;
      try {
        job = await this.store.jobs.get(jobId);
      } catch { /* away: try again */ }
      if (job && (job.status === 'COMPLETED' || job.status === 'ERROR')) return job;
      if (this.closed && job) return job;
      if (!job && this.closed) return { id: jobId, status: 'ERROR', progress: 'flexd stopped' } as FinishedJob;
      if (this.held.has(jobId)) return new Promise(() => {}); // retaken by this node: its own run resolves the waiters
      await new Promise((r) => setTimeout(r, FOLLOW_MS).unref());
    }
  }

  /** Tells the waiters how the job ended: as stored, or as it ran when the store could not record it. */
  private async settle(job: JobRow, latest: Pick<FinishedJob, 'status' | 'progress' | 'reason' | 'error'>): Promise<void> {
    let stored: JobRow | undefined;
    try {
      stored = await this.store.jobs.get(job.id);
    } catch { /* the database is closed */ }
    this.resolveWaiters(job.id, { ...(stored ?? job), ...latest });
  }

  private resolveWaiters(jobId: string, job: FinishedJob): void {
    const list = this.waiters.get(jobId) ?? [];
    this.waiters.delete(jobId);
    for (const resolve of list) resolve(job);
  }
}
