import { Hono } from 'hono';
import type { RuntimeContext } from '../context.ts';
import type { ApiEnv } from './types.ts';

/**
 * `GET /v4/nodes` (viewer): every flexd node of the database — on SQLite, this one — as
 * `[{name, live, lastSeen, startedAt, flexdVersion, environments, replicas}]`. A node that stopped
 * heartbeating shows `live: false` once its last heartbeat is older than nodeLiveWindowMs.
 */
export function nodeRoutes(ctx: RuntimeContext): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  app.get('/v4/nodes', async (c) => {
    const nodes = await ctx.cluster.nodes();
    return c.json(nodes.map(({ serving: _serving, ...node }) => node));
  });
  return app;
}
