import { Hono } from 'hono';
import type { RuntimeContext } from '../context.ts';

/** The management API (SPEC §3). Placeholder until the control plane lands. */
export function createManagementApi(_ctx: RuntimeContext): Hono {
  const app = new Hono();
  app.notFound((c) => c.json({ code: 'NotFound', description: 'No such route.', debug: `${c.req.method} ${c.req.path}` }, 404));
  return app;
}
