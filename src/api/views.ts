import type { OrganizationRow, Role } from '../store/accounts.ts';
import type { EnvironmentRow, ServiceRow } from '../store/index.ts';

/**
 * The wire shapes of the management API: what kinvey-cli reads (KINVEY-CLI.md §6), built from
 * store rows in one place so every route answers alike.
 */

export function organizationView(org: OrganizationRow) {
  return {
    id: org.id,
    name: org.name,
    // kinvey-cli sends ?organizationId= only when `security` is present (KINVEY-CLI.md §4.2, flex list).
    security: { requireApprovals: false, requireEmailVerification: false, requireTwoFactorAuth: false },
    restrictions: { defaultPlanLevel: 'flexd' },
  };
}

export function serviceView(svc: ServiceRow) {
  return {
    id: svc.id,
    name: svc.name,
    type: 'internal' as const,
    // `flex show` crashes without access.writers.apps or .organizations.
    access: { writers: { organizations: [svc.organizationId] } },
    ...(svc.description !== null ? { description: svc.description } : {}),
    createdAt: svc.createdAt,
  };
}

/** `defaultRuntime`: what an environment that never chose a runtime runs (src/runtimes, `--default-runtime`). */
export function environmentView(env: EnvironmentRow, defaultRuntime: string) {
  return {
    id: env.id,
    name: env.name,
    secret: env.secret,
    runtime: env.runtime ?? defaultRuntime,
    environmentVariables: env.envVars,
    /** flexd's own: this environment's overrides of the runtime's settings */
    settings: env.settings,
    ...(env.description !== null ? { description: env.description } : {}),
  };
}

/**
 * What a viewer sees of an environment: no shared secret (it would let them call the service
 * as Kinvey does) and the variables' names without their values (they often hold API keys).
 */
export function environmentViewFor(env: EnvironmentRow, role: Role, defaultRuntime: string) {
  const view = environmentView(env, defaultRuntime);
  if (role !== 'viewer') return view;
  const { secret: _secret, ...rest } = view;
  return { ...rest, environmentVariables: Object.fromEntries(Object.keys(env.envVars).map((k) => [k, REDACTED])) };
}

/** Stands in for a value a viewer may not read. */
export const REDACTED = '(hidden)';
