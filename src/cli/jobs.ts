import { setTimeout as sleep } from 'node:timers/promises';
import type { ApiClient, EnvironmentStatus, Job } from './client.ts';
import { CliError } from './errors.ts';

/** How often a waiting command asks for news: a build takes seconds, a person watches. */
export const POLL_INTERVAL_MS = 500;

/** flexd's terminal job states, and kinvey's (the retired `flex job` saw COMPLETE / FAILED). */
const SUCCEEDED = new Set(['COMPLETED', 'COMPLETE']);
const FAILED = new Set(['ERROR', 'FAILED']);

/**
 * Polls `GET /v4/jobs/:id` until the job is COMPLETED or ERROR, handing each new progress line
 * to `onLine` once. Resolves with the finished job; an ERROR job rejects with its reason.
 * Ctrl-C stops the waiting, not the job, and says so.
 */
export async function waitForJob(api: ApiClient, jobId: string, onLine: (line: string) => void, intervalMs = POLL_INTERVAL_MS): Promise<Job> {
  const stopWaiting = () => {
    process.stderr.write(`\nflexd: stopped waiting; job ${jobId} goes on (flexd status shows where it is)\n`);
    process.exit(130);
  };
  process.once('SIGINT', stopWaiting);
  try {
    let shown: string[] = [];
    for (;;) {
      const job = await api.job(jobId);
      const lines = progressLines(job);
      for (const line of newLines(shown, lines)) onLine(line);
      shown = lines;
      if (SUCCEEDED.has(job.status)) return job;
      if (FAILED.has(job.status)) throw new CliError(`${jobVerb(job)} failed: ${jobReason(job)}`);
      await sleep(intervalMs);
    }
  } finally {
    process.off('SIGINT', stopWaiting);
  }
}

/**
 * Polls the environment's status while it is UPDATING (a change of variables restarts the
 * replicas as one swap) and resolves with the status it settles on.
 */
export async function waitWhileUpdating(api: ApiClient, serviceId: string, environmentId: string, intervalMs = POLL_INTERVAL_MS): Promise<EnvironmentStatus> {
  for (;;) {
    const status = await api.status(serviceId, environmentId);
    if (status.status !== 'UPDATING') return status;
    await sleep(intervalMs);
  }
}

/** `deploy`, `recycle`, `rollback`: what a job did, for "… failed: reason". */
function jobVerb(job: Job): string {
  return typeof job.type === 'string' && job.type.endsWith('Service') ? job.type.slice(0, -'Service'.length) : 'job';
}

function progressLines(job: Job): string[] {
  return typeof job.progress === 'string' ? job.progress.split('\n').filter((l) => l.trim() !== '') : [];
}

/**
 * The lines of `current` not shown yet. A job keeps the last lines of its progress (a rolling
 * window), so `current` is `previous` minus some lines at the front plus new ones at the end:
 * the longest tail of `previous` that `current` starts with was shown already.
 *
 * @example newLines(['a', 'b'], ['b', 'c']) // ['c']
 */
export function newLines(previous: string[], current: string[]): string[] {
  for (let k = Math.min(previous.length, current.length); k > 0; k -= 1) {
    let same = true;
    for (let i = 0; i < k && same; i += 1) same = previous[previous.length - k + i] === current[i];
    if (same) return current.slice(k);
  }
  return current;
}

/**
 * One line saying why a job failed. The API may give it (`reason`); otherwise it is the job's
 * last progress entry, whose first line is the reason and whose following lines (after
 * `--- last output ---`, or a debug tail) explain it.
 */
export function jobReason(job: Job): string {
  for (const key of ['reason', 'error']) {
    const value = job[key];
    if (typeof value === 'string' && value.trim() !== '') return value.trim().split('\n')[0];
  }
  const text = typeof job.progress === 'string' ? job.progress : '';
  const beforeTail = text.split('\n--- last output ---\n')[0];
  const lines = beforeTail.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  const coded = [...lines].reverse().find((l) => /^[A-Z][a-z][A-Za-z]*: /.test(l) || l.startsWith('The new version failed to start'));
  return coded ?? lines.at(-1) ?? `job ${job.jobId} failed`;
}
