import { chmodSync, cpSync, lstatSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import type { Settings } from '../config.ts';
import { FlexdError } from '../errors.ts';
import type { EventBus } from '../events/bus.ts';
import { silentLogger, type Logger } from '../logger.ts';
import type { NodeRuntime, RuntimeCatalog } from '../runtimes/catalog.ts';
import { newId } from '../store/ids.ts';
import { isLeaseLost } from '../store/fence.ts';
import type { EnvironmentRow, Fence, JobRow, JobStatus, Store, VersionRow } from '../store/index.ts';
import type { Supervisor } from '../supervisor/index.ts';
import { NOT_PROJECT_FILES, unpackArtifact } from './artifact.ts';
import { prepareBuildBox, releaseBuildBox, sweepBuildLeftovers, type BuildBox } from './box.ts';
import { buildProject } from './build.ts';
import { describeFailure, storageFull } from './job-errors.ts';
import { JobRunner, type JobRun, type JobWork } from './jobs.ts';
import { UNUSED_DEPENDENCY_TREE_KEEP_MS } from './limits.ts';
import { checkVersionIncreases, readProject } from './project.ts';
import { unpackArchive } from './unpack.ts';
import { builtForMajor, builtMajorOf, nextVersion, setPackageVersion } from './version-names.ts';

export type DeploySource = { kind: 'directory'; dir: string } | { kind: 'archive'; archive: Buffer };

export interface DeployRequest {
  serviceId: string;
  environmentId: string;
  source: DeploySource;
  /** the full set of variables to run with (kinvey-cli merges --set-vars before it sends); absent = keep */
  envVars?: Record<string, string>;
  runtime?: string;
  /** the version the uploader announced (kinvey-cli's params.version); recorded in the job's params for status views */
  version?: string;
  /** deployDirectory's `version`: store and serve the project as this version instead of its package.json's (semver, checked by the caller) */
  versionOverride?: string;
  /** deployDirectory's `version: 'auto'`: package.json's version when it is above every deployed one, else the next patch above the newest */
  autoVersion?: boolean;
  userEmail: string | null;
}

/**
 * The deploy and recycle jobs: unpack → check → install (or reuse a stored tree) → pack → store the artifact →
 * start the new replicas → swap. Any failure leaves the job in ERROR with the reason and the
 * previous version serving; nothing half-stored survives a failed job.
 */
export class Deployer {
  readonly jobs: JobRunner;
  private readonly box: BuildBox;
  /** whether each build gets a pid namespace here (docs/security.md, "A build") */
  buildIsolation(): BuildBox['isolation'] {
    return this.box.isolation;
  }

  /** Builds run one at a time (oneBuildAtATime): they share the build account, its home and npm's cache. */
  private building: Promise<unknown> = Promise.resolve();

  constructor(private readonly deps: {
    store: Store; supervisor: Supervisor; settings: Settings; dataDir: string; runtimes: RuntimeCatalog; events?: EventBus; log?: Logger;
    announce?: (environmentId: string) => Promise<void>; nodeName?: string;
    /** after a run lost its job to another node: serve what the database says again (src/cluster) */
    follow?: (environmentId: string) => void;
  }) {
    this.jobs = new JobRunner(deps.store, deps.log ?? silentLogger, {
      leaseMs: deps.settings.jobLeaseMs, pollMs: deps.settings.jobPollMs, maxAttempts: deps.settings.jobMaxAttempts,
      shared: deps.store.backend === 'postgres', retake: (job) => this.retake(job),
    });
    this.box = prepareBuildBox(deps.dataDir, deps.settings);
    sweepBuildLeftovers(this.box); // the runtime holds the range by now
    if (!this.box.account) deps.log?.warn({}, 'flexd is not running as root: builds (npm and install scripts) run as flexd\'s own user, and their scripts can write npm\'s shared cache (docs/security.md)');
    void this.box.isolation.then((isolation) => { if (isolation.missing) deps.log?.warn({}, isolation.missing); });
  }

  /**
   * Called when flexd stops, before it gives its uid range back: ends every build process still
   * running (an npm install the stop's grace did not wait for) and starts and kills nothing after.
   */
  releaseBuilds(): void {
    releaseBuildBox(this.box);
  }

  /**
   * Queues a deploy. The upload (or, from a folder, the folder's path) and the request are stored
   * with the job, so a node that retakes it after this one died starts it again from the start.
   */
  async deploy(req: DeployRequest): Promise<JobRow> {
    const request: DeployRetake = {
      envVars: req.envVars, runtime: req.runtime, version: req.version, versionOverride: req.versionOverride, autoVersion: req.autoVersion,
      ...(req.source.kind === 'directory' ? { sourceDir: req.source.dir } : {}),
    };
    const job = await this.deps.store.jobs.create({ type: 'deployService', serviceId: req.serviceId, environmentId: req.environmentId,
      params: { serviceId: req.serviceId, serviceEnvironmentId: req.environmentId, version: req.version, runtime: req.runtime, environmentVariables: req.envVars }, userEmail: req.userEmail,
      request: request as Record<string, unknown>, upload: req.source.kind === 'archive' ? req.source.archive : undefined, leaseMs: this.deps.settings.jobLeaseMs });
    this.jobs.enqueue(job, (progress, run) => this.runDeploy(job, req, progress, run));
    return job;
  }

  /**
   * A job another node claimed and did not finish (it died, paused or stopped), to run again here
   * from the start: a deploy from its stored upload, a recycle or rollback from its request.
   */
  private retake(job: JobRow): JobWork {
    const r = job.request;
    if (job.type === 'recycleService') return this.recycleWork(job, typeof r.why === 'string' ? r.why : 'Recycle', { runtime: typeof r.runtime === 'string' ? r.runtime : undefined });
    if (job.type === 'rollbackService') return this.rollbackWork(job, String(r.version ?? job.params.version));
    return async (progress, run) => {
      // The earlier attempt got as far as activating its version (the claim took back any it stored but never served).
      const activated = await this.deps.store.versions.ofJob(job.id);
      if (activated) return `Deployed version ${activated.version}`;
      const d = r as DeployRetake;
      const archive = await this.deps.store.jobs.upload(job.id);
      const source: DeploySource | undefined = archive ? { kind: 'archive', archive } : d.sourceDir ? { kind: 'directory', dir: d.sourceDir } : undefined;
      if (!source) throw new FlexdError('JobUploadMissing', 'The job\'s upload is no longer stored: deploy again.', { status: 409 });
      return this.runDeploy(job, {
        serviceId: job.serviceId!, environmentId: job.environmentId!, source, envVars: d.envVars, runtime: d.runtime ?? undefined, version: d.version,
        versionOverride: d.versionOverride, autoVersion: d.autoVersion, userEmail: job.userEmail,
      }, progress, run);
    };
  }

  /**
   * Restarts every replica of the environment as one swap (recycle, or applying changed
   * variables). The runtime's newest release is picked up; with `runtime` the environment moves
   * to that runtime, its version rebuilt for the new major, and the change is recorded once it serves.
   */
  async recycle(serviceId: string, environmentId: string, userEmail: string | null, why = 'Recycle', changes: { runtime?: string } = {}): Promise<JobRow> {
    const job = await this.deps.store.jobs.create({ type: 'recycleService', serviceId, environmentId,
      params: { serviceId, serviceEnvironmentId: environmentId, ...(changes.runtime ? { runtime: changes.runtime } : {}) }, userEmail,
      request: { why, ...(changes.runtime ? { runtime: changes.runtime } : {}) }, leaseMs: this.deps.settings.jobLeaseMs });
    this.jobs.enqueue(job, this.recycleWork(job, why, changes));
    return job;
  }

  private recycleWork(job: JobRow, why: string, changes: { runtime?: string }): JobWork {
    const environmentId = job.environmentId!;
    return async (progress, run) => {
      const { fence } = run;
      const env = await this.environment(environmentId);
      if (!env.activeVersionId) {
        if (changes.runtime) await this.deps.store.services.updateEnvironment(env.id, { runtime: changes.runtime }, fence);
        return `${why}: nothing deployed yet; the change applies at the next deploy`;
      }
      const version = (await this.deps.store.versions.get(env.activeVersionId))!;
      const node = await this.runtimeFor(changes.runtime ?? env.runtime, (line) => progress('DEPLOYING', line));
      progress('DEPLOYING', `${why}: starting new replicas of version ${version.version} on Node ${node.version}`);
      await this.activate(env, version, node, undefined, { runtime: changes.runtime }, run, progress);
      this.deps.events?.emit({ type: 'recycled', environmentId, jobId: job.id, version: version.version, why, by: job.userEmail });
      return `${why}: version ${version.version} serving on fresh replicas (Node ${node.version})`;
    };
  }

  /** Serves a version stored by an earlier deploy again, as one swap; nothing is rebuilt. */
  async rollback(serviceId: string, environmentId: string, version: string, userEmail: string | null): Promise<JobRow> {
    // the version it replaces, for the status page's "rolled back from" (the job's own record)
    const current = (await this.deps.store.services.getEnvironment(environmentId))?.activeVersionId;
    const from = current ? (await this.deps.store.versions.get(current))?.version : undefined;
    const job = await this.deps.store.jobs.create({ type: 'rollbackService', serviceId, environmentId,
      params: { serviceId, serviceEnvironmentId: environmentId, version, ...(from !== undefined ? { from } : {}) }, userEmail,
      request: { version }, leaseMs: this.deps.settings.jobLeaseMs });
    this.jobs.enqueue(job, this.rollbackWork(job, version));
    return job;
  }

  private rollbackWork(job: JobRow, version: string): JobWork {
    const environmentId = job.environmentId!;
    const userEmail = job.userEmail;
    return async (progress, run) => {
      try {
        const env = await this.environment(environmentId);
        const stored = await this.deps.store.versions.find(environmentId, version);
        if (!stored) throw new FlexdError('VersionNotFound', `Version ${version} is not stored for this environment.`, { status: 404 });
        const replaced = env.activeVersionId ? (await this.deps.store.versions.get(env.activeVersionId))?.version : undefined;
        const node = await this.runtimeFor(env.runtime, (line) => progress('DEPLOYING', line));
        progress('DEPLOYING', `Rollback: starting replicas of version ${version}`);
        await this.activate(env, stored, node, userEmail, {}, run, progress);
        this.deps.events?.emit({ type: 'rollback', environmentId, jobId: job.id, ...(replaced !== undefined ? { from: replaced } : {}), to: version, by: userEmail });
        return `Rolled back to version ${version}`;
      } catch (err) {
        this.deps.events?.emit({ type: 'rollback-failed', environmentId, jobId: job.id, to: version, reason: describeFailure(err).split('\n')[0]!, by: userEmail });
        throw err;
      }
    };
  }

  /** On start: bring every environment back on its last active version. */
  async restoreAll(): Promise<void> {
    // On PostgreSQL the other nodes' jobs run on, and this node's own, cut short when it died, are
    // given up for any node (this one included) to retake from their stored uploads.
    if (this.deps.store.backend === 'postgres') {
      const released = await this.deps.store.jobs.releaseOf(this.deps.nodeName ?? '');
      if (released > 0) {
        this.deps.log?.warn({ jobs: released }, 'jobs this node was running when it stopped are given up to be retaken');
        await this.deps.store.jobs.hint().catch(() => {});
      }
    }
    const failed = this.deps.store.backend === 'postgres' ? { jobs: 0, versions: 0 } : await this.deps.store.jobs.failUnfinished('flexd stopped before this job finished; deploy again');
    if (failed.jobs > 0) {
      this.deps.log?.warn({ jobs: failed.jobs, versionsRemoved: failed.versions }, 'unfinished jobs from the last run marked ERROR; versions they stored but never served removed');
    }
    // No job runs yet: whatever is in the builds folder is the scratch space of a job flexd was killed in.
    for (const name of readdirSync(this.box.buildsDir)) rmSync(join(this.box.buildsDir, name), { recursive: true, force: true });
    rmSync(join(this.deps.dataDir, 'builds'), { recursive: true, force: true }); // before flexd built in a box
    const envs = (await this.deps.store.services.listEnvironments()).filter((e) => e.activeVersionId);
    const queue = [...envs];
    const worker = async () => {
      for (let env = queue.shift(); env; env = queue.shift()) {
        const version = await this.deps.store.versions.get(env.activeVersionId!);
        if (!version) continue;
        try {
          await this.serveStored(env, version);
        } catch (err) {
          await this.deps.store.services.updateEnvironment(env.id, { lastError: `could not restart version ${version.version}: ${describeFailure(err)}` });
        }
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
  }

  /**
   * Serves a stored version as it is recorded (at start, and on a node following another node's
   * change, src/cluster): on the environment's runtime, the installed release (flexd's start waits
   * on no registry; a missing one is installed), rebuilt only if it was built for another major.
   */
  async serveStored(env: EnvironmentRow, version: VersionRow): Promise<void> {
    const node = await this.deps.runtimes.acquire(this.deps.runtimes.nameFor(env.runtime), { refresh: false });
    await this.deps.supervisor.activate(env, await this.builtFor(version, node), node);
  }

  private async runDeploy(job: JobRow, req: DeployRequest, progress: (s: 'BUILDING' | 'DEPLOYING', text: string) => void, run: JobRun): Promise<string> {
    const { fence, signal } = run;
    const { store } = this.deps;
    const buildDir = join(this.box.buildsDir, job.id);
    let version: VersionRow | undefined;
    const started = Date.now();
    let target = req.version;
    this.deps.events?.emit({ type: 'deploy-started', environmentId: req.environmentId, jobId: job.id, version: target });
    try {
      progress('BUILDING', 'Building');
      const node = await this.runtimeFor(req.runtime ?? (await this.environment(req.environmentId)).runtime, (line) => progress('BUILDING', line));
      mkdirSync(buildDir, { recursive: true, mode: 0o711 });
      const uploaded = join(buildDir, 'project');
      let projectDir: string;
      if (req.source.kind === 'archive') {
        const unpacked = await unpackArchive(req.source.archive, uploaded, {
          maxArchiveBytes: this.deps.settings.maxArchiveBytes, maxUnpackedBytes: this.deps.settings.maxUnpackedBytes, maxEntries: this.deps.settings.maxArchiveEntries,
        });
        progress('BUILDING', `Unpacked ${unpacked.entries} entries (${unpacked.bytes} bytes)`);
        projectDir = unpacked.root;
      } else {
        // Never build in the user's folder: copy it aside, readable by the build account.
        const source = req.source.dir;
        await readProject(source); // its errors name what is wrong before anything is copied
        cpSync(source, uploaded, {
          recursive: true, verbatimSymlinks: true, filter: (src) => !NOT_PROJECT_FILES.includes(relative(source, src).split(sep)[0]),
        });
        readableByAll(uploaded);
        projectDir = uploaded;
      }
      const read = await readProject(projectDir);
      const newest = await store.versions.newest(req.environmentId);
      const project = { ...read, version: req.versionOverride ?? (req.autoVersion ? nextVersion(read.version, newest) : read.version) };
      target = project.version;
      checkVersionIncreases(project.version, newest);
      // Deployed as another version: the service's own require('./package.json').version says so too (the copy's, never the user's file).
      if (project.version !== read.version) await setPackageVersion(projectDir, project.version);
      const built = await this.oneBuildAtATime(() => buildProject({
        projectDir, resolveFrom: req.source.kind === 'directory' ? req.source.dir : undefined, buildDir, box: this.box, environmentId: req.environmentId, store,
        settings: this.deps.settings, node, progress: (line) => progress('BUILDING', line), signal,
      }));
      version = await store.versions.add(req.environmentId, {
        version: project.version, project: built.project, dependenciesKey: built.dependenciesKey, size: built.size, hash: built.hash,
        sdkVersion: built.sdkVersion, runtime: builtForMajor(node.major), jobId: job.id, nativeAddons: built.nativeAddons,
      }, fence);
      const size = built.size;
      progress('DEPLOYING', `Built version ${project.version} (${size} bytes); starting replicas`);
      let env = await this.environment(req.environmentId);
      if (req.envVars || req.runtime) env = { ...env, envVars: req.envVars ?? env.envVars, runtime: req.runtime ?? env.runtime };
      await this.activate(env, version, node, req.userEmail, { envVars: req.envVars, runtime: req.runtime }, run);
      await pruneTrees(store);
      this.deps.events?.emit({ type: 'deploy-finished', environmentId: req.environmentId, jobId: job.id, version: project.version, durationMs: Date.now() - started, by: req.userEmail });
      return `Deployed version ${project.version}`;
    } catch (thrown) {
      // Another node retook the job, or this node gave it up (a clean stop): what this run stored
      // and failed is the other node's to decide, and its build was stopped as soon as the job left.
      if (isLeaseLost(thrown) || signal.aborted) throw thrown;
      const err = storageFull(thrown, version ? 'the deploy was not recorded' : 'the version was not stored');
      try {
        if (version) await store.versions.remove(version.id, fence);
      } catch { /* the database refuses even this: the reason below matters more */ }
      await this.recordError(req.environmentId, err, fence);
      this.deps.events?.emit({ type: 'deploy-failed', environmentId: req.environmentId, jobId: job.id, version: target, durationMs: Date.now() - started, reason: describeFailure(err).split('\n')[0]! });
      // The job's text is the description; its waiters in this process also get the error itself (its code).
      throw new Error(describeFailure(err), { cause: err });
    } finally {
      rmSync(buildDir, { recursive: true, force: true });
    }
  }

  /**
   * Swap to `version` on `node` (rebuilt first when it was built for another major) and, only
   * once it serves, record it (and any new variables and runtime) as active.
   */
  private async activate(env: EnvironmentRow, version: VersionRow, node: NodeRuntime, deployer: string | null | undefined,
    changes: { envVars?: Record<string, string>; runtime?: string }, run: JobRun, progress?: (status: JobStatus, text: string) => void): Promise<void> {
    const { fence } = run;
    try {
      const built = await this.builtFor(version, node, run, progress);
      await this.deps.supervisor.activate(env, built, node);
    } catch (err) {
      if (!isLeaseLost(err) && !run.signal.aborted) await this.recordError(env.id, err, fence);
      throw err;
    }
    try {
      await this.deps.store.services.updateEnvironment(env.id, {
        activeVersionId: version.id, requestedVersion: version.version, requestedAt: new Date().toISOString(),
        ...(deployer !== undefined ? { deployerEmail: deployer } : {}),
        envVars: changes.envVars, runtime: changes.runtime, lastError: null, suspendedReason: null,
      }, fence);
    } catch (err) {
      // Another node retook the job while this one swapped: this node serves what the database says again.
      if (isLeaseLost(err)) this.deps.follow?.(env.id);
      throw err;
    }
    // Every other node swaps to what this one now runs (src/cluster); a database that is away
    // meanwhile loses nothing: the nodes re-read everything when they hear from it again.
    await this.deps.announce?.(env.id).catch((err: Error) => this.deps.log?.warn({ error: err.message }, 'could not announce a change to the other nodes'));
  }

  /** The Node an environment's runtime runs on, its newest release picked up (installed on first use). */
  private runtimeFor(runtime: string | null | undefined, say: (line: string) => void): Promise<NodeRuntime> {
    return this.deps.runtimes.acquire(this.deps.runtimes.nameFor(runtime), { refresh: true, progress: say });
  }

  /**
   * `version` as built for `node`'s major: itself, or rebuilt from its stored project files
   * (npm runs again under that Node, so native addons match its ABI) and stored in its place.
   */
  private async builtFor(version: VersionRow, node: NodeRuntime, run?: JobRun, progress?: (status: JobStatus, text: string) => void): Promise<VersionRow> {
    const was = builtMajorOf(version);
    if (was === node.major) return version;
    const say = (line: string) => progress?.('BUILDING', line);
    say(`Version ${version.version} was built for Node ${was}; rebuilding it for Node ${node.major}`);
    const buildDir = join(this.box.buildsDir, `rebuild-${newId()}`);
    try {
      mkdirSync(buildDir, { recursive: true, mode: 0o711 });
      const projectDir = join(buildDir, 'project');
      await unpackArtifact({ project: await this.deps.store.versions.projectPart(version.id), dependencies: null }, projectDir);
      readableByAll(projectDir);
      const built = await this.oneBuildAtATime(() => buildProject({
        projectDir, buildDir, box: this.box, environmentId: version.environmentId, store: this.deps.store, settings: this.deps.settings, node, progress: say, signal: run?.signal,
      }));
      const rebuilt = await this.deps.store.versions.rebuilt(version.id, {
        project: built.project, dependenciesKey: built.dependenciesKey, size: built.size, hash: built.hash, sdkVersion: built.sdkVersion,
        runtime: builtForMajor(node.major), nativeAddons: built.nativeAddons,
      }, run?.fence);
      say(`Rebuilt version ${version.version} for Node ${node.major} (${built.size} bytes)`);
      return rebuilt;
    } finally {
      rmSync(buildDir, { recursive: true, force: true });
    }
  }

  /** Builds run one at a time: they share the build account, its home and npm's cache. */
  private oneBuildAtATime<T>(build: () => Promise<T>): Promise<T> {
    const run = this.building.then(build, build);
    this.building = run.catch(() => {});
    return run;
  }

  private async recordError(environmentId: string, err: unknown, fence: Fence): Promise<void> {
    try {
      await this.deps.store.services.updateEnvironment(environmentId, { lastError: describeFailure(err) }, fence);
    } catch { /* deleted meanwhile, or another node holds the job now */ }
  }

  private async environment(id: string): Promise<EnvironmentRow> {
    const env = await this.deps.store.services.getEnvironment(id);
    if (!env) throw new FlexdError('ServiceEnvironmentNotFound', 'The service environment was deleted.', { status: 404 });
    return env;
  }
}

/** What a deploy job keeps for a node that retakes it (besides the upload, in job_uploads). */
interface DeployRetake {
  envVars?: Record<string, string>; runtime?: string | null; version?: string; versionOverride?: string; autoVersion?: boolean;
  /** a deploy from a folder (the embedding API): its path, read again by the retaker */
  sourceDir?: string;
}

/** Drops stored dependency trees no version has used for a while. */
async function pruneTrees(store: Store): Promise<void> {
  try {
    await store.dependencyTrees.prune(new Date(Date.now() - UNUSED_DEPENDENCY_TREE_KEEP_MS).toISOString());
  } catch { /* a full or closed database: the next deploy tries again */ }
}

/** Files readable (and folders enterable) by every account: the build account packs this copy. */
function readableByAll(dir: string): void {
  chmodSync(dir, 0o755);
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) readableByAll(path);
    else if (entry.isFile()) chmodSync(path, lstatSync(path).mode & 0o111 ? 0o755 : 0o644);
  }
}
