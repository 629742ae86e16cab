/**
 * The embedding API's calls (docs/embedding.md): what a test does to its service — deploy,
 * change variables, recycle, roll back, read versions, status and logs, watch a folder —
 * without an account or the management API. Each call checks its arguments first
 * (arguments.ts), resolves once its change serves, and rejects with a FlexdError carrying the
 * real code (job-failure.ts); after close() every call rejects with `RuntimeClosed`.
 */
import { isDeepStrictEqual } from 'node:util';
import { environmentStatus } from '../api/status.ts';
import type { RuntimeContext } from '../context.ts';
import type { FinishedJob } from '../deploy/jobs.ts';
import { FlexdError, isFlexdError } from '../errors.ts';
import { environmentChanges } from '../events/environment-changes.ts';
import type { DeployJob, EnvironmentStatus, LogLine, Runtime, VersionInfo } from '../public.ts';
import type { EnvironmentRow, JobRow } from '../store/index.ts';
import { checkMemoryBudget } from '../supervisor/memory-budget.ts';
import type { Pool } from '../supervisor/pool.ts';
import { checkDeploy, checkLogsQuery, checkSetVariables, checkStoredVersion, checkTarget, checkWatch, type Target } from './arguments.ts';
import { jobFailure, runtimeClosed } from './job-failure.ts';
import { watchFolder, type FolderWatch, type OpenWatches } from './watch.ts';

/** The API's log page limit, and rt.logs'. */
const MAX_LOG_LINES = 2000;
const DEFAULT_LOG_LINES = 100;

export type EmbeddingCalls = Pick<Runtime, 'deployDirectory' | 'setVariables' | 'recycle' | 'rollback' | 'versions' | 'status' | 'watch' | 'logs'>;

/** The calls of one runtime; `closed()` says whether close() has begun; `watches` are the folders it watches. */
export function embeddingCalls(ctx: RuntimeContext, closed: () => boolean, watches: OpenWatches): EmbeddingCalls {
  const { store, deployer } = ctx;

  /** Runs a call: refused once closed; an error from deeper down becomes a FlexdError. */
  const call = <T>(name: string, work: () => Promise<T>): Promise<T> => {
    if (closed()) return Promise.reject(runtimeClosed(name));
    return work().catch((err: unknown) => {
      if (closed()) throw runtimeClosed(name);
      if (isFlexdError(err)) throw err;
      throw new FlexdError('InternalError', `${name} failed: ${(err as Error)?.message ?? String(err)}`, { status: 500, cause: err });
    });
  };

  /** Waits for a job; its failure as the FlexdError of what failed. */
  const finished = async (job: JobRow, name: string): Promise<DeployJob> => {
    const done = await deployer.jobs.wait(job.id);
    if (done.status === 'COMPLETED') return jobView(done, await servingVersion(ctx, done.environmentId));
    if (closed()) throw runtimeClosed(name);
    throw jobFailure(done);
  };

  const watchOf = (environmentId: string) => [...watches].find((w) => w.environmentId === environmentId);

  return {
    deployDirectory: (dir, options) => call('deployDirectory', async () => {
      const o = checkDeploy(dir, options);
      // A runtime that cannot be had (unknown major, wrong platform, offline) is refused before anything starts.
      const runtime = o.runtime === undefined ? undefined : ctx.runtimes.canonical(o.runtime);
      if (runtime !== undefined) await ctx.runtimes.check(runtime);
      const env = await ensureEnvironment(ctx, o);
      const version = o.version === 'auto' ? undefined : o.version;
      const job = await deployer.deploy({
        serviceId: env.serviceId, environmentId: env.id, source: { kind: 'directory', dir: o.dir }, runtime,
        envVars: o.env, userEmail: null, version, versionOverride: version, autoVersion: o.version === 'auto',
      });
      return finished(job, 'deployDirectory');
    }),

    setVariables: (target, vars, options) => call('setVariables', async () => {
      const t = checkTarget(target, 'setVariables');
      const { vars: given, replace } = checkSetVariables(vars, options);
      const env = await environmentOf(ctx, t);
      const next = replace ? given : { ...env.envVars, ...given };
      if (isDeepStrictEqual(next, env.envVars)) return next;
      const updated = await store.services.updateEnvironment(env.id, { envVars: next });
      // the status page's recent events and the server log name the variables (never their values)
      const changes = environmentChanges(env, updated);
      if (changes.length > 0) ctx.events.emit({ type: 'environment-changed', environmentId: env.id, changes, by: null });
      const watched = watchOf(env.id);
      if (watched) await watched.refresh();
      else if (env.activeVersionId) await finished(await deployer.recycle(env.serviceId, env.id, null, 'Applying the changed variables'), 'setVariables');
      return next;
    }),

    recycle: (target) => call('recycle', async () => {
      const t = checkTarget(target, 'recycle');
      const watched = watchOf((await environmentOf(ctx, t)).id);
      if (watched) {
        // A watched folder serves no stored version: its replicas are started afresh from the folder.
        await watched.refresh();
        return watchedJob(watched, 'recycleService');
      }
      const env = await deployedEnvironmentOf(ctx, t);
      return finished(await deployer.recycle(env.serviceId, env.id, null), 'recycle');
    }),

    rollback: (target, version) => call('rollback', async () => {
      const t = checkTarget(target, 'rollback');
      const wanted = checkStoredVersion(version, 'rollback');
      const env = await deployedEnvironmentOf(ctx, t);
      if (!await store.versions.find(env.id, wanted)) {
        const stored = (await store.versions.list(env.id)).map((v) => v.version);
        throw new FlexdError('VersionNotFound', `Version ${wanted} was never deployed to this environment. Stored versions: ${stored.join(', ')}.`, { status: 404 });
      }
      return finished(await deployer.rollback(env.serviceId, env.id, wanted, null), 'rollback');
    }),

    versions: (target) => call('versions', async () => {
      const env = await environmentOf(ctx, checkTarget(target, 'versions'));
      return (await store.versions.list(env.id)).map((v): VersionInfo => ({
        version: v.version, active: v.id === env.activeVersionId, size: v.size, sdkVersion: v.sdkVersion, createdAt: v.createdAt,
      }));
    }),

    status: (target) => call('status', async () => {
      const env = await environmentOf(ctx, checkTarget(target, 'status'));
      return statusView(await environmentStatus(ctx, env), env, ctx.supervisor.pool(env.id));
    }),

    watch: (dir, options) => call('watch', async () => {
      const o = checkWatch(dir, options);
      const env = await watchedEnvironment(ctx, o);
      return watchFolder(ctx, env, o, watches, closed);
    }),

    logs: (query) => call('logs', async () => {
      const q = checkLogsQuery(query, DEFAULT_LOG_LINES, MAX_LOG_LINES);
      const env = await environmentOf(ctx, q);
      await ctx.logs.flush();
      return await store.logs.latest(env.id, q.limit) as LogLine[];
    }),
  };
}

