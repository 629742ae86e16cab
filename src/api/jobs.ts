import type { HttpBindings } from '@hono/node-server';
import { Hono, type Context } from 'hono';
import semver from 'semver';
import { z } from 'zod';
import type { RuntimeContext } from '../context.ts';
import type { DeployRequest } from '../deploy/pipeline.ts';
import { validateEnvVars } from '../env-vars.ts';
import { FlexdError } from '../errors.ts';
import type { JobRow } from '../store/index.ts';
import { parseWith, readJson } from './body.ts';
import { environmentOr404 } from './lookup.ts';
import { bodyStream, readUpload } from './multipart.ts';
import { checkRuntime } from './schemas.ts';
import type { Role } from '../store/accounts.ts';
import type { ApiEnv } from './types.ts';
import { REDACTED } from './views.ts';

const Target = { serviceId: z.string().min(1), serviceEnvironmentId: z.string().min(1) };

const DeployParams = z.object({
  ...Target,
  version: z.string().optional(),
  environmentVariables: z.unknown().optional(),
  runtime: z.string().nullable().optional(),
});

const JsonJob = z.discriminatedUnion('type', [
  z.object({ type: z.literal('recycleService'), params: z.object(Target) }),
  /** flexd's own: serve a stored version again (`flexd rollback --to VERSION`) */
  z.object({ type: z.literal('rollbackService'), params: z.object({ ...Target, version: z.string().min(1) }) }),
  z.object({ type: z.literal('deployService'), params: z.unknown().optional() }),
]);

/**
 * `POST /v4/jobs`: a deploy (multipart upload, as kinvey-cli sends it), a recycle or flexd's
 * rollback (JSON); answers `{"job": id}` once the job is queued. Everything that can be checked
 * before the build — the target, the version, the variables, the runtime — is checked before the
 * job is accepted, and for an upload before its archive is read.
 * `GET /v4/jobs/:id`: the job's state.
 */
export function jobRoutes(ctx: RuntimeContext): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();

  app.post('/v4/jobs', async (c) => {
    const contentType = c.req.header('content-type') ?? '';
    const job = /^multipart\/form-data/i.test(contentType) ? await acceptUpload(ctx, c, contentType) : await acceptJsonJob(ctx, c);
    return c.json({ job: job.id }, 201);
  });

  app.get('/v4/jobs/:id', async (c) => {
    const job = await ctx.store.jobs.get(c.req.param('id'));
    if (!job) throw new FlexdError('JobNotFound', 'The specified job could not be found.', { status: 404 });
    return c.json(jobView(job, c.get('user').role));
  });

  return app;
}

function jobView(job: JobRow, role: Role) {
  // A deploy's params may carry variables; a viewer sees their names only (views.ts).
  const vars = job.params.environmentVariables;
  const params = role === 'viewer' && vars && typeof vars === 'object'
    ? { ...job.params, environmentVariables: Object.fromEntries(Object.keys(vars).map((k) => [k, REDACTED])) }
    : job.params;
  return { jobId: job.id, type: job.type, status: job.status, progress: job.progress, params, createdAt: job.createdAt, updatedAt: job.updatedAt, node: job.node };
}

async function acceptUpload(ctx: RuntimeContext, c: Context<ApiEnv>, contentType: string): Promise<JobRow> {
  let checked: Omit<DeployRequest, 'source'> | undefined;
  const check = async (fields: Map<string, string>) => { checked = await checkDeploy(ctx, fields, c.get('user').email); };
  const incoming = (c.env as HttpBindings | undefined)?.incoming;
  const { fields, file } = await readUpload(bodyStream(c.req.raw, incoming), contentType, {
    maxFileBytes: ctx.settings.maxArchiveBytes,
    beforeFile: check,
  });
  if (!checked) await check(fields);
  if (!file || file.length === 0) {
    throw new FlexdError('MissingArchive', 'The upload has no archive: send the project as a tar in the part named "file".', { status: 400 });
  }
  // A runtime that cannot be had (unknown major, wrong platform, offline) is refused before a job starts.
  if (checked!.runtime) await ctx.runtimes.check(checked!.runtime);
  return ctx.deployer.deploy({ ...checked!, source: { kind: 'archive', archive: file } });
}

