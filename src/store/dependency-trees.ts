import { statementCache, type Db } from './db.ts';
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
  private readonly sql: ReturnType<typeof statementCache>;

  constructor(private readonly db: Db) {
    this.sql = statementCache(db);
  }

  get(key: string): DependencyTreeRow | undefined {
    const row = this.sql(`SELECT key, size, sdk_version AS sdkVersion, notes, native_addons AS nativeAddons, created_at AS createdAt, used_at AS usedAt
      FROM dependency_trees WHERE key = ?`).get(key) as (Omit<DependencyTreeRow, 'notes' | 'nativeAddons'> & { notes: string; nativeAddons: number }) | undefined;
    return row && { ...row, notes: JSON.parse(row.notes) as string[], nativeAddons: row.nativeAddons === 1 };
  }

  tree(key: string): Buffer {
    const row = this.sql('SELECT tree FROM dependency_trees WHERE key = ?').get(key) as { tree: Buffer } | undefined;
    if (!row) throw new Error(`dependency tree ${key} not found`);
    return row.tree;
  }

  /** Stores a tree under `key`; a tree already stored under it is kept (same inputs, same tree). */
  add(key: string, fields: { tree: Buffer; sdkVersion: string | null; notes: string[]; nativeAddons: boolean }): void {
    const now = nowIso();
    this.sql(`INSERT INTO dependency_trees (key, tree, size, sdk_version, notes, native_addons, created_at, used_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (key) DO UPDATE SET used_at = excluded.used_at`)
      .run(key, fields.tree, fields.tree.length, fields.sdkVersion, JSON.stringify(fields.notes), fields.nativeAddons ? 1 : 0, now, now);
  }

  touch(key: string): void {
    this.sql('UPDATE dependency_trees SET used_at = ? WHERE key = ?').run(nowIso(), key);
  }

  /** Drops trees no version uses and nothing reused since `before` (ISO time). Returns how many. */
  prune(before: string): number {
    return this.sql(`DELETE FROM dependency_trees WHERE used_at < ?
      AND NOT EXISTS (SELECT 1 FROM versions WHERE versions.dependencies_key = dependency_trees.key)`).run(before).changes;
  }
}
