import { Hono } from 'hono';
import { z } from 'zod';
import type { RuntimeContext } from '../context.ts';
import { FlexdError } from '../errors.ts';
import { readJson } from './body.ts';
import { serviceOr404 } from './lookup.ts';
import { EntityName } from './schemas.ts';
import type { ApiEnv } from './types.ts';
import { environmentViewFor, serviceView } from './views.ts';

const CreateService = z.object({
  name: EntityName,
  type: z.string().optional(),
  description: z.string().max(1024).nullable().optional(),
  access: z.object({
    writers: z.object({ organizations: z.array(z.string()).optional() }).optional(),
  }).optional(),
});

const UpdateService = z.object({
  name: EntityName.optional(),
  type: z.string().optional(),
  description: z.string().max(1024).nullable().optional(),
});

/** `/v4/services`: list (by organization), create, get, change (name, description), delete. */
export function serviceRoutes(ctx: RuntimeContext): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  const { services, accounts } = ctx.store;

  app.get('/v4/services', async (c) => {
    // kinvey-cli asks by organizationId (orgs with `security`) or appId; flexd has no apps, so an
    // appId matches nothing unless it is an organization's id.
    const owner = c.req.query('organizationId') ?? c.req.query('appId');
    const expand = c.req.query('expand') === 'environments';
    const list = await services.listServices(owner);
    return c.json(await Promise.all(list.map(async (svc) => ({
      ...serviceView(svc),
      ...(expand ? { environments: (await services.listEnvironments(svc.id)).map((env) => environmentViewFor(env, c.get('user').role, ctx.runtimes.defaultName)) } : {}),
    }))));
  });

  app.post('/v4/services', async (c) => {
    const body = await readJson(c, CreateService);
    if (body.type !== undefined && body.type !== 'internal') {
      throw new FlexdError('UnsupportedServiceType', `flexd runs internal Flex services only, not type "${body.type}".`, { status: 400 });
    }
    const orgId = body.access?.writers?.organizations?.[0] ?? (await accounts.defaultOrganization()).id;
    if (!await accounts.getOrganization(orgId)) {
      throw new FlexdError('OrganizationNotFound', 'The specified organization could not be found.', { status: 404, debug: `No organization "${orgId}".` });
    }
    if (await services.findService(body.name)) throw nameTaken(body.name);
    const made = await services.createService(orgId, body.name);
    return c.json(serviceView(body.description ? (await services.updateService(made.id, { description: body.description }))! : made), 201);
  });

  app.get('/v4/services/:sid', async (c) => c.json(serviceView(await serviceOr404(ctx, c.req.param('sid')))));

  // kinvey-cli's `service apply` sends {name, type, description?, access} as GET returned them.
  // The name and description change; the type cannot, and the owner stays (access is read-only here).
  app.put('/v4/services/:sid', async (c) => {
    const svc = await serviceOr404(ctx, c.req.param('sid'));
    const body = await readJson(c, UpdateService);
    if (body.type !== undefined && body.type !== 'internal') {
      throw new FlexdError('UnsupportedServiceType', `flexd runs internal Flex services only, not type "${body.type}".`, { status: 400 });
    }
    if (body.name !== undefined && body.name !== svc.name) {
      const other = await services.findService(body.name);
      if (other && other.id !== svc.id) throw nameTaken(body.name);
    }
    return c.json(serviceView((await services.updateService(svc.id, { name: body.name, description: body.description }))!));
  });

  app.delete('/v4/services/:sid', async (c) => {
    const svc = await serviceOr404(ctx, c.req.param('sid'));
    const envs = await services.listEnvironments(svc.id);
    await services.deleteService(svc.id);
    await Promise.all(envs.map((env) => retireEnvironment(ctx, env.id)));
    return c.body(null, 204);
  });

  return app;
}

/**
 * After an environment's rows are gone: stop its replicas and drop its logs. A job still running
 * for it may start a pool after this (it fails soon after, its rows being gone); the pool is
 * removed again once that job settles.
 */
export async function retireEnvironment(ctx: RuntimeContext, environmentId: string): Promise<void> {
  const running = await ctx.store.jobs.running(environmentId);
  if (running) void ctx.deployer.jobs.wait(running.id).then(() => ctx.supervisor.remove(environmentId));
  await ctx.supervisor.remove(environmentId);
  await ctx.logs.deleteEnvironment(environmentId);
  // The other nodes stop its replicas too.
  await ctx.cluster.announce(environmentId).catch((err: Error) => ctx.log.warn({ error: err.message }, 'could not announce a delete to the other nodes'));
}

const nameTaken = (name: string) =>
  new FlexdError('ServiceNameInUse', `A service named "${name}" already exists. Choose another name.`, { status: 409 });