/** The checks a deploy passes before its upload is accepted (KINVEY-CLI.md §4.3, §5). */
async function checkDeploy(ctx: RuntimeContext, fields: Map<string, string>, userEmail: string): Promise<Omit<DeployRequest, 'source'>> {
  const type = fields.get('type');
  if (type !== 'deployService') {
    throw new FlexdError('InvalidJobType', `An upload is a "deployService" job, not ${type === undefined ? 'a form without "type"' : `"${type}"`}.`, { status: 400 });
  }
  const rawParams = fields.get('params');
  if (rawParams === undefined) throw new FlexdError('ValidationError', 'The upload has no "params" field.', { status: 400 });
  let json: unknown;
  try {
    json = JSON.parse(rawParams);
  } catch (err) {
    throw new FlexdError('BadRequest', 'The "params" field is not valid JSON.', { status: 400, debug: (err as Error).message });
  }
  const params = parseWith(DeployParams, json, 'The "params" field');
  const { svc, env } = await environmentOr404(ctx, params.serviceId, params.serviceEnvironmentId);
  if (params.version === undefined || params.version.trim() === '') {
    throw new FlexdError('MissingVersion', 'The deploy names no version. Add "version" (for example "1.0.0") to package.json and try again.', { status: 400 });
  }
  const version = semver.valid(params.version);
  if (version === null) {
    throw new FlexdError('InvalidVersion', `Version "${params.version}" is not a semver version such as 1.0.0. Fix "version" in package.json and try again.`, { status: 400 });
  }
  const newest = await ctx.store.versions.newest(env.id);
  if (newest !== null && semver.valid(newest) !== null && !semver.gt(version, newest)) {
    const description = semver.eq(version, newest)
      ? `Version ${version} of this service has already been deployed. Please bump the version in package.json and try again.`
      : `Version ${version} is lower than version ${newest}, which has already been deployed. Please bump the version in package.json and try again.`;
    throw new FlexdError('DeploymentVersionTooLow', description, { status: 409 });
  }
  return {
    serviceId: svc.id,
    environmentId: env.id,
    version,
    envVars: params.environmentVariables === undefined ? undefined : validateEnvVars(params.environmentVariables),
    runtime: params.runtime ? checkRuntime(ctx, params.runtime) : undefined,
    userEmail,
  };
}

async function acceptJsonJob(ctx: RuntimeContext, c: Context<ApiEnv>): Promise<JobRow> {
  const body = await readJson(c, JsonJob);
  const userEmail = c.get('user').email;
  if (body.type === 'deployService') {
    throw new FlexdError('UploadRequired', 'A deployService job is an upload: send multipart/form-data with "type", "params" and the project tar as "file".', { status: 400 });
  }
  const { svc, env } = await environmentOr404(ctx, body.params.serviceId, body.params.serviceEnvironmentId);
  if (!env.activeVersionId) {
    throw new FlexdError('NotDeployed', 'Nothing has been deployed to this service environment yet.', { status: 409 });
  }
  if (body.type === 'recycleService') return ctx.deployer.recycle(svc.id, env.id, userEmail);
  const version = semver.valid(body.params.version) ?? body.params.version;
  if (!await ctx.store.versions.find(env.id, version)) {
    const stored = (await ctx.store.versions.list(env.id)).map((v) => v.version);
    throw new FlexdError('VersionNotFound', `Version ${version} was never deployed to this environment. Stored versions: ${stored.join(', ')}.`, { status: 404 });
  }
  return ctx.deployer.rollback(svc.id, env.id, version, userEmail);
}