/**
 * deployDirectory's (and watch's) convenience: creates the service and environment when they do
 * not exist yet; a given secret or set of variables is applied to an existing one.
 */
/** Per runtime, the last ensureEnvironment: they run one at a time (see below). */
const ensuring = new WeakMap<RuntimeContext, Promise<unknown>>();

/**
 * The target's environment, made (with its service) when missing. Calls run one at a time per
 * runtime: the store is asynchronous, so two concurrent deploys to a new environment would both
 * find it missing and the second would fail on the unique name instead of using the first's.
 */
export function ensureEnvironment(ctx: RuntimeContext, o: Target & { secret?: string; env?: Record<string, string> }): Promise<EnvironmentRow> {
  const previous = ensuring.get(ctx) ?? Promise.resolve();
  const run = previous.then(() => ensureEnvironmentNow(ctx, o), () => ensureEnvironmentNow(ctx, o));
  ensuring.set(ctx, run.catch(() => {}));
  return run;
}

async function ensureEnvironmentNow(ctx: RuntimeContext, o: Target & { secret?: string; env?: Record<string, string> }): Promise<EnvironmentRow> {
  const { services, accounts } = ctx.store;
  const found = await services.findService(o.service);
  const existing = found ? await services.findEnvironment(found.id, o.environment) : undefined;
  if (existing) {
    if (o.secret !== undefined && o.secret !== existing.secret) return services.updateEnvironment(existing.id, { secret: o.secret });
    return existing;
  }
  // A new environment holds up to maxReplicas × memoryLimitMb as one made through the API does:
  // refused past the machine's budget before anything (its service included) is stored.
  checkMemoryBudget(ctx.settings, await services.listEnvironments(), { settings: undefined });
  const svc = found ?? await services.createService((await accounts.defaultOrganization()).id, o.service);
  const env = await services.findEnvironment(svc.id, o.environment);
  // No secret: the data plane answers without X-Auth-Key (docs/embedding.md).
  if (!env) return services.createEnvironment(svc.id, { name: o.environment, secret: o.secret ?? '', envVars: o.env, runtime: ctx.runtimes.defaultName });
  if (o.secret !== undefined && o.secret !== env.secret) return services.updateEnvironment(env.id, { secret: o.secret });
  return env;
}

