import type { SqlClient } from './sql.ts';
import { inFence, type Fence } from './fence.ts';
import { newId, nowIso } from './ids.ts';
import semver from 'semver';

export interface VersionRow {
  id: string; environmentId: string; version: string; hash: string; size: number;
  sdkVersion: string | null; runtime: string | null; createdAt: string;
  /** the artifact holds a compiled addon (`.node`): its replicas may load addons under the permission model */
  nativeAddons: boolean;
}

/** A version's code as stored: gzip'ed tars of the project's own files and of its node_modules (deploy/artifact.ts). */
export interface ArtifactParts {
  project: Buffer;
  dependencies: Buffer | null;
}

const COLUMNS = `id, environment_id AS "environmentId", version, hash, size, sdk_version AS "sdkVersion", runtime, created_at AS "createdAt", native_addons AS "nativeAddons"`;

/** Built artifacts: every deployed version of an environment, immutable once stored (but rebuilt for another Node major). */
export class VersionStore {
  constructor(private readonly db: SqlClient) {}

  /**
   * `project`: the tar of the project's own files; `dependenciesKey`: its installed node_modules in
   * dependency_trees (null: no dependencies). `size` counts both. `jobId`: the deploy job storing
   * it, which takes it back if flexd dies before the job ends. `fence`: stored only while that run
   * of the job is its current one (JobLeaseLost otherwise, fence.ts).
   */
  async add(environmentId: string, fields: {
    version: string; project: Buffer; dependenciesKey: string | null; size: number; hash: string;
    sdkVersion: string | null; runtime: string | null; jobId: string | null; nativeAddons?: boolean;
  }, fence?: Fence): Promise<VersionRow> {
    const id = newId();
    const values = [id, environmentId, fields.version, fields.dependenciesKey, fields.hash, fields.size, fields.sdkVersion, fields.runtime, nowIso(), fields.jobId, fields.nativeAddons ? 1 : 0];
    await inFence(this.db, fence, (db) => this.insert(db, id, values, fields.project));
    return (await this.get(id))!;
  }

