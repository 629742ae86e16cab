import { Hono } from 'hono';
import type { RuntimeContext } from '../context.ts';
import type { NodeRuntime } from '../runtimes/catalog.ts';
import type { ApiEnv } from './types.ts';

interface RuntimeUse { serviceId: string; service: string; environmentId: string; environment: string; runtime: string }

/**
 * `GET /v4/runtimes` (flexd extension, `flexd runtimes`): the Nodes flexd has — the host's own,
 * the releases installed from the npm registry, the executables configured at serve — with
 * their exact versions and the environments whose replicas run on each now.
 */
export function runtimeRoutes(ctx: RuntimeContext): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  app.get('/v4/runtimes', async (c) => {
    const { runtimes, store, supervisor } = ctx;
    const users = new Map<string, RuntimeUse[]>();
    for (const svc of await store.services.listServices()) {
      for (const env of await store.services.listEnvironments(svc.id)) {
        const node: NodeRuntime | undefined = supervisor.pool(env.id)?.node;
        if (!node) continue;
        const list = users.get(node.nodePath) ?? [];
        list.push({ serviceId: svc.id, service: svc.name, environmentId: env.id, environment: env.name, runtime: runtimes.nameFor(env.runtime) });
        users.set(node.nodePath, list);
      }
    }
    const host = runtimes.host();
    const rows = [
      { major: host.major, version: host.version, source: 'host', path: host.nodePath },
      ...runtimes.installed().map((r) => ({ major: r.major, version: r.version, source: 'registry', path: r.nodePath })),
      ...Object.entries(runtimes.configured).map(([name, path]) => ({ name, path, source: 'configured' })),
    ];
    return c.json({
      defaultRuntime: runtimes.defaultName,
      runtimes: rows.map((r) => ({ ...r, usedBy: users.get(r.path) ?? [] })),
    });
  });
  return app;
}
