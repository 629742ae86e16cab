import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import * as tar from 'tar';
import { dirname, join } from 'node:path';
import { resolveSettings, type Settings } from '../config.ts';
import type { EventBus } from '../events/bus.ts';
import type { Logger } from '../logger.ts';
import { parseLogLine } from '../logs/threshold.ts';
import type { LogWriter } from '../logs/writer.ts';
import { newContainerId } from '../store/ids.ts';
import type { EnvironmentRow, Store, VersionRow } from '../store/index.ts';
import { ARTIFACT_BUNDLE } from '../deploy/artifact.ts';
import { buildChildEntry } from './child-entry.ts';
import { notDeployed, shuttingDown } from './errors.ts';
import { Pool, type DispatchResult, type Generation } from './pool.ts';
import { Replica } from './replica.ts';
import { replicaEnvironment } from './replica-env.ts';
import { nodeForRuntime } from './runtimes.ts';
import { makeReplicaDir, prepareSandbox, type Sandbox } from './sandbox.ts';

export type { DispatchResult } from './pool.ts';

export interface SupervisorDeps {
  dataDir: string;
  settings: Settings;
  store: Store;
  logs: LogWriter;
  /** Node executables for runtime names beyond flex-runtime-node6…12 (which run on this Node). */
  runtimes?: Record<string, string>;
  /** where pools report swaps, exits, idling and suspensions (server log, metrics) */
  events?: EventBus;
  /** flexd's own log (src/logger.ts) */
  log?: Logger;
}

/**
 * Owns every environment's pool of replicas: starts them from stored artifacts, routes tasks
 * to them, and stops them. The supervisor never reads an upload directory: replicas run from
 * the artifact written out of SQLite (`<dataDir>/artifacts/<hash>.js`).
 */
export class Supervisor {
  private readonly pools = new Map<string, Pool>();
  private closed = false;
  private readonly childEntry: string;
  private readonly sandbox: Sandbox;
  private readonly artifactsDir: string;
  private readonly replicasDir: string;
  /** Live replicas by environment, and the environments whose output the log writer asked to hold. */
  private readonly replicasOf = new Map<string, Set<Replica>>();
  private readonly heldBack = new Set<string>();

  constructor(private readonly deps: SupervisorDeps) {
    // A flooding environment waits at its own pipe instead of piling lines up in flexd (logs/writer.ts).
    deps.logs.onBacklog((environmentId, behind) => {
      if (behind) this.heldBack.add(environmentId);
      else this.heldBack.delete(environmentId);
      for (const replica of this.replicasOf.get(environmentId) ?? []) replica.holdOutput(behind);
    });
    this.sandbox = prepareSandbox(deps.dataDir, deps.log);
    this.childEntry = buildChildEntry(this.sandbox.runDir);
    this.artifactsDir = join(this.sandbox.runDir, 'artifacts');
    this.replicasDir = join(this.sandbox.runDir, 'replicas');
    rmSync(this.replicasDir, { recursive: true, force: true });
    mkdirSync(this.artifactsDir, { recursive: true });
    mkdirSync(this.replicasDir, { recursive: true });
    this.pruneArtifacts();
  }

  /**
   * Unpacked artifacts are a cache of what SQLite holds: drop half-unpacked ones (flexd died
   * while unpacking) and those of versions no longer stored (deleted services, failed deploys).
   */
  private pruneArtifacts(): void {
    const stored = new Set(this.deps.store.versions.hashes());
    for (const name of readdirSync(this.artifactsDir)) {
      if (name.includes('.tmp-') || !stored.has(name)) rmSync(join(this.artifactsDir, name), { recursive: true, force: true });
    }
  }

  /** The settings an environment runs with: the runtime's, overridden by its own. */
  settingsFor(env: EnvironmentRow): Settings {
    return resolveSettings({ ...this.deps.settings, ...env.settings }) as Settings;
  }

  pool(environmentId: string): Pool | undefined {
    return this.pools.get(environmentId);
  }

