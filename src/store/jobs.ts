import { statementCache, type Db } from './db.ts';
import { newId, nowIso } from './ids.ts';

export type JobStatus = 'QUEUED' | 'BUILDING' | 'DEPLOYING' | 'COMPLETED' | 'ERROR';
export type JobType = 'deployService' | 'recycleService' | 'rollbackService';

export interface JobRow {
  id: string; type: JobType; serviceId: string | null; environmentId: string | null; status: JobStatus;
  progress: string; params: Record<string, unknown>; userEmail: string | null; createdAt: string; updatedAt: string;
}

interface RawJob { id: string; type: JobType; service_id: string | null; environment_id: string | null; status: JobStatus; progress: string; params: string; user_email: string | null; created_at: string; updated_at: string }

function toJob(r: RawJob): JobRow {
  return { id: r.id, type: r.type, serviceId: r.service_id, environmentId: r.environment_id, status: r.status, progress: r.progress,
    params: JSON.parse(r.params), userEmail: r.user_email, createdAt: r.created_at, updatedAt: r.updated_at };
}

/** Deploy and recycle jobs and their progress. */
export class JobStore {
  private readonly sql: ReturnType<typeof statementCache>;

  constructor(private readonly db: Db) {
    this.sql = statementCache(db);
  }

  create(fields: { type: JobType; serviceId: string; environmentId: string; params: Record<string, unknown>; userEmail: string | null }): JobRow {
    const id = newId();
    const now = nowIso();
    this.sql(`INSERT INTO jobs (id, type, service_id, environment_id, status, progress, params, user_email, created_at, updated_at)
      VALUES (?, ?, ?, ?, 'QUEUED', 'Queued', ?, ?, ?, ?)`).run(id, fields.type, fields.serviceId, fields.environmentId,
      JSON.stringify(fields.params), fields.userEmail, now, now);
    return this.get(id)!;
  }

  get(id: string): JobRow | undefined {
    const r = this.sql('SELECT * FROM jobs WHERE id = ?').get(id) as RawJob | undefined;
    return r && toJob(r);
  }

  update(id: string, status: JobStatus, progress: string): void {
    this.sql('UPDATE jobs SET status = ?, progress = ?, updated_at = ? WHERE id = ?').run(status, progress, nowIso(), id);
  }

  /** The environment's running (not finished) job, if any. */
  running(environmentId: string): JobRow | undefined {
    const r = this.sql(`SELECT * FROM jobs WHERE environment_id = ? AND status IN ('QUEUED','BUILDING','DEPLOYING')
      ORDER BY created_at DESC LIMIT 1`).get(environmentId) as RawJob | undefined;
    return r && toJob(r);
  }

  latest(environmentId: string, type?: JobType): JobRow | undefined {
    const r = (type === undefined
      ? this.sql('SELECT * FROM jobs WHERE environment_id = ? ORDER BY created_at DESC, rowid DESC LIMIT 1').get(environmentId)
      : this.sql('SELECT * FROM jobs WHERE environment_id = ? AND type = ? ORDER BY created_at DESC, rowid DESC LIMIT 1').get(environmentId, type)) as RawJob | undefined;
    return r && toJob(r);
  }

  /**
   * The job that put the environment's active version in place: its last deploy or rollback that
   * completed (a recycle restarts the same version and is not one). The status page's "origin".
   */
  lastActivation(environmentId: string): JobRow | undefined {
    const r = this.sql(`SELECT * FROM jobs WHERE environment_id = ? AND status = 'COMPLETED' AND type IN ('deployService','rollbackService')
      ORDER BY updated_at DESC, rowid DESC LIMIT 1`).get(environmentId) as RawJob | undefined;
    return r && toJob(r);
  }

  /**
   * After a crash of flexd, jobs it was running can never finish: mark them failed, keeping
   * the steps they got through, and take back the versions they stored but no environment
   * serves (a deploy killed between storing its version and the swap), so the same version
   * can be deployed again. One transaction: a crash during this repeats it whole at the next start.
   */
  failUnfinished(reason: string): { jobs: number; versions: number } {
    return this.db.transaction(() => {
      const versions = this.sql(`DELETE FROM versions
        WHERE job_id IN (SELECT id FROM jobs WHERE status IN ('QUEUED','BUILDING','DEPLOYING'))
          AND id NOT IN (SELECT active_version_id FROM environments WHERE active_version_id IS NOT NULL)`).run().changes;
      const jobs = this.sql(`UPDATE jobs SET status = 'ERROR', progress = progress || char(10) || ?, updated_at = ?
        WHERE status IN ('QUEUED','BUILDING','DEPLOYING')`).run(reason, nowIso()).changes;
      return { jobs, versions };
    })();
  }
}
