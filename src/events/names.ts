import type { Store } from '../store/index.ts';

export interface EnvironmentNames { service: string; environment: string }

/**
 * The service and environment names of an environment id, for log lines and metric labels
 * (names, not ids: that is what people search for). A deleted environment keeps its id as its name.
 */
export function environmentNames(store: Store, environmentId: string): EnvironmentNames {
  try {
    const env = store.services.getEnvironment(environmentId);
    const svc = env ? store.services.getService(env.serviceId) : undefined;
    return { service: svc?.name ?? '(deleted)', environment: env?.name ?? environmentId };
  } catch {
    return { service: '(unknown)', environment: environmentId }; // the database is closing
  }
}
