import { Hono } from 'hono';
import type { RuntimeContext } from '../context.ts';
import { environmentOr404 } from './lookup.ts';
import type { ApiEnv } from './types.ts';

/**
 * `GET /v4/services/:sid/environments/:eid/versions` (flexd extension): every stored version,
 * oldest first, and which one serves — what `flexd rollback --to` can choose from.
 */
export function versionRoutes(ctx: RuntimeContext): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  app.get('/v4/services/:sid/environments/:eid/versions', async (c) => {
    const { env } = await environmentOr404(ctx, c.req.param('sid'), c.req.param('eid'));
    return c.json((await ctx.store.versions.list(env.id)).map((v) => ({
      id: v.id, version: v.version, size: v.size, hash: v.hash, sdkVersion: v.sdkVersion, createdAt: v.createdAt,
      active: v.id === env.activeVersionId,
    })));
  });
  return app;
}
