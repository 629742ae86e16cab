import type { SqlClient } from './sql.ts';
import { nowIso } from './ids.ts';

/** One installed dependency tree: node_modules as npm left it, as a gzip'ed tar. */
export interface DependencyTreeRow {
  key: string;
  size: number;
  sdkVersion: string | null;
  /** what the install said that a reuse should say again (substitutions, dropped entries) */
  notes: string[];
  /** holds a compiled addon (`.node`) */
  nativeAddons: boolean;
  createdAt: string;
  usedAt: string;
}

/**
 * Installed dependency trees by the key of what determined them (deploy/dependency-cache.ts).
 * A tree is written once and never changed; versions reference it, so ten versions of a service
 * with the same dependencies hold node_modules once.
 */
export class DependencyTreeStore {
  constructor(private readonly db: SqlClient) {}

  async get(key: string): Promise<DependencyTreeRow | undefined> {
    const row = await this.db.get<Omit<DependencyTreeRow, 'notes' | 'nativeAddons'> & { notes: string; nativeAddons: number }>(
      `SELECT key, size, sdk_version AS "sdkVersion", notes, native_addons AS "nativeAddons", created_at AS "createdAt", used_at AS "usedAt"
      FROM dependency_trees WHERE key = ?`, [key]);
    return row && { ...row, size: Number(row.size), notes: JSON.parse(row.notes) as string[], nativeAddons: row.nativeAddons === 1 };
  }

  async tree(key: string): Promise<Buffer> {
    const row = await this.db.get<{ tree: Buffer }>(`SELECT tree FROM ${this.db.dialect.name === 'sqlite' ? 'dependency_trees' : 'dependency_tree_blobs'} WHERE key = ?`, [key]);
    if (!row) throw new Error(`dependency tree ${key} not found`);
    return row.tree;
  }

  /** Stores a tree under `key`; a tree already stored under it is kept (same inputs, same tree). */
  async add(key: string, fields: { tree: Buffer; sdkVersion: string | null; notes: string[]; nativeAddons: boolean }): Promise<void> {
    const now = nowIso();
    const values = [key, fields.tree.length, fields.sdkVersion, JSON.stringify(fields.notes), fields.nativeAddons ? 1 : 0, now, now];
    if (this.db.dialect.name === 'sqlite') {
      await this.db.run(`INSERT INTO dependency_trees (key, size, sdk_version, notes, native_addons, created_at, used_at, tree) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (key) DO UPDATE SET used_at = excluded.used_at`, [...values, fields.tree]);
      return;
    }
    // PostgreSQL: the tar in a table of its own, never read with the row that describes it.
    await this.db.transaction(async (tx) => {
      await tx.run(`INSERT INTO dependency_trees (key, size, sdk_version, notes, native_addons, created_at, used_at) VALUES (?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (key) DO UPDATE SET used_at = excluded.used_at`, values);
      await tx.run('INSERT INTO dependency_tree_blobs (key, tree) VALUES (?, ?) ON CONFLICT (key) DO NOTHING', [key, fields.tree]);
    });
  }

  async touch(key: string): Promise<void> {
    await this.db.run('UPDATE dependency_trees SET used_at = ? WHERE key = ?', [nowIso(), key]);
  }

  /** How many trees are stored. */
  async count(): Promise<number> {
    return (await this.db.get<{ n: number }>('SELECT CAST(COUNT(*) AS INTEGER) AS n FROM dependency_trees'))!.n;
  }

  /** Drops trees no version uses and nothing reused since `before` (ISO time). Returns how many. */
  async prune(before: string): Promise<number> {
    return (await this.db.run(`DELETE FROM dependency_trees WHERE used_at < ?
      AND NOT EXISTS (SELECT 1 FROM versions WHERE versions.dependencies_key = dependency_trees.key)`, [before])).changes;
  }
}