  /** Swaps the environment to `version` with its current variables. Rejects (StartError) if the new replicas cannot start. */
  async activate(env: EnvironmentRow, version: VersionRow): Promise<void> {
    // After close, a deploy still in flight must not start replicas nobody will stop.
    if (this.closed) throw shuttingDown('flexd');
    const settings = this.settingsFor(env);
    const generation: Generation = {
      versionId: version.id,
      version: version.version,
      bundlePath: this.writeArtifact(version),
      env: replicaEnvironment(env),
    };
    let pool = this.pools.get(env.id);
    if (!pool) {
      pool = this.createPool(env, settings);
      this.pools.set(env.id, pool);
    } else {
      pool.updateSettings(settings);
    }
    await pool.activate(generation);
  }

  async dispatch(environmentId: string, task: Record<string, unknown>): Promise<DispatchResult> {
    if (this.closed) throw shuttingDown('flexd');
    const pool = this.pools.get(environmentId);
    if (!pool) throw notDeployed();
    return pool.dispatch(task);
  }

  async remove(environmentId: string): Promise<void> {
    const pool = this.pools.get(environmentId);
    this.pools.delete(environmentId);
    await pool?.close();
  }

  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(all.map((p) => p.close()));
  }

  private createPool(env: EnvironmentRow, settings: Settings): Pool {
    const environmentId = env.id;
    return new Pool(settings, {
      spawn: (generation, s) => this.spawn(environmentId, generation, s),
      note: (containerId, message, threshold = 'info') => this.deps.logs.note(environmentId, containerId || 'flexd', `[flexd] ${message}`, threshold),
      suspended: (reason) => {
        try {
          this.deps.store.services.updateEnvironment(environmentId, { suspendedReason: reason });
        } catch { /* the environment was deleted meanwhile */ }
      },
      event: (e) => this.deps.events?.emit({ ...e, environmentId }),
    });
  }

  private spawn(environmentId: string, generation: Generation, settings: Settings): Replica {
    const env = this.deps.store.services.getEnvironment(environmentId);
    const containerId = newContainerId();
    const cwd = join(this.replicasDir, containerId);
    makeReplicaDir(cwd, this.sandbox);
    const replica = new Replica({
      containerId,
      version: generation.version,
      nodePath: nodeForRuntime(env?.runtime ?? null, this.deps.runtimes),
      childEntry: this.childEntry,
      bundlePath: generation.bundlePath,
      cwd,
      env: { ...generation.env, HOME: cwd, TMPDIR: cwd },
      memoryLimitMb: settings.memoryLimitMb,
      readyTimeoutMs: settings.readyTimeoutMs,
      startupTailLines: settings.startupTailLines,
      strictRejections: settings.strictUnhandledRejections,
      permissions: settings.permissionModel
        ? { read: [dirname(generation.bundlePath), this.childEntry], write: [cwd] }
        : undefined,
      uid: this.sandbox.uid,
      gid: this.sandbox.gid,
    });
    replica.on('line', (_stream: string, line: string) => {
      const { threshold, message } = parseLogLine(line);
      this.deps.logs.write({ environmentId, containerId, timestamp: new Date().toISOString(), threshold, message });
    });
    let live = this.replicasOf.get(environmentId);
    if (!live) this.replicasOf.set(environmentId, (live = new Set()));
    live.add(replica);
    if (this.heldBack.has(environmentId)) replica.holdOutput(true);
    replica.once('exit', () => {
      live.delete(replica);
      if (live.size === 0 && this.replicasOf.get(environmentId) === live) this.replicasOf.delete(environmentId);
      rmSync(cwd, { recursive: true, force: true });
    });
    return replica;
  }

  /** Unpacks the stored artifact to `<dataDir>/artifacts/<hash>/` once; replicas of that version share it. */
  private writeArtifact(version: VersionRow): string {
    const dir = join(this.artifactsDir, version.hash);
    if (!existsSync(dir)) {
      const staging = `${dir}.tmp-${process.pid}`;
      rmSync(staging, { recursive: true, force: true });
      mkdirSync(staging, { recursive: true });
      // Our own artifact, written by deploy/bundle.ts: a small gzip'ed tar, unpacked synchronously.
      const archive = join(staging, '.artifact.tgz');
      writeFileSync(archive, this.deps.store.versions.bundle(version.id));
      tar.extract({ file: archive, cwd: staging, sync: true, strict: true });
      rmSync(archive);
      renameSync(staging, dir);
    }
    return join(dir, ARTIFACT_BUNDLE);
  }
}
