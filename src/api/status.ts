import { Hono } from 'hono';
import { visibleControls } from '../logs/visible-text.ts';
import type { RuntimeContext } from '../context.ts';
import type { EnvironmentRow, JobRow } from '../store/index.ts';
import { environmentOr404 } from './lookup.ts';
import type { ApiEnv } from './types.ts';

/** `GET /v4/services/:sid/environments/:eid/status` (SPEC §5, KINVEY-CLI.md §6). */
export function statusRoutes(ctx: RuntimeContext): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  app.get('/v4/services/:sid/environments/:eid/status', async (c) => {
    const { env } = await environmentOr404(ctx, c.req.param('sid'), c.req.param('eid'));
    return c.json(await environmentStatus(ctx, env));
  });
  return app;
}

/**
 * An environment's status as kinvey-cli reads it:
 * - `NEW`: never deployed (no version, no job);
 * - `UPDATING`: a deploy, recycle or rollback is queued or running;
 * - `ERROR`: cannot serve — suspended after crashing, or no version could start (`reason` says why);
 * - `ONLINE`: serving, also while idled to zero replicas.
 *
 * `deployment` is the latest job's outcome: RUNNING (its version is the one being deployed, so
 * kinvey-cli's own version check compares against it), ERROR (the previous version, if any, keeps
 * serving; `reason` says why the job failed), or COMPLETED. A failed version is never reported as
 * `deployment.version`: it was not stored, and the user may deploy it again once fixed.
 */
export async function environmentStatus(ctx: RuntimeContext, env: EnvironmentRow): Promise<Record<string, unknown>> {
  const { store, supervisor } = ctx;
  const running = await store.jobs.running(env.id);
  const latest = running ?? await store.jobs.latest(env.id);
  const active = env.activeVersionId ? await store.versions.get(env.activeVersionId) : undefined;
  if (!active && !latest && !env.lastError) return { status: 'NEW' };

  const pool = supervisor.pool(env.id);
  const runtime = ctx.runtimes.nameFor(env.runtime);
  const suspended = env.suspendedReason ?? pool?.suspension ?? null;
  let status: 'UPDATING' | 'ERROR' | 'ONLINE' = 'ONLINE';
  let reason: string | undefined;
  if (running) status = 'UPDATING';
  else if (suspended) [status, reason] = ['ERROR', `Suspended: ${suspended}. Deploy or recycle to restart it.`];
  else if (!active) [status, reason] = ['ERROR', env.lastError ?? 'No version is running.'];
  else if (!pool) [status, reason] = ['ERROR', env.lastError ?? `Version ${active.version} is not running.`];

  let deployment: { status: 'RUNNING' | 'ERROR' | 'COMPLETED'; version?: string; runtime: string };
  if (running) {
    const announced = typeof running.params.version === 'string' ? running.params.version : undefined;
    const nextRuntime = typeof running.params.runtime === 'string' ? running.params.runtime : runtime;
    deployment = { status: 'RUNNING', version: announced ?? active?.version, runtime: nextRuntime };
  } else if (env.lastError) {
    deployment = { status: 'ERROR', version: active?.version, runtime };
    reason ??= env.lastError;
  } else {
    deployment = { status: 'COMPLETED', version: active?.version, runtime };
  }

  // Several nodes: ONLINE at a version only when every live node serves it, with the latest change
  // (variables, a recycle, a rollback) applied.
  const nodes = ctx.store.backend === 'postgres' ? await nodesServing(ctx, env.id) : undefined;
  if (status === 'ONLINE' && active && nodes?.some((n) => n.version !== active.version || n.status === 'UPDATING')) status = 'UPDATING';

  return {
    status,
    version: active?.version,
    runtime,
    // Until a deploy completes, the latest request (running or failed) is the one to show.
    requestedAt: env.requestedAt ?? latest?.createdAt ?? null,
    deployUserInfo: { email: env.deployerEmail ?? latest?.userEmail ?? null },
    deployment,
    // flexd's own: how the serving version came to serve (kinvey-cli shows requestedAt and the deployer only)
    ...(active ? { origin: versionOrigin(await ctx.store.jobs.lastActivation(env.id)) } : {}),
    replicas: pool?.describe() ?? [],
    /** flexd's own: the Node the serving replicas run on */
    ...(pool?.node ? { node: { version: `v${pool.node.version}`, major: pool.node.major, source: pool.node.source } } : {}),
    // A failed start's output, a crash's message: the service's words, shown and never obeyed.
    ...(reason !== undefined ? { reason: visibleControls(reason) } : {}),
    ...(nodes ? { nodes } : {}),
  };
}

/**
 * Each live node's version, replicas and status for the environment (this node's own from memory,
 * the others' from their last heartbeat). A node still running an older generation than the one
 * recorded is UPDATING: it has not applied the latest change yet.
 */
async function nodesServing(ctx: RuntimeContext, environmentId: string): Promise<{ name: string; version: string | null; replicas: number; status: string }[]> {
  const [nodes, generations] = await Promise.all([
    ctx.cluster.nodes().catch(() => []),
    ctx.cluster.generations?.(environmentId).catch(() => undefined),
  ]);
  const behind = (generation: number | undefined) => generations?.recorded !== undefined && generation !== undefined && generation < generations.recorded;
  return nodes.filter((n) => n.live || n.name === ctx.cluster.nodeName).map((n) => {
    if (n.name === ctx.cluster.nodeName) {
      const pool = ctx.supervisor.pool(environmentId);
      const status = !pool ? 'NOT RUNNING' : pool.suspension !== null ? 'SUSPENDED' : behind(generations?.self) ? 'UPDATING' : 'ONLINE';
      return { name: n.name, version: pool?.version ?? null, replicas: pool?.replicaCount ?? 0, status };
    }
    const s = n.serving.find((x) => x.environmentId === environmentId);
    const status = s && s.status === 'ONLINE' && behind(s.generation) ? 'UPDATING' : s?.status ?? 'NOT RUNNING';
    return { name: n.name, version: s?.version ?? null, replicas: s?.replicas ?? 0, status };
  });
}

/** The job that put the active version in place, as `{kind: 'deploy'|'rollback', by, at, from?}`; null when unknown (restored from an older flexd). */
export function versionOrigin(job: JobRow | undefined): { kind: 'deploy' | 'rollback'; by: string | null; at: string; from?: string; jobId: string } | null {
  if (!job) return null;
  const from = typeof job.params.from === 'string' ? job.params.from : undefined;
  return { kind: job.type === 'rollbackService' ? 'rollback' : 'deploy', by: job.userEmail, at: job.updatedAt, jobId: job.id, ...(from ? { from } : {}) };
}
