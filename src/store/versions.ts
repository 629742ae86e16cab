import { statementCache, type Db } from './db.ts';
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

const COLUMNS = `id, environment_id AS environmentId, version, hash, size, sdk_version AS sdkVersion, runtime, created_at AS createdAt, native_addons AS nativeAddons`;

/** Built artifacts: every deployed version of an environment, immutable once stored (but rebuilt for another Node major). */
export class VersionStore {
  private readonly sql: ReturnType<typeof statementCache>;

  constructor(private readonly db: Db) {
    this.sql = statementCache(db);
  }

  /** `jobId`: the deploy job storing it, which takes it back if flexd dies before the job ends. */
  /**
   * `project`: the tar of the project's own files; `dependenciesKey`: its installed node_modules in
   * dependency_trees (null: no dependencies). `size` counts both.
   */
  add(environmentId: string, fields: {
    version: string; project: Buffer; dependenciesKey: string | null; size: number; hash: string;
    sdkVersion: string | null; runtime: string | null; jobId: string | null; nativeAddons?: boolean;
  }): VersionRow {
    const id = newId();
    this.sql(`INSERT INTO versions (id, environment_id, version, bundle, dependencies_key, hash, size, sdk_version, runtime, created_at, job_id, native_addons)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(id, environmentId, fields.version, fields.project, fields.dependenciesKey, fields.hash,
      fields.size, fields.sdkVersion, fields.runtime, nowIso(), fields.jobId, fields.nativeAddons ? 1 : 0);
    return this.get(id)!;
  }

  /**
   * The same version built again for another Node major (its runtime changed): the project's
   * files, its dependency tree and what they hold are replaced; its number and history stay.
   */
  rebuilt(id: string, fields: {
    project: Buffer; dependenciesKey: string | null; size: number; hash: string; sdkVersion: string | null; runtime: string; nativeAddons: boolean;
  }): VersionRow {
    this.sql(`UPDATE versions SET bundle = ?, dependencies_key = ?, size = ?, hash = ?, sdk_version = ?, runtime = ?, native_addons = ? WHERE id = ?`)
      .run(fields.project, fields.dependenciesKey, fields.size, fields.hash, fields.sdkVersion, fields.runtime, fields.nativeAddons ? 1 : 0, id);
    const row = this.get(id);
    if (!row) throw new Error(`version ${id} not found`);
    return row;
  }

  get(id: string): VersionRow | undefined {
    return row(this.sql(`SELECT ${COLUMNS} FROM versions WHERE id = ?`).get(id));
  }

  find(environmentId: string, version: string): VersionRow | undefined {
    return row(this.sql(`SELECT ${COLUMNS} FROM versions WHERE environment_id = ? AND version = ?`).get(environmentId, version));
  }

  /** What unpackArtifact (deploy/artifact.ts) writes out: the project's files and its dependency tree. */
  artifact(id: string): ArtifactParts {
    const row = this.sql(`SELECT v.bundle AS project, t.tree AS dependencies FROM versions v
      LEFT JOIN dependency_trees t ON t.key = v.dependencies_key WHERE v.id = ?`).get(id) as ArtifactParts | undefined;
    if (!row) throw new Error(`version ${id} not found`);
    return row;
  }

  /** The project's own files (the `project` part of `artifact`), without reading its dependency tree. */
  projectPart(id: string): Buffer {
    const row = this.sql('SELECT bundle FROM versions WHERE id = ?').get(id) as { bundle: Buffer } | undefined;
    if (!row) throw new Error(`version ${id} not found`);
    return row.bundle;
  }

  /** The key of the version's dependency tree in dependency_trees, or null (no dependencies). */
  dependenciesKey(id: string): string | null {
    const row = this.sql('SELECT dependencies_key AS key FROM versions WHERE id = ?').get(id) as { key: string | null } | undefined;
    if (!row) throw new Error(`version ${id} not found`);
    return row.key;
  }

  list(environmentId: string): VersionRow[] {
    const rows = this.sql(`SELECT ${COLUMNS} FROM versions WHERE environment_id = ?`).all(environmentId).map((r) => row(r)!);
    return rows.sort((a, b) => semver.compare(a.version, b.version));
  }

  /** The highest version ever deployed to the environment (semver order), or null. */
  newest(environmentId: string): string | null {
    const all = this.list(environmentId);
    return all.length === 0 ? null : all[all.length - 1].version;
  }

  /** The artifact hashes of every stored version. */
  hashes(): string[] {
    return (this.sql('SELECT DISTINCT hash FROM versions').all() as { hash: string }[]).map((r) => r.hash);
  }

  remove(id: string): void {
    this.sql('DELETE FROM versions WHERE id = ?').run(id);
  }
}

function row(raw: unknown): VersionRow | undefined {
  if (raw === undefined) return undefined;
  const r = raw as VersionRow & { nativeAddons: number | boolean };
  return { ...r, nativeAddons: Boolean(r.nativeAddons) };
}
