import type { OrganizationRow } from '../store/accounts.ts';
import type { EnvironmentRow, ServiceRow } from '../store/index.ts';

/**
 * The wire shapes of the management API: what kinvey-cli reads (KINVEY-CLI.md §6), built from
 * store rows in one place so every route answers alike.
 */

/**
 * What an environment that never chose a runtime reports. Every `flex-runtime-node*` runs on the
 * host's Node; node12 is the newest name kinvey-cli can print.
 */
export const DEFAULT_RUNTIME = 'flex-runtime-node12';

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
    createdAt: svc.createdAt,
  };
}

export function environmentView(env: EnvironmentRow) {
  return {
    id: env.id,
    name: env.name,
    secret: env.secret,
    runtime: env.runtime ?? DEFAULT_RUNTIME,
    environmentVariables: env.envVars,
    /** flexd's own: this environment's overrides of the runtime's settings */
    settings: env.settings,
    ...(env.description !== null ? { description: env.description } : {}),
  };
}
