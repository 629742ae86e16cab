import { inFence, type Fence } from './fence.ts';
import type { SqlClient } from './sql.ts';
import { newId, nowIso } from './ids.ts';

export interface ServiceRow { id: string; organizationId: string; name: string; description: string | null; createdAt: string }

export interface EnvironmentRow {
  id: string;
  serviceId: string;
  name: string;
  secret: string;
  envVars: Record<string, string>;
  runtime: string | null;
  settings: Record<string, number | boolean>;
  description: string | null;
  activeVersionId: string | null;
  requestedVersion: string | null;
  requestedAt: string | null;
  deployerEmail: string | null;
  suspendedReason: string | null;
  lastError: string | null;
  createdAt: string;
  /** which account its replicas run as, when flexd is root (src/isolation/accounts.ts) */
  accountSlot: number;
}

interface RawEnvironment {
  id: string; service_id: string; name: string; secret: string; env_vars: string; runtime: string | null;
  settings: string; description: string | null; active_version_id: string | null; requested_version: string | null;
  requested_at: string | null; deployer_email: string | null; suspended_reason: string | null; last_error: string | null;
  created_at: string; account_slot: number;
}

function toEnvironment(r: RawEnvironment): EnvironmentRow {
  return {
    id: r.id, serviceId: r.service_id, name: r.name, secret: r.secret, envVars: JSON.parse(r.env_vars),
    runtime: r.runtime, settings: JSON.parse(r.settings), description: r.description,
    activeVersionId: r.active_version_id, requestedVersion: r.requested_version, requestedAt: r.requested_at,
    deployerEmail: r.deployer_email, suspendedReason: r.suspended_reason, lastError: r.last_error, createdAt: r.created_at,
    accountSlot: r.account_slot,
  };
}

const SERVICE_COLUMNS = 'id, organization_id AS "organizationId", name, description, created_at AS "createdAt"';

/** Services and their environments. */
export class ServiceStore {
  /**
   * Bumped after every write (and by the cluster when another node announces one), so readers may
   * cache lookups until it changes (see dataplane/directory.ts).
   */
  revision = 0;
  private readonly listeners = new Set<(local: boolean) => void>();

  constructor(private readonly db: SqlClient) {}

  /** Tells the caches that services or environments changed elsewhere (another node). */
  invalidate(): void {
    this.changed(false);
  }

  /** Calls `listener` after every change (it may re-read at once); `local`: made through this store, not announced by another node. */
  onChange(listener: (local: boolean) => void): void {
    this.listeners.add(listener);
  }

  private changed(local = true): void {
    this.revision++;
    for (const listener of this.listeners) listener(local);
  }

  async createService(organizationId: string, name: string): Promise<ServiceRow> {
    const row = { id: newId(), organizationId, name, description: null, createdAt: nowIso() };
    await this.db.run('INSERT INTO services (id, organization_id, name, created_at) VALUES (?, ?, ?, ?)',
      [row.id, row.organizationId, row.name, row.createdAt]);
    this.changed();
    return row;
  }

  getService(id: string): Promise<ServiceRow | undefined> {
    return this.db.get<ServiceRow>(`SELECT ${SERVICE_COLUMNS} FROM services WHERE id = ?`, [id]);
  }

  /** By id or, failing that, by name (the data plane and flexd's CLI accept either). */
  async findService(idOrName: string): Promise<ServiceRow | undefined> {
    return await this.getService(idOrName)
      ?? await this.db.get<ServiceRow>(`SELECT ${SERVICE_COLUMNS} FROM services WHERE name = ?`, [idOrName]);
  }

  listServices(organizationId?: string): Promise<ServiceRow[]> {
    return organizationId === undefined
      ? this.db.all<ServiceRow>(`SELECT ${SERVICE_COLUMNS} FROM services ORDER BY name`)
      : this.db.all<ServiceRow>(`SELECT ${SERVICE_COLUMNS} FROM services WHERE organization_id = ? ORDER BY name`, [organizationId]);
  }

  /** A new name and/or description (`undefined` keeps, `null` clears the description). */
  async updateService(id: string, patch: { name?: string; description?: string | null }): Promise<ServiceRow | undefined> {
    if (patch.name !== undefined) await this.db.run('UPDATE services SET name = ? WHERE id = ?', [patch.name, id]);
    if (patch.description !== undefined) await this.db.run('UPDATE services SET description = ? WHERE id = ?', [patch.description, id]);
    this.changed();
    return this.getService(id);
  }