/**
 * The environment a watched folder serves in (rt.watch, flexd dev), made when missing; a runtime
 * given is checked (one that cannot be had is refused before anything is made) and kept as the
 * environment's, as a deploy keeps it.
 */
export async function watchedEnvironment(ctx: RuntimeContext, o: Target & { secret?: string; env?: Record<string, string>; runtime?: string }): Promise<EnvironmentRow> {
  const runtime = o.runtime === undefined ? undefined : ctx.runtimes.canonical(o.runtime);
  if (runtime !== undefined) await ctx.runtimes.check(runtime);
  const env = await ensureEnvironment(ctx, o);
  if (runtime === undefined || ctx.runtimes.nameFor(env.runtime) === runtime) return env;
  const updated = await ctx.store.services.updateEnvironment(env.id, { runtime });
  const changes = environmentChanges(env, updated);
  if (changes.length > 0) ctx.events.emit({ type: 'environment-changed', environmentId: env.id, changes, by: null });
  return updated;
}

async function environmentOf(ctx: RuntimeContext, t: Target): Promise<EnvironmentRow> {
  const svc = await ctx.store.services.findService(t.service);
  if (!svc) throw new FlexdError('ServiceNotFound', `No service "${t.service}".`, { status: 404 });
  const env = await ctx.store.services.findEnvironment(svc.id, t.environment);
  if (!env) throw new FlexdError('ServiceEnvironmentNotFound', `No environment "${t.environment}" of service "${t.service}".`, { status: 404 });
  return env;
}

async function deployedEnvironmentOf(ctx: RuntimeContext, t: Target): Promise<EnvironmentRow> {
  const env = await environmentOf(ctx, t);
  if (!env.activeVersionId) throw new FlexdError('NotDeployed', `Nothing has been deployed to ${t.service}/${t.environment} yet.`, { status: 409 });
  return env;
}

async function servingVersion(ctx: RuntimeContext, environmentId: string | null): Promise<string> {
  const env = environmentId === null ? undefined : await ctx.store.services.getEnvironment(environmentId);
  const version = env?.activeVersionId ? await ctx.store.versions.get(env.activeVersionId) : undefined;
  return version?.version ?? '';
}

/** What recycle answers for a watched folder: no job ran, the folder's replicas were started afresh. */
function watchedJob(watched: FolderWatch, type: DeployJob['type']): DeployJob {
  const now = new Date().toISOString();
  return {
    id: '', type, serviceId: watched.serviceId, environmentId: watched.environmentId, status: 'COMPLETED', version: watched.version ?? '',
    progress: 'Started fresh replicas of the watched folder', params: {}, userEmail: null, createdAt: now, updatedAt: now,
  };
}

function jobView(job: FinishedJob, version: string): DeployJob {
  return {
    id: job.id, type: job.type, serviceId: job.serviceId, environmentId: job.environmentId, status: job.status, version,
    progress: job.progress, params: job.params, userEmail: job.userEmail, createdAt: job.createdAt, updatedAt: job.updatedAt,
  };
}

/** The API's status, plus a watched folder's replicas (they serve no stored version: the API's view says NEW). */
function statusView(s: Record<string, unknown>, env: EnvironmentRow, pool: Pool | undefined): EnvironmentStatus {
  const deployment = s.deployment as { status: 'RUNNING' | 'ERROR' | 'COMPLETED'; version?: string } | undefined;
  const watched = s.status === 'NEW' && pool?.version !== undefined;
  return {
    status: watched ? 'ONLINE' : s.status as EnvironmentStatus['status'],
    version: (s.version as string | undefined) ?? pool?.version ?? null,
    deployment: deployment ? { status: deployment.status, version: deployment.version ?? null } : null,
    replicas: (pool?.describe() ?? []) as EnvironmentStatus['replicas'],
    reason: (s.reason as string | undefined) ?? null,
    variables: { ...env.envVars },
  };
}
