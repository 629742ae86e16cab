import type { MiddlewareHandler } from 'hono';
import { FlexdError } from '../errors.ts';
import { ROLES, type Role } from '../store/accounts.ts';
import type { ApiEnv } from './types.ts';

/**
 * Which role a management route needs, by class (docs/management-api.md, Roles):
 * - the caller's own account (`/v4/user…`): any role;
 * - accounts (`/v4/users…`): admin;
 * - every other read (GET): viewer;
 * - every other change (services, environments, variables, deploys, rollbacks, recycles): deployer.
 * One rule for the whole API, so a route added later is guarded by its method without a line of its own.
 */
export function requiredRole(method: string, path: string): Role {
  if (path === '/v4/user' || path.startsWith('/v4/user/')) return 'viewer';
  if (path === '/v4/users' || path.startsWith('/v4/users/')) return 'admin';
  if (method === 'GET' || method === 'HEAD') return 'viewer';
  return 'deployer';
}

/** True when `role` includes everything `needed` may do. A row without a role (an older reader's) counts as admin. */
export function hasRole(role: Role | undefined, needed: Role): boolean {
  return ROLES.indexOf(role ?? 'admin') >= ROLES.indexOf(needed);
}

/** After requireUser: 403 `InsufficientPermissions` when the session's account lacks the route's role. */
export const authorize: MiddlewareHandler<ApiEnv> = async (c, next) => {
  const needed = requiredRole(c.req.method, c.req.path);
  const { role } = c.get('user');
  if (!hasRole(role, needed)) {
    throw new FlexdError('InsufficientPermissions', `This needs the ${needed} role; your account is a ${role}.`, {
      status: 403, debug: `${c.req.method} ${c.req.path}`,
    });
  }
  await next();
};
