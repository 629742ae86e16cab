import type { SqlClient } from './sql.ts';
import { newId, nowIso } from './ids.ts';

export type JobStatus = 'QUEUED' | 'BUILDING' | 'DEPLOYING' | 'COMPLETED' | 'ERROR';
export type JobType = 'deployService' | 'recycleService' | 'rollbackService';

export interface JobRow {
  id: string; type: JobType; serviceId: string | null; environmentId: string | null; status: JobStatus;
  progress: string; params: Record<string, unknown>; userEmail: string | null; createdAt: string; updatedAt: string;
  /** the node that runs or ran it */
  node: string | null;
}

interface RawJob { id: string; type: JobType; service_id: string | null; environment_id: string | null; status: JobStatus; progress: string; params: string; user_email: string | null; created_at: string; updated_at: string; node: string | null }

function toJob(r: RawJob): JobRow {
  return { id: r.id, type: r.type, serviceId: r.service_id, environmentId: r.environment_id, status: r.status, progress: r.progress,
    params: JSON.parse(r.params), userEmail: r.user_email, createdAt: r.created_at, updatedAt: r.updated_at, node: r.node };
}

const JOB_COLUMNS = 'id, type, service_id, environment_id, status, progress, params, user_email, created_at, updated_at, node';

/** Deploy and recycle jobs and their progress. */
export class JobStore {
  /** `node`: this node's name, recorded on the jobs it creates */
  constructor(private readonly db: SqlClient, private readonly node: string = '') {}

  async create(fields: { type: JobType; serviceId: string; environmentId: string; params: Record<string, unknown>; userEmail: string | null }): Promise<JobRow> {
    const id = newId();
    const now = nowIso();
    await this.db.run(`INSERT INTO jobs (id, type, service_id, environment_id, status, progress, params, user_email, created_at, updated_at, node)
      VALUES (?, ?, ?, ?, 'QUEUED', 'Queued', ?, ?, ?, ?, ?)`, [id, fields.type, fields.serviceId, fields.environmentId,
      JSON.stringify(fields.params), fields.userEmail, now, now, this.node || null]);
    return (await this.get(id))!;
  }

  async get(id: string): Promise<JobRow | undefined> {
    const r = await this.db.get<RawJob>(`SELECT ${JOB_COLUMNS} FROM jobs WHERE id = ?`, [id]);
    return r && toJob(r);
  }

  async update(id: string, status: JobStatus, progress: string): Promise<void> {
    await this.db.run('UPDATE jobs SET status = ?, progress = ?, updated_at = ? WHERE id = ?', [status, progress, nowIso(), id]);
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
      const jobs = (await tx.run(`UPDATE jobs SET status = 'ERROR', progress = progress || CAST(? AS TEXT), updated_at = ?
        WHERE status IN ('QUEUED','BUILDING','DEPLOYING')${ofNodes}`, [`\n${reason}`, nowIso(), ...params])).changes;
      return { jobs, versions };
    });
  }
}
