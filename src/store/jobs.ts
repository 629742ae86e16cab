import type { SqlClient } from './sql.ts';
import { newId, nowIso } from './ids.ts';
import type { Fence } from './fence.ts';

/** A lease when the caller names none (tests of the store; the runtime passes settings.jobLeaseMs). */
const DEFAULT_LEASE_MS = 15_000;

export type JobStatus = 'QUEUED' | 'BUILDING' | 'DEPLOYING' | 'COMPLETED' | 'ERROR';
export type JobType = 'deployService' | 'recycleService' | 'rollbackService';

export interface JobRow {
  id: string; type: JobType; serviceId: string | null; environmentId: string | null; status: JobStatus;
  progress: string; params: Record<string, unknown>; userEmail: string | null; createdAt: string; updatedAt: string;
  /** the node that runs or ran it (the last to claim it) */
  node: string | null;
  /** how many times it was claimed: each run is one attempt, and its writes are fenced by it (fence.ts) */
  attempt: number;
  /** what a node that retakes it needs to run it again from the start (never shown) */
  request: Record<string, unknown>;
}

interface RawJob {
  id: string; type: JobType; service_id: string | null; environment_id: string | null; status: JobStatus; progress: string; params: string;
  user_email: string | null; created_at: string; updated_at: string; node: string | null; attempt: number; request: string;
}

function toJob(r: RawJob): JobRow {
  return { id: r.id, type: r.type, serviceId: r.service_id, environmentId: r.environment_id, status: r.status, progress: r.progress,
    params: JSON.parse(r.params), userEmail: r.user_email, createdAt: r.created_at, updatedAt: r.updated_at, node: r.node,
    attempt: Number(r.attempt), request: JSON.parse(r.request) };
}

/** The channel a node hints on that jobs are there to claim (payload: the hinting node; a hint, never the truth). */
export const JOBS_CHANNEL = 'flexd_jobs';

const JOB_COLUMNS = 'id, type, service_id, environment_id, status, progress, params, user_email, created_at, updated_at, node, attempt, request';
const OPEN = "status IN ('QUEUED','BUILDING','DEPLOYING')";

/** What a claim found: a job to run (its attempt is this node's now), or one given up after too many attempts. */
export type Claim = { job: JobRow; gaveUp: boolean };

/**
 * Deploy, recycle and rollback jobs: their progress, their claims and leases, and the upload a
 * deploy runs from (docs/scale-out.md, "Jobs"). A job is claimed by one node at a time — at
 * creation by the node that accepted it; after its lease ran out, by whichever node's claim
 * gets it first (`FOR UPDATE SKIP LOCKED` on PostgreSQL) — and each claim is a new attempt that
 * fences every write of the run (fence.ts).
 */
export class JobStore {
  /** `node`: this node's name, recorded on the jobs it claims */
  constructor(private readonly db: SqlClient, private readonly node: string = '') {}

  /**
   * A new job, claimed by this node at once (attempt 1, a lease of `leaseMs`): the node that
   * accepts a job runs it unless it dies. `upload`: the deploy's archive, kept until the job ends
   * so another node can retake the job from the start.
   */
  async create(fields: {
    type: JobType; serviceId: string; environmentId: string; params: Record<string, unknown>; userEmail: string | null;
    request?: Record<string, unknown>; upload?: Buffer; leaseMs?: number;
  }): Promise<JobRow> {
    const id = newId();
    const now = nowIso();
    await this.db.transaction(async (tx) => {
      await tx.run(`INSERT INTO jobs (id, type, service_id, environment_id, status, progress, params, user_email, created_at, updated_at, node, attempt, lease_until, request)
        VALUES (?, ?, ?, ?, 'QUEUED', 'Queued', ?, ?, ?, ?, ?, 1, ${tx.dialect.leaseIn}, ?)`, [id, fields.type, fields.serviceId, fields.environmentId,
        JSON.stringify(fields.params), fields.userEmail, now, now, this.node || null, fields.leaseMs ?? DEFAULT_LEASE_MS, JSON.stringify(fields.request ?? {})]);
      if (fields.upload) await tx.run('INSERT INTO job_uploads (job_id, archive) VALUES (?, ?)', [id, fields.upload]);
    });
    return (await this.get(id))!;
  }

  async get(id: string): Promise<JobRow | undefined> {
    const r = await this.db.get<RawJob>(`SELECT ${JOB_COLUMNS} FROM jobs WHERE id = ?`, [id]);
    return r && toJob(r);
  }

