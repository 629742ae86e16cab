import type { EnvironmentRow, Store } from '../store/index.ts';

/**
 * `/flex/{service}/{environment}` → the environment, cached: the data plane resolves it on
 * every request, and two SQLite lookups were a tenth of flexd's CPU per request (npm run bench,
 * profile). Any write to services or environments drops the whole cache.
 */
export class EnvironmentDirectory {
  private readonly cache = new Map<string, EnvironmentRow | null>();
  private revision = -1;

  constructor(private readonly store: Store) {}

  resolve(service: string, environment: string): EnvironmentRow | undefined {
    const { services } = this.store;
    if (services.revision !== this.revision) {
      this.cache.clear();
      this.revision = services.revision;
    }
    const key = `${service}\u0000${environment}`;
    let env = this.cache.get(key);
    if (env === undefined) {
      const svc = services.findService(service);
      env = (svc && services.findEnvironment(svc.id, environment)) ?? null;
      // Bounded: a client probing random names must not grow it forever.
      if (this.cache.size >= 10_000) this.cache.clear();
      this.cache.set(key, env);
    }
    return env ?? undefined;
  }
}
