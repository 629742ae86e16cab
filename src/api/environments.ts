import { Hono } from 'hono';
import { checkMemoryBudget } from '../supervisor/memory-budget.ts';
import { randomBytes } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { z } from 'zod';
import type { RuntimeContext } from '../context.ts';
import { validateEnvVars } from '../env-vars.ts';
import { FlexdError } from '../errors.ts';
import { environmentChanges } from '../events/environment-changes.ts';
import type { EnvironmentRow } from '../store/index.ts';
import { readJson } from './body.ts';
import { environmentOr404, serviceOr404 } from './lookup.ts';
import { checkRuntime, EntityName, EnvironmentSettings, Secret } from './schemas.ts';
import { retireEnvironment } from './services.ts';
import type { ApiEnv } from './types.ts';
import { environmentView, environmentViewFor } from './views.ts';

/** A generated shared secret: 58 random bytes, 116 hex characters, as kinvey-cli generates one. */
const GENERATED_SECRET_BYTES = 58;

const CreateEnvironment = z.object({
  name: EntityName,
  secret: Secret.optional(),
  environmentVariables: z.unknown().optional(),
  runtime: z.string().nullable().optional(),
  description: z.string().nullable().optional(),
  settings: EnvironmentSettings.optional(),
});

/**
 * kinvey-cli's `flex update` sends the whole environment as GET returned it, minus `id`:
 * fields not listed here (read-only ones, flexd's own) are dropped, and an absent field keeps
 * its value.
 */
const UpdateEnvironment = z.object({
  name: EntityName.optional(),
  secret: Secret.optional(),
  environmentVariables: z.unknown().optional(),
  runtime: z.string().nullable().optional(),
  description: z.string().nullable().optional(),
  settings: EnvironmentSettings.optional(),
});

/** `/v4/services/:sid/environments[/:eid]`: list, create, get, replace, delete. */
export function environmentRoutes(ctx: RuntimeContext): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  const { services } = ctx.store;

  app.get('/v4/services/:sid/environments', async (c) => {
    const svc = await serviceOr404(ctx, c.req.param('sid'));
    return c.json((await services.listEnvironments(svc.id)).map((env) => environmentViewFor(env, c.get('user').role, ctx.runtimes.defaultName)));
  });

  app.post('/v4/services/:sid/environments', async (c) => {
    const svc = await serviceOr404(ctx, c.req.param('sid'));
    const body = await readJson(c, CreateEnvironment);
    const envVars = body.environmentVariables === undefined ? {} : validateEnvVars(body.environmentVariables);
    // A new environment runs the default runtime unless it names one; one that cannot be had is refused now.
    const runtime = body.runtime ? checkRuntime(ctx, body.runtime) : ctx.runtimes.defaultName;
    if (await services.findEnvironment(svc.id, body.name)) throw nameTaken(body.name);
    checkMemoryBudget(ctx.settings, await services.listEnvironments(), { settings: body.settings });
    if (body.runtime) await ctx.runtimes.check(runtime);
    const env = await services.createEnvironment(svc.id, {
      name: body.name, secret: body.secret ?? randomBytes(GENERATED_SECRET_BYTES).toString('hex'),
      envVars, runtime, description: body.description ?? null, settings: body.settings,
    });
    return c.json(environmentView(env, ctx.runtimes.defaultName), 201);
  });

  app.get('/v4/services/:sid/environments/:eid', async (c) => {
    const { env } = await environmentOr404(ctx, c.req.param('sid'), c.req.param('eid'));
    return c.json(environmentViewFor(env, c.get('user').role, ctx.runtimes.defaultName));
  });

  app.put('/v4/services/:sid/environments/:eid', async (c) => {
    const { svc, env } = await environmentOr404(ctx, c.req.param('sid'), c.req.param('eid'));
    const body = await readJson(c, UpdateEnvironment);
    // Everything is checked before anything is stored: a refused update changes nothing.
    const envVars = body.environmentVariables === undefined ? undefined : validateEnvVars(body.environmentVariables);
    const requested = body.runtime ? checkRuntime(ctx, body.runtime) : undefined;
    const runtime = requested !== undefined && requested !== ctx.runtimes.nameFor(env.runtime) ? requested : undefined;
    if (body.name !== undefined && body.name !== env.name) {
      const other = await services.findEnvironment(svc.id, body.name);
      if (other && other.id !== env.id) throw nameTaken(body.name);
    }
    if (body.settings !== undefined) checkMemoryBudget(ctx.settings, await services.listEnvironments(), { environmentId: env.id, settings: body.settings });
    // A runtime that cannot be had (unknown major, wrong platform, offline) is refused before anything changes.
    if (runtime !== undefined) await ctx.runtimes.check(runtime);
    // A new runtime of a serving environment is recorded by its job once the rebuilt version
    // serves on it (a failed rebuild leaves the old runtime serving and recorded).
    const deferRuntime = runtime !== undefined && env.activeVersionId !== null;
    const updated = await services.updateEnvironment(env.id, {
      name: body.name, secret: body.secret, envVars, description: body.description, settings: body.settings,
      runtime: deferRuntime ? undefined : runtime,
    });
    const changes = environmentChanges(env, updated);
    if (changes.length > 0) ctx.events.emit({ type: 'environment-changed', environmentId: env.id, changes, by: c.get('user').email });
    // The secret is checked at the edge on every request; what the replicas see needs a restart,
    // applied as one graceful swap. Before the first deploy there is nothing to restart.
    if ((replicasNeedRestart(env, updated) || deferRuntime) && updated.activeVersionId) {
      const job = await ctx.deployer.recycle(svc.id, env.id, c.get('user').email,
        deferRuntime ? `Moving to runtime ${runtime}` : 'Applying the changed environment', deferRuntime ? { runtime } : {});
      c.header('X-Flexd-Job', job.id);
    }
    return c.json({ ...environmentView(updated, ctx.runtimes.defaultName), ...(deferRuntime ? { runtime } : {}) });
  });

  app.delete('/v4/services/:sid/environments/:eid', async (c) => {
    const { env } = await environmentOr404(ctx, c.req.param('sid'), c.req.param('eid'));
    await services.deleteEnvironment(env.id);
    await retireEnvironment(ctx, env.id);
    return c.body(null, 204);
  });

  return app;
}

/** Variables, runtime, settings and name (NODE_ENV is preset to it) are what a replica is started with. */
function replicasNeedRestart(before: EnvironmentRow, after: EnvironmentRow): boolean {
  return !isDeepStrictEqual(before.envVars, after.envVars) || !isDeepStrictEqual(before.settings, after.settings)
    || before.runtime !== after.runtime || before.name !== after.name;
}

const nameTaken = (name: string) =>
  new FlexdError('ServiceEnvironmentNameInUse', `This service already has an environment named "${name}".`, { status: 409 });