  /** The archive a deploy job runs from, while the job is unfinished. */
  async upload(id: string): Promise<Buffer | undefined> {
    return (await this.db.get<{ archive: Buffer }>('SELECT archive FROM job_uploads WHERE job_id = ?', [id]))?.archive;
  }

  /** Records progress of the run `fence`; false (nothing written) when that attempt is no longer the job's current one. */
  async update(fence: Fence, status: JobStatus, progress: string): Promise<boolean> {
    const { changes } = await this.db.run('UPDATE jobs SET status = ?, progress = ?, updated_at = ? WHERE id = ? AND attempt = ?',
      [status, progress, nowIso(), fence.jobId, fence.attempt]);
    return changes > 0;
  }

  /**
   * The run `fence` ended (COMPLETED or ERROR): records it and deletes the upload, which no
   * attempt needs any more. False (nothing written, the upload kept) when another attempt holds the job.
   */
  finish(fence: Fence, status: 'COMPLETED' | 'ERROR', progress: string): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const { changes } = await tx.run(`UPDATE jobs SET status = ?, progress = ?, updated_at = ?, lease_until = NULL WHERE id = ? AND attempt = ?`,
        [status, progress, nowIso(), fence.jobId, fence.attempt]);
      if (changes === 0) return false;
      await tx.run('DELETE FROM job_uploads WHERE job_id = ?', [fence.jobId]);
      return true;
    });
  }

  /** Extends the leases of the runs this node holds by `leaseMs`; answers the ones it no longer holds (retaken by another node, or ended). */
  async renew(fences: readonly Fence[], leaseMs: number): Promise<Fence[]> {
    const lost: Fence[] = [];
    for (const fence of fences) {
      const { changes } = await this.db.run(`UPDATE jobs SET lease_until = ${this.db.dialect.leaseIn} WHERE id = ? AND attempt = ? AND ${OPEN}`,
        [leaseMs, fence.jobId, fence.attempt]);
      if (changes === 0) lost.push(fence);
    }
    return lost;
  }

  /** Gives up the leases of runs this node will not finish (a clean stop): another node may retake them at once. */
  async release(fences: readonly Fence[]): Promise<number> {
    let released = 0;
    for (const fence of fences) {
      released += (await this.db.run(`UPDATE jobs SET lease_until = NULL WHERE id = ? AND attempt = ? AND ${OPEN}`, [fence.jobId, fence.attempt])).changes;
    }
    return released;
  }

  /** Tells the other nodes (PostgreSQL's NOTIFY) that jobs are there to claim now; nothing on SQLite. */
  async hint(): Promise<void> {
    if (this.db.dialect.name === 'postgres') await this.db.get('SELECT pg_notify(?, ?)', [JOBS_CHANNEL, this.node]);
  }

  /**
   * A node that starts again under its name gives up the leases of the jobs its earlier run held
   * (it died running them): any node's claim, its own included, retakes them now rather than
   * once the leases run out.
   */
  async releaseOf(node: string): Promise<number> {
    return (await this.db.run(`UPDATE jobs SET lease_until = NULL WHERE node = ? AND ${OPEN}`, [node])).changes;
  }

  /**
   * Claims the oldest unfinished job whose lease ran out (its node died, paused or stopped) as a
   * new attempt of this node, in one short transaction: `FOR UPDATE SKIP LOCKED` on PostgreSQL,
   * so two nodes claiming together never get the same job and neither waits on the other. The
   * versions an earlier attempt stored but no environment serves are taken back (the retake
   * builds from the start). A job already tried `maxAttempts` times is not run again: it ends in
   * ERROR (nodes died running it each time). Undefined when nothing is claimable.
   */
  claim(leaseMs: number, maxAttempts: number): Promise<Claim | undefined> {
    return this.db.transaction(async (tx) => {
      const r = await tx.get<RawJob>(`SELECT ${JOB_COLUMNS} FROM jobs WHERE ${OPEN} AND ${tx.dialect.leaseExpired}
        ORDER BY created_at LIMIT 1${tx.dialect.skipLocked}`);
      if (!r) return undefined;
      const previous = r.node ? `node "${r.node}"` : 'its node';
      await tx.run(`DELETE FROM versions WHERE job_id = ?
        AND id NOT IN (SELECT active_version_id FROM environments WHERE active_version_id IS NOT NULL)`, [r.id]);
      if (Number(r.attempt) >= maxAttempts) {
        const reason = `\nJobAbandoned: ${previous} stopped running this job and it was tried ${r.attempt} times; deploy again`;
        await tx.run(`UPDATE jobs SET status = 'ERROR', progress = progress || CAST(? AS TEXT), updated_at = ?, lease_until = NULL WHERE id = ?`, [reason, nowIso(), r.id]);
        await tx.run('DELETE FROM job_uploads WHERE job_id = ?', [r.id]);
        return { job: toJob({ ...r, status: 'ERROR', progress: r.progress + reason }), gaveUp: true };
      }
      const note = `Retaken by node "${this.node}" (attempt ${Number(r.attempt) + 1}): ${previous} stopped running it (its lease ran out, or it gave the job up); starting again from the start`;
      await tx.run(`UPDATE jobs SET node = ?, attempt = attempt + 1, lease_until = ${tx.dialect.leaseIn}, status = 'QUEUED', progress = ?, updated_at = ? WHERE id = ?`,
        [this.node || null, leaseMs, note, nowIso(), r.id]);
      return { job: toJob({ ...r, node: this.node || null, attempt: Number(r.attempt) + 1, status: 'QUEUED', progress: note }), gaveUp: false };
    });
  }

  /** How many jobs are stored (finished ones included). */
  async count(): Promise<number> {
    return (await this.db.get<{ n: number }>('SELECT CAST(COUNT(*) AS INTEGER) AS n FROM jobs'))!.n;
  }

  /** The environment's running (not finished) job, if any. */
  async running(environmentId: string): Promise<JobRow | undefined> {
    const r = await this.db.get<RawJob>(`SELECT ${JOB_COLUMNS} FROM jobs WHERE environment_id = ? AND status IN ('QUEUED','BUILDING','DEPLOYING')
      ORDER BY created_at DESC LIMIT 1`, [environmentId]);
    return r && toJob(r);
  }

  async latest(environmentId: string, type?: JobType): Promise<JobRow | undefined> {
    const order = `ORDER BY created_at DESC, ${this.db.dialect.insertionOrder} DESC LIMIT 1`;
    const r = type === undefined
      ? await this.db.get<RawJob>(`SELECT ${JOB_COLUMNS} FROM jobs WHERE environment_id = ? ${order}`, [environmentId])
      : await this.db.get<RawJob>(`SELECT ${JOB_COLUMNS} FROM jobs WHERE environment_id = ? AND type = ? ${order}`, [environmentId, type]);
    return r && toJob(r);
  }

  /**
   * The job that put the environment's active version in place: its last deploy or rollback that
   * completed (a recycle restarts the same version and is not one). The status page's "origin".
   */
  async lastActivation(environmentId: string): Promise<JobRow | undefined> {
    const r = await this.db.get<RawJob>(`SELECT ${JOB_COLUMNS} FROM jobs WHERE environment_id = ? AND status = 'COMPLETED' AND type IN ('deployService','rollbackService')
      ORDER BY updated_at DESC, ${this.db.dialect.insertionOrder} DESC LIMIT 1`, [environmentId]);
    return r && toJob(r);
  }

  /**
   * After a crash of flexd, jobs it was running can never finish: mark them failed, keeping
   * the steps they got through, and take back the versions they stored but no environment
   * serves (a deploy killed between storing its version and the swap), so the same version
   * can be deployed again. One transaction: a crash during this repeats it whole at the next start.
   * `nodes`: only the jobs these nodes ran (several nodes share a database; default: every job).
   */
  failUnfinished(reason: string, nodes?: readonly string[]): Promise<{ jobs: number; versions: number }> {
    const ofNodes = nodes === undefined ? '' : ` AND node IN (${nodes.map(() => '?').join(', ') || 'NULL'})`;
    const params = nodes ?? [];
    return this.db.transaction(async (tx) => {
      const versions = (await tx.run(`DELETE FROM versions
        WHERE job_id IN (SELECT id FROM jobs WHERE status IN ('QUEUED','BUILDING','DEPLOYING')${ofNodes})
          AND id NOT IN (SELECT active_version_id FROM environments WHERE active_version_id IS NOT NULL)`, params)).changes;
      await tx.run(`DELETE FROM job_uploads WHERE job_id IN (SELECT id FROM jobs WHERE ${OPEN}${ofNodes})`, params);
      const jobs = (await tx.run(`UPDATE jobs SET status = 'ERROR', progress = progress || CAST(? AS TEXT), updated_at = ?, lease_until = NULL
        WHERE status IN ('QUEUED','BUILDING','DEPLOYING')${ofNodes}`, [`\n${reason}`, nowIso(), ...params])).changes;
      return { jobs, versions };
    });
  }
}
