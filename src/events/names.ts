import type { EnvironmentDirectory, EnvironmentNames } from '../dataplane/directory.ts';

export type { EnvironmentNames } from '../dataplane/directory.ts';

/**
 * The service and environment names of an environment id, for log lines and metric labels
 * (names, not ids: that is what people search for), from the in-memory directory: an event is
 * logged without a database round trip. A deleted environment keeps the names it had.
 */
export function environmentNames(directory: EnvironmentDirectory, environmentId: string): EnvironmentNames {
  return directory.names(environmentId);
}