  private async insert(db: SqlClient, id: string, values: unknown[], project: Buffer): Promise<void> {
    if (db.dialect.name === 'sqlite') {
      await db.run(`INSERT INTO versions (id, environment_id, version, dependencies_key, hash, size, sdk_version, runtime, created_at, job_id, native_addons, bundle)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, [...values, project]);
    } else {
      // PostgreSQL: the tar in a table of its own, never read with the row that describes it.
      await db.transaction(async (tx) => {
        await tx.run(`INSERT INTO versions (id, environment_id, version, dependencies_key, hash, size, sdk_version, runtime, created_at, job_id, native_addons)
          VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, values);
        await tx.run('INSERT INTO version_blobs (version_id, bundle) VALUES (?, ?)', [id, project]);
      });
    }
  }

  /** The version a deploy job stored, if it stored one. */
  async ofJob(jobId: string): Promise<VersionRow | undefined> {
    return row(await this.db.get(`SELECT ${COLUMNS} FROM versions WHERE job_id = ?`, [jobId]));
  }

  async get(id: string): Promise<VersionRow | undefined> {
    return row(await this.db.get(`SELECT ${COLUMNS} FROM versions WHERE id = ?`, [id]));
  }

  async find(environmentId: string, version: string): Promise<VersionRow | undefined> {
    return row(await this.db.get(`SELECT ${COLUMNS} FROM versions WHERE environment_id = ? AND version = ?`, [environmentId, version]));
  }

  /** What unpackArtifact (deploy/artifact.ts) writes out: the project's files and its dependency tree. */
  async artifact(id: string): Promise<ArtifactParts> {
    const found = await this.db.get<ArtifactParts>(this.db.dialect.name === 'sqlite'
      ? `SELECT v.bundle AS project, t.tree AS dependencies FROM versions v
        LEFT JOIN dependency_trees t ON t.key = v.dependencies_key WHERE v.id = ?`
      : `SELECT b.bundle AS project, t.tree AS dependencies FROM versions v JOIN version_blobs b ON b.version_id = v.id
        LEFT JOIN dependency_tree_blobs t ON t.key = v.dependencies_key WHERE v.id = ?`, [id]);
    if (!found) throw new Error(`version ${id} not found`);
    return found;
  }

  /** The key of the version's dependency tree in dependency_trees, or null (no dependencies). */
  async dependenciesKey(id: string): Promise<string | null> {
    const found = await this.db.get<{ key: string | null }>('SELECT dependencies_key AS key FROM versions WHERE id = ?', [id]);
    if (!found) throw new Error(`version ${id} not found`);
    return found.key;
  }

  /** The project's own files (the `project` part of `artifact`), without reading its dependency tree. */
  async projectPart(id: string): Promise<Buffer> {
    const found = await this.db.get<{ bundle: Buffer }>(this.db.dialect.name === 'sqlite'
      ? 'SELECT bundle FROM versions WHERE id = ?' : 'SELECT bundle FROM version_blobs WHERE version_id = ?', [id]);
    if (!found) throw new Error(`version ${id} not found`);
    return found.bundle;
  }

  /**
   * The same version built again for another Node major (its runtime changed): the project's
   * files, its dependency tree and what they hold are replaced; its number and history stay.
   */
  async rebuilt(id: string, fields: {
    project: Buffer; dependenciesKey: string | null; size: number; hash: string; sdkVersion: string | null; runtime: string; nativeAddons: boolean;
  }, fence?: Fence): Promise<VersionRow> {
    const values = [fields.dependenciesKey, fields.size, fields.hash, fields.sdkVersion, fields.runtime, fields.nativeAddons ? 1 : 0, id];
    await inFence(this.db, fence, (db) => this.replace(db, id, values, fields.project));
    const found = await this.get(id);
    if (!found) throw new Error(`version ${id} not found`);
    return found;
  }

  private async replace(db: SqlClient, id: string, values: unknown[], project: Buffer): Promise<void> {
    if (db.dialect.name === 'sqlite') {
      await db.run('UPDATE versions SET dependencies_key = ?, size = ?, hash = ?, sdk_version = ?, runtime = ?, native_addons = ?, bundle = ? WHERE id = ?',
        [...values.slice(0, 6), project, id]);
    } else {
      await db.transaction(async (tx) => {
        await tx.run('UPDATE versions SET dependencies_key = ?, size = ?, hash = ?, sdk_version = ?, runtime = ?, native_addons = ? WHERE id = ?', values);
        await tx.run('UPDATE version_blobs SET bundle = ? WHERE version_id = ?', [project, id]);
      });
    }
  }

  async list(environmentId: string): Promise<VersionRow[]> {
    const rows = (await this.db.all(`SELECT ${COLUMNS} FROM versions WHERE environment_id = ?`, [environmentId])).map((r) => row(r)!);
    return rows.sort((a, b) => semver.compare(a.version, b.version));
  }

  /** The highest version ever deployed to the environment (semver order), or null. */
  async newest(environmentId: string): Promise<string | null> {
    const all = await this.list(environmentId);
    return all.length === 0 ? null : all[all.length - 1].version;
  }

  /** The artifact hashes of every stored version. */
  async hashes(): Promise<string[]> {
    return (await this.db.all<{ hash: string }>('SELECT DISTINCT hash FROM versions')).map((r) => r.hash);
  }

  async remove(id: string, fence?: Fence): Promise<void> {
    await inFence(this.db, fence, (db) => db.run('DELETE FROM versions WHERE id = ?', [id]));
  }
}

function row(raw: unknown): VersionRow | undefined {
  if (raw === undefined) return undefined;
  const r = raw as VersionRow & { nativeAddons: number | boolean; size: number | string };
  return { ...r, size: Number(r.size), nativeAddons: Boolean(r.nativeAddons) };
}
