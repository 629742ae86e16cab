import { Hono } from 'hono';
import type { RuntimeContext } from '../context.ts';
import { FlexdError } from '../errors.ts';
import type { ApiEnv } from './types.ts';
import { organizationView } from './views.ts';

/** `GET /v4/organizations[/:id]`: flexd has the one organization made on first start. */
export function organizationRoutes(ctx: RuntimeContext): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  app.get('/v4/organizations', async (c) => c.json((await ctx.store.accounts.listOrganizations()).map(organizationView)));
  app.get('/v4/organizations/:id', async (c) => {
    const org = await ctx.store.accounts.getOrganization(c.req.param('id'));
    if (!org) throw new FlexdError('OrganizationNotFound', 'The specified organization could not be found.', { status: 404 });
    return c.json(organizationView(org));
  });
  return app;
}
