import type { RuntimeContext } from '../context.ts';
import type { EnvironmentRow, ServiceRow } from '../store/index.ts';
import { environmentNotFound, serviceNotFound } from './errors.ts';

/** The service addressed by `:sid` (its id, or its name: flexd's CLI accepts either) or 404 `ServiceNotFound`. */
export async function serviceOr404(ctx: RuntimeContext, sid: string): Promise<ServiceRow> {
  const svc = await ctx.store.services.findService(sid);
  if (!svc) throw serviceNotFound(sid);
  return svc;
}

/** The environment `:eid` (id or name) of the service `:sid`, or a 404 naming which is missing. */
export async function environmentOr404(ctx: RuntimeContext, sid: string, eid: string): Promise<{ svc: ServiceRow; env: EnvironmentRow }> {
  const svc = await serviceOr404(ctx, sid);
  const env = await ctx.store.services.findEnvironment(svc.id, eid);
  if (!env) throw environmentNotFound(eid);
  return { svc, env };
}
