import type { ParsedArgs } from './args.ts';
import type { ApiClient, Organization, Service, ServiceEnvironment } from './client.ts';
import { CliError } from './errors.ts';

export interface Target {
  service: Service;
  environment: ServiceEnvironment;
}

/** Every Flex service the user can see, across organizations (flexd has one by default). */
export async function listServices(api: ApiClient): Promise<Array<Service & { organization: Organization }>> {
  const found: Array<Service & { organization: Organization }> = [];
  for (const organization of await api.organizations()) {
    for (const service of await api.services(organization.id)) {
      if (service.type === undefined || service.type === 'internal') found.push({ ...service, organization });
    }
  }
  return found;
}

/**
 * A service by id or by name, matched client-side on the list as kinvey-cli does
 * (`x.id === v || x.name === v`); an id match wins over a name match.
 */
export async function resolveService(api: ApiClient, idOrName: string | undefined): Promise<Service> {
  if (!idOrName) throw new CliError('--service is required (a service name or id; flexd list shows them)');
  const services = await listServices(api);
  const byId = services.find((s) => s.id === idOrName);
  if (byId) return byId;
  const byName = services.filter((s) => s.name === idOrName);
  if (byName.length === 1) return byName[0];
  if (byName.length > 1) {
    throw new CliError(`several services are named "${idOrName}" (${byName.map((s) => s.id).join(', ')}); give the id`, 'TooManyFound');
  }
  throw new CliError(`Could not find service with identifier '${idOrName}'. flexd list shows the services.`, 'ServiceNotFound');
}

/**
 * A service environment by id or name; without one, the service's only environment
 * (kinvey-cli's rule: several without `--env` is an error that names them).
 */
export async function resolveEnvironment(api: ApiClient, service: Service, idOrName: string | undefined): Promise<ServiceEnvironment> {
  const envs = await api.environments(service.id);
  if (idOrName) {
    const match = envs.find((e) => e.id === idOrName) ?? envs.find((e) => e.name === idOrName);
    if (match) return match;
    throw new CliError(`Could not find service environment with identifier '${idOrName}' in service ${service.name}. It has: ${names(envs)}.`,
      'ServiceEnvironmentNotFound');
  }
  if (envs.length === 1) return envs[0];
  if (envs.length === 0) throw new CliError(`service ${service.name} has no environment`, 'ServiceEnvironmentNotFound');
  throw new CliError(`You should choose an environment with --env: ${names(envs)}`, 'TooManySvcEnvs');
}

/** `--service` and `--env` of a command, resolved. */
export async function resolveTarget(api: ApiClient, values: ParsedArgs['values']): Promise<Target> {
  const service = await resolveService(api, values.service as string | undefined);
  const environment = await resolveEnvironment(api, service, values.env as string | undefined);
  return { service, environment };
}

/** `orders/Development`: how commands name a target to people. */
export function targetName({ service, environment }: Target): string {
  return `${service.name}/${environment.name}`;
}

function names(envs: ServiceEnvironment[]): string {
  return envs.length === 0 ? '(none)' : envs.map((e) => e.name).join(', ');
}