  async deleteService(id: string): Promise<boolean> {
    const { changes } = await this.db.run('DELETE FROM services WHERE id = ?', [id]);
    this.changed();
    return changes > 0;
  }

  async createEnvironment(serviceId: string, fields: { name: string; secret: string; envVars?: Record<string, string>; runtime?: string | null; settings?: Record<string, number | boolean>; description?: string | null }): Promise<EnvironmentRow> {
    const id = newId();
    await this.db.transaction(async (tx) => {
      await tx.run(`INSERT INTO environments (id, service_id, name, secret, env_vars, runtime, settings, description, created_at, account_slot)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, [id, serviceId, fields.name, fields.secret, JSON.stringify(fields.envVars ?? {}),
        fields.runtime ?? null, JSON.stringify(fields.settings ?? {}), fields.description ?? null, nowIso(), await freeAccountSlot(tx)]);
    });
    this.changed();
    return (await this.getEnvironment(id))!;
  }

  async getEnvironment(id: string): Promise<EnvironmentRow | undefined> {
    const r = await this.db.get<RawEnvironment>('SELECT * FROM environments WHERE id = ?', [id]);
    return r && toEnvironment(r);
  }

  /** An environment of a service by id or name. */
  async findEnvironment(serviceId: string, idOrName: string): Promise<EnvironmentRow | undefined> {
    const r = await this.db.get<RawEnvironment>('SELECT * FROM environments WHERE service_id = ? AND id = ?', [serviceId, idOrName])
      ?? await this.db.get<RawEnvironment>('SELECT * FROM environments WHERE service_id = ? AND name = ?', [serviceId, idOrName]);
    return r && toEnvironment(r);
  }

  async listEnvironments(serviceId?: string): Promise<EnvironmentRow[]> {
    const rows = serviceId === undefined
      ? await this.db.all<RawEnvironment>('SELECT * FROM environments ORDER BY created_at')
      : await this.db.all<RawEnvironment>('SELECT * FROM environments WHERE service_id = ? ORDER BY created_at', [serviceId]);
    return rows.map(toEnvironment);
  }

  /** Removes the environment and, by cascade, its stored versions. */
  async deleteEnvironment(id: string): Promise<boolean> {
    const { changes } = await this.db.run('DELETE FROM environments WHERE id = ?', [id]);
    this.changed();
    return changes > 0;
  }

  async updateEnvironment(id: string, patch: Partial<Pick<EnvironmentRow, 'name' | 'secret' | 'envVars' | 'runtime' | 'settings' | 'description'
    | 'activeVersionId' | 'requestedVersion' | 'requestedAt' | 'deployerEmail' | 'suspendedReason' | 'lastError'>>, fence?: Fence): Promise<EnvironmentRow> {
    const columns: Record<string, string> = {
      name: 'name', secret: 'secret', envVars: 'env_vars', runtime: 'runtime', settings: 'settings', description: 'description',
      activeVersionId: 'active_version_id', requestedVersion: 'requested_version', requestedAt: 'requested_at',
      deployerEmail: 'deployer_email', suspendedReason: 'suspended_reason', lastError: 'last_error',
    };
    const sets: string[] = [];
    const values: unknown[] = [];
    for (const [key, value] of Object.entries(patch)) {
      if (value === undefined) continue;
      sets.push(`${columns[key]} = ?`);
      values.push(key === 'envVars' || key === 'settings' ? JSON.stringify(value) : value);
    }
    // `fence`: a job's write, made only while its run is the job's current attempt (fence.ts).
    if (sets.length > 0) await inFence(this.db, fence, (db) => db.run(`UPDATE environments SET ${sets.join(', ')} WHERE id = ?`, [...values, id]));
    this.changed();
    return (await this.getEnvironment(id))!;
  }
}

/** The smallest account slot no live environment holds (a deleted environment's slot is free again). */
async function freeAccountSlot(tx: SqlClient): Promise<number> {
  const taken = await tx.all<{ slot: number }>('SELECT account_slot AS slot FROM environments WHERE account_slot IS NOT NULL ORDER BY account_slot');
  let slot = 0;
  for (const row of taken) {
    if (row.slot !== slot) break;
    slot++;
  }
  return slot;
}
