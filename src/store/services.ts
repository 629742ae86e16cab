import { statementCache, type Db } from './db.ts';
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

const SERVICE_COLUMNS = 'id, organization_id AS organizationId, name, description, created_at AS createdAt';

/** Services and their environments. */
export class ServiceStore {
  private readonly sql: ReturnType<typeof statementCache>;
  /** Bumped by every write, so readers may cache lookups until it changes (see dataplane/directory.ts). */
  revision = 0;

  constructor(private readonly db: Db) {
    this.sql = statementCache(db);
  }

  createService(organizationId: string, name: string): ServiceRow {
    this.revision++;
    const row = { id: newId(), organizationId, name, description: null, createdAt: nowIso() };
    this.sql('INSERT INTO services (id, organization_id, name, created_at) VALUES (?, ?, ?, ?)')
      .run(row.id, row.organizationId, row.name, row.createdAt);
    return row;
  }

  getService(id: string): ServiceRow | undefined {
    return this.sql(`SELECT ${SERVICE_COLUMNS} FROM services WHERE id = ?`).get(id) as ServiceRow | undefined;
  }

  /** By id or, failing that, by name (the data plane and flexd's CLI accept either). */
  findService(idOrName: string): ServiceRow | undefined {
    return this.getService(idOrName)
      ?? this.sql(`SELECT ${SERVICE_COLUMNS} FROM services WHERE name = ?`).get(idOrName) as ServiceRow | undefined;
  }

  listServices(organizationId?: string): ServiceRow[] {
    return (organizationId === undefined
      ? this.sql(`SELECT ${SERVICE_COLUMNS} FROM services ORDER BY name`).all()
      : this.sql(`SELECT ${SERVICE_COLUMNS} FROM services WHERE organization_id = ? ORDER BY name`).all(organizationId)) as ServiceRow[];
  }

  /** A new name and/or description (`undefined` keeps, `null` clears the description). */
  updateService(id: string, patch: { name?: string; description?: string | null }): ServiceRow | undefined {
    this.revision++;
    if (patch.name !== undefined) this.sql('UPDATE services SET name = ? WHERE id = ?').run(patch.name, id);
    if (patch.description !== undefined) this.sql('UPDATE services SET description = ? WHERE id = ?').run(patch.description, id);
    return this.getService(id);
  }

  deleteService(id: string): boolean {
    this.revision++;
    return this.sql('DELETE FROM services WHERE id = ?').run(id).changes > 0;
  }

  createEnvironment(serviceId: string, fields: { name: string; secret: string; envVars?: Record<string, string>; runtime?: string | null; settings?: Record<string, number | boolean>; description?: string | null }): EnvironmentRow {
    this.revision++;
    const id = newId();
    this.sql(`INSERT INTO environments (id, service_id, name, secret, env_vars, runtime, settings, description, created_at, account_slot)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(id, serviceId, fields.name, fields.secret, JSON.stringify(fields.envVars ?? {}),
      fields.runtime ?? null, JSON.stringify(fields.settings ?? {}), fields.description ?? null, nowIso(), this.freeAccountSlot());
    return this.getEnvironment(id)!;
  }

  /** The smallest account slot no live environment holds (a deleted environment's slot is free again). */
  private freeAccountSlot(): number {
    const taken = this.sql('SELECT account_slot AS slot FROM environments WHERE account_slot IS NOT NULL ORDER BY account_slot').all() as { slot: number }[];
    let slot = 0;
    for (const row of taken) {
      if (row.slot !== slot) break;
      slot++;
    }
    return slot;
  }

  getEnvironment(id: string): EnvironmentRow | undefined {
    const r = this.sql('SELECT * FROM environments WHERE id = ?').get(id) as RawEnvironment | undefined;
    return r && toEnvironment(r);
  }

  /** An environment of a service by id or name. */
  findEnvironment(serviceId: string, idOrName: string): EnvironmentRow | undefined {
    const r = (this.sql('SELECT * FROM environments WHERE service_id = ? AND id = ?').get(serviceId, idOrName)
      ?? this.sql('SELECT * FROM environments WHERE service_id = ? AND name = ?').get(serviceId, idOrName)) as RawEnvironment | undefined;
    return r && toEnvironment(r);
  }

  listEnvironments(serviceId?: string): EnvironmentRow[] {
    const rows = (serviceId === undefined
      ? this.sql('SELECT * FROM environments ORDER BY created_at').all()
      : this.sql('SELECT * FROM environments WHERE service_id = ? ORDER BY created_at').all(serviceId)) as RawEnvironment[];
    return rows.map(toEnvironment);
  }

  /** Removes the environment and, by cascade, its stored versions. */
  deleteEnvironment(id: string): boolean {
    this.revision++;
    return this.sql('DELETE FROM environments WHERE id = ?').run(id).changes > 0;
  }

  updateEnvironment(id: string, patch: Partial<Pick<EnvironmentRow, 'name' | 'secret' | 'envVars' | 'runtime' | 'settings' | 'description'
    | 'activeVersionId' | 'requestedVersion' | 'requestedAt' | 'deployerEmail' | 'suspendedReason' | 'lastError'>>): EnvironmentRow {
    this.revision++;
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
    if (sets.length > 0) this.sql(`UPDATE environments SET ${sets.join(', ')} WHERE id = ?`).run(...values, id);
    return this.getEnvironment(id)!;
  }
}
