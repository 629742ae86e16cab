import type { EnvironmentRow, ServiceRow, Store } from '../store/index.ts';

export interface EnvironmentNames { service: string; environment: string }

/** After a refresh that failed (the database is away), serve what is known and ask again no sooner than this. */
const RETRY_AFTER_FAILURE_MS = 1_000;

interface Snapshot {
  servicesById: Map<string, ServiceRow>;
  servicesByName: Map<string, ServiceRow>;
  /** by service id: its environments by id and by name */
  environments: Map<string, { byId: Map<string, EnvironmentRow>; byName: Map<string, EnvironmentRow> }>;
}

/**
 * Every service and environment, in memory: the data plane resolves `/flex/{service}/{environment}`
 * on every request and must never wait on the database for it (with PostgreSQL it may be away; on
 * SQLite two lookups were a tenth of flexd's CPU per request). Read whole from the store once, and
 * again after each change the store reports (a write here, or another node's announced one): a
 * request after a change waits for that one refresh, shared by every request meanwhile. When the
 * store cannot be read, the last snapshot keeps serving.
 */
export class EnvironmentDirectory {
  private snapshot: Snapshot = { servicesById: new Map(), servicesByName: new Map(), environments: new Map() };
  private revision = -1;
  private refreshing: Promise<void> | undefined;
  private retryAt = 0;
  /** Names of every environment seen, deleted ones included: log lines about them still name them. */
  private readonly known = new Map<string, EnvironmentNames>();

  constructor(private readonly store: Store) {
    store.services.onChange(() => void this.current());
  }

  /** By service id or name, then environment id or name, as the data plane's path names them. */
  async resolve(service: string, environment: string): Promise<EnvironmentRow | undefined> {
    // Nearly always current: answered without a second async step.
    if (this.store.services.revision !== this.revision) await this.current();
    return this.lookup(service, environment);
  }

  /** The service and environment names of an environment id (its id, when it was never seen). */
  names(environmentId: string): EnvironmentNames {
    return this.known.get(environmentId) ?? { service: '(deleted)', environment: environmentId };
  }

  /** Brings the snapshot up to the store's revision (a no-op while it is current). */
  async current(): Promise<void> {
    while (this.store.services.revision !== this.revision) {
      if (Date.now() < this.retryAt) return;
      this.refreshing ??= this.refresh().finally(() => { this.refreshing = undefined; });
      await this.refreshing;
    }
  }

  /** The same lookup in the snapshot as it stands (current after the refresh that follows a change). */
  find(service: string, environment: string): EnvironmentRow | undefined {
    return this.lookup(service, environment);
  }

  private lookup(service: string, environment: string): EnvironmentRow | undefined {
    const { servicesById, servicesByName, environments } = this.snapshot;
    const svc = servicesById.get(service) ?? servicesByName.get(service);
    const envs = svc && environments.get(svc.id);
    return envs && (envs.byId.get(environment) ?? envs.byName.get(environment));
  }

  private async refresh(): Promise<void> {
    const revision = this.store.services.revision;
    let services: ServiceRow[];
    let envs: EnvironmentRow[];
    try {
      [services, envs] = await Promise.all([this.store.services.listServices(), this.store.services.listEnvironments()]);
    } catch {
      this.retryAt = Date.now() + RETRY_AFTER_FAILURE_MS;
      return;
    }
    const next: Snapshot = { servicesById: new Map(), servicesByName: new Map(), environments: new Map() };
    for (const s of services) {
      next.servicesById.set(s.id, s);
      next.servicesByName.set(s.name, s);
      next.environments.set(s.id, { byId: new Map(), byName: new Map() });
    }
    for (const e of envs) {
      const of = next.environments.get(e.serviceId);
      if (!of) continue;
      of.byId.set(e.id, e);
      // The first created wins a name, as the store's lookup by name would find it.
      if (!of.byName.has(e.name)) of.byName.set(e.name, e);
      this.known.set(e.id, { service: next.servicesById.get(e.serviceId)!.name, environment: e.name });
    }
    this.snapshot = next;
    this.revision = revision;
  }
}
